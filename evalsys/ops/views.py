"""``/healthz``: one cheap request that touches the database, for load balancers and benchmarks."""

from __future__ import annotations

from flask import Blueprint
from sqlalchemy import text
from sqlalchemy.exc import OperationalError

from evalsys.accounts.access import public
from evalsys.db import get_session

bp = Blueprint("ops", __name__)


@bp.route("/healthz")
@public
def healthz():
    """200 when this worker can reach the database; a proxy takes a worker out on anything else.

    Public and without data: it answers ``SELECT 1`` and nothing about the site.
    """
    try:
        get_session().execute(text("SELECT 1")).one()
    except OperationalError:
        return {"status": "database unavailable"}, 503, {"Cache-Control": "no-store"}
    return {"status": "ok"}, 200, {"Cache-Control": "no-store"}
