"""The calendar feed's pages: make or stop one's private address (from "My assignments"),
and the ``.ics`` itself, read by calendar apps that cannot log in (the token is the key)."""

from __future__ import annotations

from flask import Response, abort, current_app, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user

from evalsys.accounts.access import login_required, public
from evalsys.accounts.service import audit
from evalsys.db import get_session
from evalsys.planner import calendar
from evalsys.planner.forms import CalendarForm
from evalsys.planner.views import bp


def _base_url() -> str:
    """The site's address for links in the feed: BASE_URL, else the one asked for."""
    return current_app.config.get("BASE_URL") or request.host_url


@bp.route("/calendar", methods=["POST"])
@login_required
def calendar_new():
    """A new private address, shown once (only its digest is stored)."""
    form = CalendarForm()
    if not form.validate_on_submit():
        abort(400)
    session = get_session()
    user = current_user._get_current_object()
    replaced = calendar.feed_of(session, user) is not None
    raw = calendar.new_feed(session, user)
    audit(session, "calendar.new", user_id=user.id, detail="replaced" if replaced else None)
    session.commit()
    https = _base_url().rstrip("/") + url_for(".calendar_feed", token=raw)
    response = Response(
        render_template(
            "planner/calendar_made.html",
            https=https,
            webcal="webcal://" + https.split("://", 1)[1],
            replaced=replaced,
        )
    )
    response.headers["Cache-Control"] = "no-store"  # the address is a secret
    return response


@bp.route("/calendar/stop", methods=["POST"])
@login_required
def calendar_stop():
    form = CalendarForm()
    if not form.validate_on_submit():
        abort(400)
    session = get_session()
    user = current_user._get_current_object()
    if calendar.stop_feed(session, user):
        audit(session, "calendar.stop", user_id=user.id)
        session.commit()
        flash(_("Your calendar feed is stopped: its address no longer works."), "success")
    return redirect(url_for(".mine"), 303)


@bp.route("/calendar/<token>.ics")
@public
def calendar_feed(token: str):
    """The feed: 404 for an unknown, replaced or stopped address or a switched-off account."""
    session = get_session()
    user = calendar.feed_owner(session, token)
    if user is None:
        abort(404)
    body = calendar.calendar_bytes(
        session, user, config=current_app.config, base_url=_base_url(), host=request.host
    )
    response = Response(body, mimetype="text/calendar")
    response.headers["Content-Disposition"] = 'inline; filename="evalsys.ics"'
    response.headers["Cache-Control"] = "private, max-age=300"
    response.headers["X-Robots-Tag"] = "noindex"
    return response
