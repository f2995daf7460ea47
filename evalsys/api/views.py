"""The /api/v1 blueprint. Endpoints are added by the API work (issue 3)."""

from __future__ import annotations

from flask import Blueprint

bp = Blueprint("api", __name__, url_prefix="/api/v1")
