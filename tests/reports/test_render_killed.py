"""The report renderer killed with SIGKILL: its workers die with it, files and rows agree.

Real processes, real WeasyPrint: ``python -m evalsys.cli report`` is killed — the parent
alone, then its whole process group — while it renders; a renderer is killed at the one
step where file and row part ways (after the commit, before the rename); a process
writing one large file is killed in the middle of the write. After each: no process of
the run is left, every PDF on disk is whole and is the file its newest row describes
(or that row's part is there for the next run to install), and the next run, or the next
download, leaves them agreeing with no temporary file left.
"""

from __future__ import annotations

import hashlib
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from pypdf import PdfReader
from sqlmodel import col, func, select

from evalsys import ROOT
from evalsys.accounts.models import AuditEvent
from evalsys.org.models import OrgUnit
from evalsys.reports import render
from evalsys.reports.models import Report
from tests.reports.test_cli_and_views import TERM


def _env(app, tmp_path: Path) -> dict[str, str]:
    env = dict(os.environ)
    env.update(
        EVALSYS_DATABASE_URL=app.config["DATABASE_URL"],
        EVALSYS_INSTANCE_PATH=str(tmp_path / "instance-cli"),
        PYTHONPATH=str(ROOT),
    )
    return env


def _report(app, tmp_path: Path, *args: str) -> subprocess.Popen:
    """``evalsys report`` in a process group of its own (its workers join it); what it
    prints goes to a log beside the test's files, shown if it ends too soon."""
    log = tmp_path / f"report-{len(list(tmp_path.glob('report-*.log')))}.log"
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "evalsys.cli", "report", "--term", TERM, *args],
            env=_env(app, tmp_path),
            cwd=ROOT,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    proc.log = log  # type: ignore[attr-defined]
    return proc


def _group(pgid: int) -> list[int]:
    """The live processes of a process group (a zombie counts as dead)."""
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except (FileNotFoundError, ProcessLookupError):
            continue
        if int(fields[2]) == pgid and fields[0] != "Z":
            found.append(int(stat.parent.name))
    return found


def _left_after(pgid: int, seconds: float = 5) -> list[int]:
    deadline = time.monotonic() + seconds
    while (left := _group(pgid)) and time.monotonic() < deadline:
        time.sleep(0.05)
    for pid in left:  # a failing test leaves no orphan rendering on
        os.kill(pid, signal.SIGKILL)
    return left


def _until(proc: subprocess.Popen, ready, what: str, seconds: float = 180) -> None:
    deadline = time.monotonic() + seconds
    while not ready():
        if proc.poll() is not None:
            printed = proc.log.read_text(errors="replace")[-3000:]  # type: ignore[attr-defined]
            raise AssertionError(f"the report run ended before {what}:\n{printed}")
        assert time.monotonic() < deadline, f"{what}: not in time"
        time.sleep(0.005)


def _rows(session) -> int:
    session.rollback()
    return session.exec(select(func.count()).select_from(Report)).one()


def _newest(session, path: Path) -> Report | None:
    return session.exec(
        select(Report).where(Report.path == str(path)).order_by(col(Report.id).desc()).limit(1)
    ).first()


def _sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _complete_pdf(path: Path) -> int:
    data = path.read_bytes()
    assert data.startswith(b"%PDF") and data.rstrip().endswith(b"%%EOF"), path
    return len(PdfReader(path).pages)


def _visible(directory: Path) -> list[Path]:
    return sorted(p for p in directory.iterdir() if not p.name.startswith("."))


def _agree(session, directory: Path, *, settled: bool) -> None:
    """Every PDF is whole and is what its newest row says — or, before the next run
    (``settled`` False), that row's part is there, whole, for the next run to install."""
    session.rollback()
    for pdf in _visible(directory):
        assert pdf.suffix == ".pdf", pdf
        row = _newest(session, pdf.resolve())
        assert row is not None, f"{pdf.name}: a file no row knows"
        if _sha(pdf) != row.sha256:
            assert not settled, f"{pdf.name}: not the file its newest row describes"
            parts = list(directory.glob(f".{pdf.name}.{row.sha256[:16]}.*.part"))
            assert any(_sha(p) == row.sha256 for p in parts), f"{pdf.name}: row without file"
        assert _complete_pdf(pdf) >= 1
    newest = session.exec(select(func.max(Report.id)).group_by(Report.path)).all()
    for row in session.exec(select(Report).where(col(Report.id).in_(newest))).all():
        path = Path(row.path)
        if path.parent == directory.resolve() and settled:
            assert _sha(path) == row.sha256 and _complete_pdf(path) == row.pages
    if settled:
        assert not list(directory.glob(".*.part")), "a temporary file was left"


def _state(directory: Path, session) -> tuple:
    return sorted((p.name, _sha(p)) for p in directory.iterdir() if p.is_file()), _rows(session)


