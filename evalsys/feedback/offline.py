"""The installable web app: its manifest and its service worker, served from the site's root.

A service worker controls the pages under the path it is served from, so
``/sw.js`` (the script ``static/sw.js``) is served here at the root to cover the
form pages (``/feedback/...``) and today's assignments (``/planner/``). Its
version is a digest of itself and the app shell it caches: a deploy that changes
any of them changes the script, the browser installs the new one, and it drops
the old caches. The manifest names the app in the reader's language.

What the worker keeps and why is in ``static/sw.js``; how the form uses it
(``static/form.js``) in ``docs/feedback.md``.
"""

from __future__ import annotations

import hashlib
import json
from functools import lru_cache
from pathlib import Path
from typing import Any

from flask import Response, current_app, url_for
from flask_babel import gettext as _
from sqlmodel import Session

from evalsys.accounts.access import public
from evalsys.accounts.models import User
from evalsys.feedback.blueprint import bp
from evalsys.feedback.choices import submittable_kinds

STATIC = Path(__file__).resolve().parents[1] / "static"

#: The app shell: what every page needs, cached when the worker installs.
SHELL = (
    "vendor/pico-2.1.1/pico.min.css",
    "evalsys.css",
    "evalsys.js",
    "form.css",
    "form.js",
    "icons/icon-192.png",
    "icons/icon-512.png",
)


def offline_pages(session: Session, user: User) -> list[str]:
    """The pages a user's device keeps for use without network: their new forms (on the
    current rubrics) and their assignments. Only the user's own pages, fetched with
    their session; the worker drops them when another user signs in or on logout."""
    pages = [url_for("feedback.new", kind=kind) for kind in submittable_kinds(session, user=user)]
    if "planner.mine" in current_app.view_functions:
        pages.append(url_for("planner.mine"))
    return pages


@lru_cache(maxsize=4)
def _worker_source(static_url: str) -> str:
    script = (STATIC / "sw.js").read_text(encoding="utf-8")
    digest = hashlib.sha256(script.encode())
    for name in SHELL:
        digest.update((STATIC / name).read_bytes())
    shell = [static_url + name for name in SHELL]
    return script.replace('"__VERSION__"', json.dumps(digest.hexdigest()[:12])).replace(
        '"__SHELL__"', json.dumps(shell)
    )


@public
def worker() -> Response:
    source = _worker_source(url_for("static", filename=""))
    response = Response(source, mimetype="text/javascript")
    # Browsers check for a new worker at most daily anyway; never serve a stale one.
    response.headers["Cache-Control"] = "no-cache"
    return response


@public
def manifest() -> Response:
    body: dict[str, Any] = {
        "name": _("evalsys — teaching-quality feedback"),
        "short_name": "evalsys",
        "description": _("Record class visits, even without network."),
        "start_url": url_for("home.index"),
        "scope": url_for("home.index"),
        "display": "standalone",
        "background_color": "#ffffff",
        "theme_color": "#0172ad",
        "icons": [
            {
                "src": url_for("static", filename=f"icons/icon-{size}.png"),
                "sizes": f"{size}x{size}",
                "type": "image/png",
            }
            for size in (192, 512)
        ],
    }
    response = Response(json.dumps(body, ensure_ascii=False), mimetype="application/manifest+json")
    response.headers["Cache-Control"] = "no-cache"
    response.headers["Vary"] = "Cookie, Accept-Language"
    return response


@bp.record_once
def _at_the_root(state: Any) -> None:
    """Both live at the root (a worker's scope is the path it is served from)."""
    state.app.add_url_rule("/sw.js", "offline_worker", worker)
    state.app.add_url_rule("/manifest.webmanifest", "offline_manifest", manifest)
