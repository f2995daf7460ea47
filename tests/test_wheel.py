"""The built wheel is the product: installed on its own, it serves a working site.

A wheel is built from a copy of the checkout (as `pip wheel` or a release would),
installed into a fresh virtualenv with ``--no-deps``, and run from an empty
folder with an empty instance folder: `make-config`, `init-db`, `demo`, then
gunicorn. Nothing of the checkout is importable there; the dependencies come from
the test's own environment through a ``.pth`` line (its ``site-packages`` on the
path, its ``.pth`` files — the editable install of the checkout among them — not
run), so nothing is downloaded but the build backend (setuptools, as any
``pip wheel`` fetches it). An editable install (what .ci/setup does) is checked
the same way: it must read the checkout's templates, and pick up an edit to one.

Those tests are slow-ish (one to two minutes together): select them with ``-m wheel``,
leave them out with ``-m "not wheel"``. The quick tests at the end check how an install
gets its compiled catalogues (the ``.mo`` files are never shipped).
"""

from __future__ import annotations

import http.client
import http.cookies
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import sysconfig
import time
import zipfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from urllib.parse import urlencode

import pytest
from click.testing import CliRunner

from evalsys.i18n import catalog

CHECKOUT = Path(__file__).resolve().parents[1]
#: Left out of the copy the wheel is built from: not inputs, and build/ would leak stale files.
NOT_SOURCES = shutil.ignore_patterns(
    ".git",
    ".venv",
    "build",
    "dist",
    "*.egg-info",
    "__pycache__",
    "instance",
    "tests",
    "bench",
    "test-artifacts",
    ".*_cache",
    "*.mo",
    "*.tmp",
)


def run(args: list[str], *, cwd: Path, env: dict[str, str] | None = None, timeout: int = 300):
    done = subprocess.run(
        args, cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout, check=False
    )
    assert done.returncode == 0, f"{args} failed ({done.returncode}):\n{done.stdout}\n{done.stderr}"
    return done


def fresh_venv(path: Path) -> Path:
    """A virtualenv without the checkout, whose dependencies are this environment's."""
    run([sys.executable, "-m", "venv", "--without-pip", str(path)], cwd=path.parent)
    python = path / "bin" / "python"
    return python


def lend_dependencies(python: Path) -> None:
    """Put this environment's site-packages on ``python``'s path, after its own.

    A plain path line: Python does not run the ``.pth`` files of a folder added
    this way, so the checkout's editable-install finder stays out.
    """
    own = run(
        [str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
        cwd=python.parent,
    ).stdout.strip()
    ours = {sysconfig.get_paths()["purelib"], sysconfig.get_paths()["platlib"]}
    Path(own, "_evalsys_test_dependencies.pth").write_text("\n".join(sorted(ours)) + "\n")


def clean_env(**extra: str) -> dict[str, str]:
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("EVALSYS_", "PYTHON", "VIRTUAL_ENV", "FLASK_"))
    }
    env.update(extra)
    return env


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def get(port: int, path: str, headers: dict[str, str] | None = None, body: bytes | None = None):
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    try:
        conn.request("POST" if body is not None else "GET", path, body=body, headers=headers or {})
        response = conn.getresponse()
        return response.status, response.msg, response.read().decode("utf-8", "replace")
    finally:
        conn.close()


def cookies(headers) -> str:
    """The cookies a response set, as a Cookie header to send back."""
    jar = http.cookies.SimpleCookie()
    for line in headers.get_all("Set-Cookie") or []:
        jar.load(line)
    return "; ".join(f"{k}={v.value}" for k, v in jar.items())


