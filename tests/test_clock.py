"""evalsys.clock: the one reading of the clock, and the site's calendar rather than the server's."""

from __future__ import annotations

import ast
from datetime import UTC, date, datetime, time
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from evalsys import clock
from evalsys.i18n import fmt_date, fmt_datetime, in_locale

PACKAGE = Path(clock.__file__).parent

#: 20:00 UTC on 1 March is already 04:00 on 2 March in Shanghai.
MOMENT = datetime(2031, 3, 1, 20, 0, tzinfo=UTC)


# --- nothing reads the clock but clock.py ---------------------------------------------------

#: Calls that read the system clock, or the server's zone, behind the site's back.
FORBIDDEN = {"today", "now", "utcnow"}
CLOCK_TYPES = {"date", "datetime"}


def _dotted(node: ast.expr) -> str | None:
    if isinstance(node, ast.Name):
        return node.id
    if isinstance(node, ast.Attribute):
        inner = _dotted(node.value)
        return None if inner is None else f"{inner}.{node.attr}"
    return None


def clock_reads(source: str) -> list[tuple[int, str]]:
    """``date.today()``, ``datetime.now(...)``, ``dt.datetime.utcnow()`` and the like."""
    found = []
    for node in ast.walk(ast.parse(source)):
        if not (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)):
            continue
        owner = _dotted(node.func.value)
        if node.func.attr in FORBIDDEN and owner and owner.split(".")[-1] in CLOCK_TYPES:
            found.append((node.lineno, f"{owner}.{node.func.attr}()"))
    return found


@pytest.mark.parametrize(
    ("source", "hits"),
    [
        ("date.today()", 1),
        ("import datetime as dt\ndt.date.today()", 1),
        ("datetime.now()", 1),
        ("datetime.now(UTC)", 1),
        ("datetime.datetime.utcnow()", 1),
        ("x = f(datetime.now(tz=ZoneInfo('UTC')).date())", 1),
        ("utcnow()\nlocal_today(config)\nsession.now()\ndate(2026, 1, 1)", 0),
    ],
)
def test_the_scan_finds_clock_reads(source, hits):
    """The scan below can fail: it sees every spelling the package could use."""
    assert len(clock_reads(source)) == hits


def test_only_clock_py_reads_the_clock():
    """Elsewhere the date is the site's (``clock.local_today``), the time ``clock.utcnow``."""
    offenders = [
        f"{path.relative_to(PACKAGE.parent)}:{line}: {call}"
        for path in sorted(PACKAGE.rglob("*.py"))
        if path != PACKAGE / "clock.py"
        for line, call in clock_reads(path.read_text(encoding="utf-8"))
    ]
    assert offenders == []


# --- the site's calendar -------------------------------------------------------------------


def test_today_is_the_sites_not_utcs(site_clock):
    site_clock.at(MOMENT)
    assert clock.utcnow() == MOMENT
    assert clock.local_today({"SCHEDULER_TIMEZONE": "Asia/Shanghai"}) == date(2031, 3, 2)
    assert clock.local_today({"SCHEDULER_TIMEZONE": "UTC"}) == date(2031, 3, 1)
    assert clock.local_today({"SCHEDULER_TIMEZONE": "America/Los_Angeles"}) == date(2031, 3, 1)
    assert clock.site_now({"SCHEDULER_TIMEZONE": "Asia/Shanghai"}).hour == 4


def test_without_a_config_the_running_apps_decides(app, site_clock):
    site_clock.at(MOMENT)
    assert clock.local_today() == date(2031, 3, 2)  # outside an app: the package default
    app.config["SCHEDULER_TIMEZONE"] = "UTC"
    with app.app_context():
        assert clock.local_today() == date(2031, 3, 1)


def test_stored_times_convert_to_the_sites_clock():
    shanghai = {"SCHEDULER_TIMEZONE": "Asia/Shanghai"}
    naive = datetime(2026, 11, 30, 23, 30)  # as SQLite gives it back: UTC
    local = clock.to_site_time(naive, shanghai)
    assert local == datetime(2026, 12, 1, 7, 30, tzinfo=ZoneInfo("Asia/Shanghai"))
    assert local.utcoffset().total_seconds() == 8 * 3600  # type: ignore[union-attr]
    assert clock.to_site_time(naive.replace(tzinfo=UTC), shanghai) == local
    assert clock.as_utc(naive) == datetime(2026, 11, 30, 23, 30, tzinfo=UTC)


def test_a_site_day_begins_at_the_sites_midnight():
    start = clock.site_datetime(date(2026, 12, 1), config={"SCHEDULER_TIMEZONE": "Asia/Shanghai"})
    assert start == datetime(2026, 11, 30, 16, 0, tzinfo=UTC)
    ten = clock.site_datetime(date(2026, 12, 1), time(10), {"SCHEDULER_TIMEZONE": "UTC"})
    assert ten == datetime(2026, 12, 1, 10, 0, tzinfo=UTC)


@pytest.mark.parametrize("name", ["Mars/Olympus", "../etc/passwd", "Asia/Shang hai"])
def test_a_zone_that_is_not_one_is_refused_not_taken_for_utc(name):
    with pytest.raises(ValueError, match="SCHEDULER_TIMEZONE"):
        clock.site_zone({"SCHEDULER_TIMEZONE": name})


def test_an_app_with_a_misnamed_zone_does_not_start(tmp_path):
    from evalsys import create_app

    with pytest.raises(ValueError, match="'Asia/Beijing' is not a time zone"):
        create_app(
            {"TESTING": True, "SCHEDULER_TIMEZONE": "Asia/Beijing", "INSTANCE_PATH": str(tmp_path)}
        )


def test_shown_times_and_dates_are_on_the_sites_clock(app):
    """fmt_datetime and fmt_date go through the same conversion: a time stored late on
    30 November UTC is shown on 1 December, the day it was in Shanghai."""
    stored = datetime(2026, 11, 30, 23, 30)
    with app.test_request_context(), in_locale("en"):
        assert fmt_date(stored) == "Dec 1, 2026"
        assert "Dec 1, 2026" in fmt_datetime(stored) and "7:30" in fmt_datetime(stored)
        app.config["SCHEDULER_TIMEZONE"] = "UTC"
        assert fmt_date(stored) == "Nov 30, 2026"
        assert "11:30" in fmt_datetime(stored)