def test_a_killed_run_leaves_no_worker_and_files_that_agree_with_rows(
    aggregated, session, app, cli, tmp_path
):
    out = tmp_path / "out"
    term_dir = out / TERM
    # Two reports (one unit, two languages): small, yet a second to be busy with.
    args = ["--unit", "CS-SE", "--lang", "en", "--lang", "zh", "--out", str(out)]

    # 1. The parent alone, once the first PDF is there: its worker is on the second.
    proc = _report(app, tmp_path, *args, "--jobs", "1")
    try:
        _until(proc, lambda: term_dir.is_dir() and _visible(term_dir), "the first PDF")
        assert len(_group(proc.pid)) > 1, "no worker process seen"
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait()
    assert _left_after(proc.pid) == [], "worker processes outlived their parent"
    before = _state(term_dir, session)
    time.sleep(1)
    assert _state(term_dir, session) == before, "something went on writing after the kill"
    assert len(_visible(term_dir)) == 1
    _agree(session, term_dir, settled=False)

    # 2. The whole group, once a new row is in (--force: files replaced, rows added).
    rows = _rows(session)
    proc = _report(app, tmp_path, *args, "--jobs", "1", "--force")
    try:
        _until(proc, lambda: _rows(session) > rows, "a new row")
    finally:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
    assert _left_after(proc.pid) == []
    _agree(session, term_dir, settled=False)

    # 3. A part like one left by a writer killed mid-write; the next run finishes the work.
    stale = term_dir / ".CS-SE.en.pdf.0123456789abcdef.abc123.part"
    stale.write_bytes(b"%PDF-1.7 half")
    app.config["REPORT_TIMEOUT_SECONDS"] = 0  # no limit: rendered here, no worker to start
    result = cli("report", "--term", TERM, *args, "--jobs", "1")
    assert result.exit_code == 0, result.output
    assert "0 failed" in result.output
    assert [p.name for p in _visible(term_dir)] == ["CS-SE.en.pdf", "CS-SE.zh.pdf"]
    _agree(session, term_dir, settled=True)


#: A department: a short report, quick to render.
UNIT = "CS-SE"
KILL_AT_RENAME = """
import os, signal, sys
from pathlib import Path
from sqlmodel import Session
from evalsys import create_app
from evalsys.db import get_engine
from evalsys.reports.render import render_unit

real_replace = os.replace

def replace(src, dst):
    if str(src).endswith(".part") and str(dst).endswith(".pdf"):
        os.kill(os.getpid(), signal.SIGKILL)  # the row is committed; the file not renamed
    return real_replace(src, dst)

os.replace = replace
app = create_app(serving=False)
term, unit, out = sys.argv[1:]
with Session(get_engine(app)) as session:
    render_unit(session, app, term_code=term, unit_code=unit, out_dir=Path(out))
"""


def _killed_at_rename(app, tmp_path: Path, session, out: Path, version: int) -> Report:
    """A new version of the unit's report, its renderer killed between commit and rename."""
    unit = session.exec(select(OrgUnit).where(OrgUnit.code == UNIT)).one()
    unit.name_en = f"Computing, version {version}"  # printed in the report: new bytes
    session.add(unit)
    session.commit()
    done = subprocess.run(
        [sys.executable, "-c", KILL_AT_RENAME, TERM, UNIT, str(out)],
        env=_env(app, tmp_path),
        cwd=ROOT,
        capture_output=True,
    )
    assert done.returncode == -signal.SIGKILL, done.stderr.decode()[-2000:]
    session.rollback()
    path = (out / TERM / f"{UNIT}.en.pdf").resolve()
    row = _newest(session, path)
    assert row is not None and _sha(path) != row.sha256, "not killed in the window"
    return row


def test_killed_between_recording_and_renaming_the_download_and_the_next_run_repair(
    aggregated, session, app, client, auth, factory, tmp_path
):
    out = tmp_path / "out"
    path = (out / TERM / f"{UNIT}.en.pdf").resolve()
    first = render.render_unit(session, app, term_code=TERM, unit_code=UNIT, out_dir=out)
    assert first.status == "rendered"

    # The download serves the recorded version, never the file left in place.
    row = _killed_at_rename(app, tmp_path, session, out, 2)
    factory.user("dean_cs", "dean@CS")
    auth.login("dean_cs")
    response = client.get(f"/reports/{TERM}/{UNIT}.pdf?lang=en")
    assert response.status_code == 200
    assert hashlib.sha256(response.data).hexdigest() == row.sha256
    response.close()
    session.rollback()
    event = session.exec(select(AuditEvent).where(AuditEvent.action == "report.download")).one()
    assert f"report {row.id} (en), sha256 {row.sha256[:16]}" in event.detail
    assert _newest(session, path).id == row.id  # installed, not rendered again
    _agree(session, out / TERM, settled=True)

    # The next run installs it too, and finds the report unchanged: nothing to render.
    row = _killed_at_rename(app, tmp_path, session, out, 3)
    [outcome] = render.render_units(
        app, term_code=TERM, unit_codes=[UNIT], out_dir=out, locales=["en"], in_process=True
    )
    assert (outcome.status, outcome.report_id) == ("unchanged", row.id)
    _agree(session, out / TERM, settled=True)


WRITER = """
import sys
from pathlib import Path
from evalsys.reports.store import write_atomically
write_atomically(Path(sys.argv[1]), b"%PDF-1.7\\n" + b"x" * (64 * 1024 * 1024) + b"\\n%%EOF\\n")
"""


def test_a_writer_killed_mid_write_leaves_the_previous_file(tmp_path):
    target = tmp_path / "TERM" / "CS.pdf"
    target.parent.mkdir()
    target.write_bytes(b"%PDF-1.7 previous version %%EOF")
    proc = subprocess.Popen(
        [sys.executable, "-c", WRITER, str(target)],
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        cwd=ROOT,
    )
    try:
        deadline = time.monotonic() + 60
        while not any(p.stat().st_size > 0 for p in target.parent.glob(".CS.pdf.*.part")):
            assert proc.poll() is None, "the writer finished before it could be killed"
            assert time.monotonic() < deadline
            time.sleep(0.001)
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait()
    assert proc.returncode == -signal.SIGKILL
    assert target.read_bytes() == b"%PDF-1.7 previous version %%EOF"
    assert _visible(target.parent) == [target]
