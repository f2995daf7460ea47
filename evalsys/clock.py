"""The one place for "now" and "today", and for turning a stored time into the site's.

Times are stored in UTC; dates mean the site's calendar (``SCHEDULER_TIMEZONE``,
Asia/Shanghai by default), never the server's: a server in UTC is still on
yesterday for the first eight hours of a day in Shanghai, so a form defaulting
to the server's date, or a term closing at the server's midnight, is a day off.
Every reading of the clock goes through :func:`_now` (tests patch that one
function to move the whole application in time), and every conversion of a
stored time to the site's zone through :func:`to_site_time`;
``tests/test_clock.py`` fails on a ``date.today()`` or ``datetime.now()``
anywhere else in the package.

``config`` is the app's configuration; None means the running app's (or the
package defaults outside one), so that services called without a config,
from a view, a command or a test alike, still read the site's calendar.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, date, datetime, time
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from flask import current_app, has_app_context

from evalsys.config import Defaults

#: The configuration key naming the site's zone (it began as the scheduler's clock).
ZONE_SETTING = "SCHEDULER_TIMEZONE"


def _now() -> datetime:
    """The system clock, aware, in UTC: the only place the package reads it."""
    return datetime.now(UTC)


def utcnow() -> datetime:
    """Now, aware, in UTC: what every stored timestamp is."""
    return _now()


def _config(config: Mapping[str, Any] | None) -> Mapping[str, Any]:
    if config is not None:
        return config
    if has_app_context():
        return current_app.config
    return {ZONE_SETTING: Defaults.SCHEDULER_TIMEZONE}


def site_zone(config: Mapping[str, Any] | None = None) -> ZoneInfo:
    """The site's time zone; a name that is not one is refused, never silently UTC."""
    name = _config(config).get(ZONE_SETTING) or "UTC"
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError) as err:
        raise ValueError(f"{ZONE_SETTING} = {name!r} is not a time zone (Asia/Shanghai)") from err


def as_utc(moment: datetime) -> datetime:
    """A stored time, aware: SQLite gives back naive datetimes, which are UTC."""
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


def to_site_time(moment: datetime, config: Mapping[str, Any] | None = None) -> datetime:
    """A stored time (aware, or naive meaning UTC) as the site's wall clock shows it."""
    return as_utc(moment).astimezone(site_zone(config))


def site_now(config: Mapping[str, Any] | None = None) -> datetime:
    """Now on the site's wall clock (aware)."""
    return to_site_time(utcnow(), config)


def local_today(config: Mapping[str, Any] | None = None) -> date:
    """The site's date: a term ends, and a form's date defaults, at midnight there, not in UTC."""
    return site_now(config).date()


def site_datetime(
    day: date, at: time = time(), config: Mapping[str, Any] | None = None
) -> datetime:
    """The moment (aware, UTC) the site's clock reads ``at`` on ``day``: a site day's bounds."""
    return datetime.combine(day, at, tzinfo=site_zone(config)).astimezone(UTC)