@contextmanager
def gunicorn(python: Path, *, cwd: Path, env: dict[str, str], log: Path) -> Iterator[int]:
    """``gunicorn -w 2 'evalsys:create_app()'`` as docs/deploy.md runs it."""
    port = free_port()
    args = [str(python), "-m", "gunicorn", "--workers", "2", "--bind", f"127.0.0.1:{port}"]
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [*args, "--graceful-timeout", "5", "evalsys:create_app()"],
            cwd=cwd,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
        try:
            deadline = time.monotonic() + 60
            while True:
                assert proc.poll() is None, log.read_text()
                try:
                    if get(port, "/healthz")[0] == 200:
                        break
                except OSError:
                    pass
                assert time.monotonic() < deadline, "no answer from gunicorn\n" + log.read_text()
                time.sleep(0.2)
            yield port
        finally:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


@pytest.fixture(scope="module")
def source(tmp_path_factory) -> Path:
    """A copy of the checkout's sources: the build leaves build/ and *.egg-info behind."""
    copy = tmp_path_factory.mktemp("src") / "evalsys-src"
    shutil.copytree(CHECKOUT, copy, ignore=NOT_SOURCES)
    return copy


@pytest.fixture(scope="module")
def wheel(source, tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("dist")
    run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", str(out), str(source)],
        cwd=out,
    )
    (built,) = out.glob("evalsys-*.whl")
    return built


@pytest.mark.wheel
def test_the_wheel_carries_everything_a_site_reads(wheel):
    names = set(zipfile.ZipFile(wheel).namelist())

    def expected(folder: Path, inside: str) -> set[str]:
        return {
            f"{inside}/{p.relative_to(folder).as_posix()}"
            for p in folder.rglob("*")
            if p.is_file()
            and "__pycache__" not in p.parts
            and p.suffix not in (".mo", ".tmp")
            and p.name != ".gitignore"
        }

    package = CHECKOUT / "evalsys"
    wanted = {
        "templates": expected(CHECKOUT / "templates", "evalsys/_templates"),
        "migrations": expected(CHECKOUT / "migrations", "evalsys/_migrations"),
        # Every module: the package list in pyproject.toml is written out by hand.
        "modules": {n for n in expected(package, "evalsys") if n.endswith(".py")},
        "static files": expected(package / "static", "evalsys/static"),
        "default rubrics": expected(
            package / "feedback/default_rubrics", "evalsys/feedback/default_rubrics"
        ),
        "report assets": expected(package / "reports/assets", "evalsys/reports/assets"),
        "catalogues": expected(package / "translations", "evalsys/translations"),
        # The password policy refuses these (evalsys/accounts/policy.py).
        "common passwords": {"evalsys/accounts/common-passwords.txt"},
        # The dictionary of teaching themes (evalsys/themes/dictionary.py).
        "theme dictionary": {"evalsys/themes/themes.toml"},
    }
    for what, files in wanted.items():
        assert files, f"nothing found in the checkout for {what}"
        assert files <= names, f"{what} missing from the wheel: {sorted(files - names)}"
    assert "evalsys/_templates/accounts/login.html" in names
    assert "evalsys/_migrations/env.py" in names
    assert any(n.startswith("evalsys/_migrations/versions/") for n in names)
    assert "evalsys/translations/zh/LC_MESSAGES/messages.po" in names
    # .mo files are built from the shipped .po at start-up (see evalsys/i18n/catalog.py):
    # one left over in a developer's tree could be stale and is never shipped.
    assert not [n for n in names if n.endswith((".mo", ".tmp"))]
    # Nothing top-level but the package: no stray templates/ in site-packages.
    assert {n.split("/")[0] for n in names} == {
        "evalsys",
        wheel.name.split("-py3")[0] + ".dist-info",
    }


