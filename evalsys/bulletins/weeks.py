"""ISO weeks (``2026-W45``) in the site's calendar: what a bulletin covers.

A bulletin speaks of one Monday-to-Sunday ISO week of the site's calendar
(``SCHEDULER_TIMEZONE``): visit dates are site dates already, and stored times
(a problem's creation) are compared with the site's midnight bounds of the week.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

from evalsys.clock import local_today, site_datetime

_WEEK = re.compile(r"^(\d{4})-W(\d{2})$")


@dataclass(frozen=True, order=True)
class IsoWeek:
    year: int
    week: int

    @property
    def monday(self) -> date:
        return date.fromisocalendar(self.year, self.week, 1)

    @property
    def sunday(self) -> date:
        return self.monday + timedelta(days=6)

    @property
    def label(self) -> str:
        return f"{self.year}-W{self.week:02d}"

    def bounds(self, config: Mapping[str, Any] | None = None) -> tuple[datetime, datetime]:
        """[start, end) of the week as UTC instants: the site's Monday 00:00 to next Monday's."""
        return site_datetime(self.monday, config=config), site_datetime(
            self.monday + timedelta(days=7), config=config
        )

    def __str__(self) -> str:
        return self.label


def parse_week(text: str) -> IsoWeek:
    """``YYYY-Www`` (``2026-W45``); anything else, or a week the year does not have, is refused."""
    found = _WEEK.match(text.strip())
    if found is None:
        raise ValueError(f"{text!r} is not an ISO week: write it as YYYY-Www (2026-W45)")
    year, week = int(found[1]), int(found[2])
    try:
        date.fromisocalendar(year, week, 1)
    except ValueError as err:
        raise ValueError(f"{year} has no week {week}") from err
    return IsoWeek(year, week)


def week_of(day: date) -> IsoWeek:
    year, week, _ = day.isocalendar()
    return IsoWeek(year, week)


def week_just_ended(config: Mapping[str, Any] | None = None) -> IsoWeek:
    """The last full week before the site's today (on a Monday: the week that ended last night)."""
    return week_of(local_today(config) - timedelta(days=local_today(config).weekday() + 1))
