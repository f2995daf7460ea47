"""evalsys: teaching-quality evaluation feedback for universities."""

from __future__ import annotations

import os
from importlib import resources
from importlib.resources.abc import Traversable
from pathlib import Path
from typing import Any

from flask import Flask

from evalsys.config import DEFAULT_SECRET_KEY, Defaults, InsecureSecretKey, env_overrides

#: The folder that holds the package: the checkout itself when running from one (with
#: ``templates/`` and ``migrations/`` beside ``evalsys/``), site-packages when installed.
ROOT = Path(__file__).resolve().parent.parent


def _is_checkout(folder: Path) -> bool:
    pyproject = folder / "pyproject.toml"
    return pyproject.is_file() and 'name = "evalsys"' in pyproject.read_text(encoding="utf-8")


#: Running from a source checkout (directly or through an editable install), not a wheel.
FROM_CHECKOUT = _is_checkout(ROOT)


def resource_folder(name: str) -> Path:
    """``templates`` or ``migrations`` as a real folder on disk, from a checkout or a wheel.

    In a checkout (and an editable install, which imports the package from it) the
    folder is the checkout's own, beside the package: an edited template shows on the
    next request (Flask's auto-reload), a new migration is found at once. This comes
    first on purpose: the import system could also find the folder through an editable
    install's finder, but that may belong to another checkout of the same environment
    (a worktree run with the main checkout's virtualenv).

    An installed wheel carries the folder as ``evalsys/_<name>`` (pyproject.toml maps it
    there), found with :mod:`importlib.resources`. ``files("evalsys") / "_<name>"``
    rather than ``files("evalsys._<name>")``: the folder has no ``__init__.py``, so the
    latter is a namespace package whose files() is a MultiplexedPath, which neither
    Jinja's loader nor Alembic take. pip installs a wheel as plain files, so this is a
    real directory, as Alembic's ``script_location`` and Jinja's FileSystemLoader need;
    a zipped install (zipimport) has none and is refused here with a clear error.
    """
    found: Traversable = ROOT / name if FROM_CHECKOUT else resources.files("evalsys") / f"_{name}"
    if not isinstance(found, Path) or not found.is_dir():
        raise RuntimeError(
            f"evalsys: no {name}/ folder at {found}; run from a checkout or install the "
            "wheel as files (pip install), not zipped"
        )
    return found


def create_app(test_config: dict[str, Any] | None = None, *, serving: bool = True) -> Flask:
    """Build the app: config, instance folder, database, login, CSRF, blueprints.

    Nothing here starts threads or schedulers: web workers stay plain, and the
    scheduler runs as its own process (``evalsys scheduler``). ``serving=False``
    is for CLI commands, which sign no cookies and so may run before a secret
    key exists (``evalsys init-db`` on a fresh machine); ``evalsys run`` checks again.
    """
    overrides = dict(test_config or {})
    app = Flask(
        __name__,
        instance_relative_config=True,
        # Tests and several sites on one machine each keep their own instance folder.
        instance_path=overrides.pop("INSTANCE_PATH", None)
        or os.environ.get("EVALSYS_INSTANCE_PATH"),
        template_folder=str(resource_folder("templates")),
        static_folder="static",
    )
    app.config.from_object(Defaults)
    if test_config is None:
        app.config.from_pyfile("config.py", silent=True)
        app.config.update(env_overrides())
    else:
        app.config.update(overrides)
    from evalsys.accounts import signin
    from evalsys.clock import site_zone

    site_zone(app.config)  # a misnamed SCHEDULER_TIMEZONE stops the start, not the first page
    signin.check_settings(app.config)  # likewise a PASSWORD_LOGIN that is not on/admins/off
    from evalsys.org.timetable import period_times

    period_times(app.config)  # and CLASS_PERIOD_TIMES that cannot be read

    os.makedirs(app.instance_path, exist_ok=True)
    if not app.config.get("DATABASE_URL"):
        app.config["DATABASE_URL"] = "sqlite:///" + os.path.join(
            app.instance_path, "evalsys.sqlite3"
        )
    if serving:
        refuse_default_secret(app)

    # Every table mapped, and every listener of evalsys.signals connected, before the first
    # request, command or job changes a record (see evalsys.models).
    from evalsys import db, models  # noqa: F401

    db.init_app(app)

    from evalsys import web

    web.init_app(app)
    install_proxy_fix(app)
    return app


def install_proxy_fix(app: Flask) -> None:
    """Trust X-Forwarded-* headers only as far as configured (PROXY_FIX_X_*; all 0 by default)."""
    counts = {
        name: int(app.config.get(f"PROXY_FIX_X_{name.upper()}") or 0)
        for name in ("for", "proto", "host", "port", "prefix")
    }
    if any(counts.values()):
        from werkzeug.middleware.proxy_fix import ProxyFix

        # Ignored below: Flask's documented way to wrap the WSGI app.
        app.wsgi_app = ProxyFix(  # type: ignore[method-assign]
            app.wsgi_app,
            x_for=counts["for"],
            x_proto=counts["proto"],
            x_host=counts["host"],
            x_port=counts["port"],
            x_prefix=counts["prefix"],
        )


def refuse_default_secret(app: Flask) -> None:
    if app.debug or app.testing:
        return
    if app.config.get("SECRET_KEY") in (None, "", DEFAULT_SECRET_KEY):
        raise InsecureSecretKey(
            "evalsys: refusing to start with the default SECRET_KEY; set EVALSYS_SECRET_KEY "
            "or SECRET_KEY in instance/config.py (`evalsys make-config` writes a random one)."
        )