@pytest.mark.wheel
def test_an_installed_wheel_serves_the_site_in_both_languages(wheel, tmp_path):
    python = fresh_venv(tmp_path / "venv")
    # Installed before the dependencies are lent: pip then sees no other evalsys.
    run(
        [
            sys.executable,
            "-m",
            "pip",
            "--python",
            str(python),
            "install",
            "-q",
            "--no-deps",
            "--no-index",
            str(wheel),
        ],
        cwd=tmp_path,
    )
    lend_dependencies(python)
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    instance = tmp_path / "instance"
    env = clean_env(EVALSYS_INSTANCE_PATH=str(instance))

    probe = "import evalsys, sys; print(evalsys.__file__); print(*sys.path, sep='\\n')"
    where = run([str(python), "-c", probe], cwd=elsewhere, env=env).stdout.splitlines()
    assert Path(where[0]).is_relative_to(tmp_path / "venv"), where
    on_path = {Path(p).resolve() for p in where[1:] if p}
    assert CHECKOUT not in on_path, "the checkout is on the installed site's path"

    evalsys_cli = [str(tmp_path / "venv" / "bin" / "evalsys")]  # the installed command
    run([*evalsys_cli, "make-config"], cwd=elsewhere, env=env)
    assert "upgraded from empty" in run([*evalsys_cli, "init-db"], cwd=elsewhere, env=env).stdout
    demo = run([*evalsys_cli, "demo"], cwd=elsewhere, env=env, timeout=600).stdout
    password = re.search(r"Password for every demo account: (\S+)", demo).group(1)

    with gunicorn(python, cwd=elsewhere, env=env, log=tmp_path / "gunicorn.log") as port:
        status, _, page = get(port, "/login", {"Accept-Language": "en"})
        assert status == 200, page
        assert 'name="password"' in page and 'name="csrf_token"' in page
        assert "Log in" in page

        status, headers, page = get(port, "/login", {"Accept-Language": "zh-CN,zh;q=0.9"})
        assert status == 200, page
        assert "登录" in page and "用户名" in page and "密码" in page, page
        assert "Log in" not in page

        # A signed-in page: more templates, the static files, data from the demo.
        cookie = cookies(headers)
        token = re.search(r'name="csrf_token"[^>]*value="([^"]+)"', page).group(1)
        body = urlencode({"csrf_token": token, "username": "admin", "password": password})
        status, headers, page = get(
            port,
            "/login",
            {"Content-Type": "application/x-www-form-urlencoded", "Cookie": cookie},
            body.encode(),
        )
        assert status == 302 and "/login" not in headers["Location"], page
        cookie = cookies(headers)
        status, _, page = get(port, "/", {"Cookie": cookie, "Accept-Language": "zh"})
        assert status == 200, page
        assert "教务处管理员" in page  # the demo admin, by name
        assert "退出登录" in page and "数据状况" in page and "Log out" not in page
        status, _, css = get(port, "/static/evalsys.css")
        assert status == 200 and css.strip()

    # The catalogue was compiled into the instance folder, not into site-packages.
    assert (instance / "translations" / "zh" / "LC_MESSAGES" / "messages.mo").is_file()
    assert not list((tmp_path / "venv").rglob("*.mo"))


RELOAD_PROBE = """
import sys
from evalsys import create_app, migrate
app = create_app({"TESTING": True, "INSTANCE_PATH": sys.argv[1], "TEMPLATES_AUTO_RELOAD": True})
print(app.jinja_loader.searchpath[0])
print(migrate.MIGRATIONS)
client = app.test_client()
before = client.get("/login", headers={"Accept-Language": "en"}).get_data(as_text=True)
template = app.jinja_loader.searchpath[0] + "/accounts/login.html"
with open(template, encoding="utf-8") as handle:
    text = handle.read()
with open(template, "w", encoding="utf-8") as handle:
    handle.write(text.replace("<form ", "<p>edited-in-place</p><form ", 1))
after = client.get("/login", headers={"Accept-Language": "en"}).get_data(as_text=True)
print("edited-in-place" not in before, "edited-in-place" in after)
"""


@pytest.mark.wheel
def test_an_editable_install_reads_the_checkouts_templates_and_reloads_them(source, tmp_path):
    python = fresh_venv(tmp_path / "venv")
    run(
        [
            sys.executable,
            "-m",
            "pip",
            "--python",
            str(python),
            "install",
            "-q",
            "--no-deps",
            "-e",
            str(source),
        ],
        cwd=tmp_path,
    )
    lend_dependencies(python)
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    out = run(
        [str(python), "-c", RELOAD_PROBE, str(tmp_path / "instance")],
        cwd=elsewhere,
        env=clean_env(),
    ).stdout.split("\n")
    assert out[0] == str(source / "templates")
    assert out[1] == str(source / "migrations")
    assert out[2] == "True True", "an edited template was not reloaded"


# --- the catalogues of an install, quickly -----------------------------------------------------


@pytest.fixture
def po_copy(tmp_path, monkeypatch) -> Path:
    """The Chinese .po in a folder of its own, standing for the package's translations/."""
    folder = tmp_path / "package" / "translations"
    (folder / "zh" / "LC_MESSAGES").mkdir(parents=True)
    shutil.copy(catalog.TRANSLATIONS / "zh/LC_MESSAGES/messages.po", folder / "zh/LC_MESSAGES")
    monkeypatch.setattr(catalog, "TRANSLATIONS", folder)
    return folder


def translate(mo: Path, text: str) -> str:
    import gettext

    with mo.open("rb") as handle:
        return gettext.GNUTranslations(handle).gettext(text)


def test_a_mo_from_other_po_content_is_compiled_again_whatever_the_file_times(po_copy):
    """pip writes every file of a wheel with the install's time: times say nothing of content."""
    catalog.ensure_compiled()
    mo = catalog.mo_path("zh")
    assert translate(mo, "Log in") == "登录"
    po = po_copy / "zh/LC_MESSAGES/messages.po"
    po.write_text(
        po.read_text().replace('msgid "Log in"\nmsgstr "登录"', 'msgid "Log in"\nmsgstr "登入"')
    )
    os.utime(po, (1_000_000_000, 1_000_000_000))  # the .po looks years older than the .mo
    assert catalog.stale_locales() == ["zh"]
    assert catalog.ensure_compiled() == po_copy
    assert translate(mo, "Log in") == "登入"
    assert catalog.stale_locales() == []


def test_an_installed_package_compiles_into_the_instance_folder(po_copy, tmp_path, monkeypatch):
    monkeypatch.setattr(catalog, "FROM_CHECKOUT", False)
    served = catalog.ensure_compiled(instance_path=tmp_path / "instance")
    assert served == tmp_path / "instance" / "translations"
    assert translate(catalog.mo_path("zh", served), "Log in") == "登录"
    assert not list(po_copy.rglob("*.mo")), "site-packages is left as pip wrote it"


def test_a_checkout_that_cannot_be_written_falls_back_to_the_instance_folder(po_copy, tmp_path):
    # A folder where the .mo should go: the rename fails as on a read-only file system
    # (chmod would not stop root, who runs these tests in CI).
    (po_copy / "zh/LC_MESSAGES/messages.mo").mkdir()
    (po_copy / "zh/LC_MESSAGES/messages.mo/x").touch()
    served = catalog.ensure_compiled(instance_path=tmp_path / "instance")
    assert served == tmp_path / "instance" / "translations"
    assert translate(catalog.mo_path("zh", served), "Log in") == "登录"
    assert not list(po_copy.rglob("*.tmp")), "a failed compile leaves no temporary file"


def test_extraction_needs_a_checkout_and_says_so(monkeypatch, tmp_path):
    from evalsys.cli import main

    monkeypatch.setattr(catalog, "FROM_CHECKOUT", False)
    with pytest.raises(catalog.CatalogError, match="checkout"):
        catalog.extract()
    out = tmp_path / "missing.po"
    out.write_text("kept")
    result = CliRunner().invoke(main, ["translations", "missing", "-o", str(out)])
    assert result.exit_code == 1 and "run this in a checkout" in result.output
    assert out.read_text() == "kept"
