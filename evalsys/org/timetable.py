"""When a section meets: weekday and class periods, written ``Mon 1-2; Wed 3-4``.

The spot-check planner needs to know when a class can be visited; nothing else
in evalsys does, so the timetable is one short text column on :class:`Section`
(``meetings``) rather than a table of its own: it is imported with the section
(the optional ``meetings`` column of ``sections.csv``) and parsed here.

A meeting is a weekday (1 = Monday … 7 = Sunday) and a block of consecutive
class periods (节次), e.g. periods 3 to 4. Two meetings clash when they fall on
the same day and their period blocks overlap. A meeting may name its room after an ``@``
(``Mon 1-2 @ 教三-201``): the room is where a supervisor goes, so the planner's
"log the visit" link and the calendar feed carry it; it plays no part in clashes.
Weeks of the term are not modelled:
a section is assumed to meet every week of its term (odd/even-week classes are
planned as if weekly; a visit on a week without the class is simply rescheduled).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import time
from typing import Any

from flask_babel import gettext as _

#: The highest class period of a day (Chinese timetables have 10 to 14).
MAX_PERIOD = 14

WEEKDAY_NAMES = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")
_CHINESE_DAYS = "一二三四五六日"
_DAY_ALIASES: dict[str, int] = {name.lower(): i for i, name in enumerate(WEEKDAY_NAMES, 1)}
_DAY_ALIASES |= {str(i): i for i in range(1, 8)}
for _i, _c in enumerate(_CHINESE_DAYS, 1):
    _DAY_ALIASES[f"周{_c}"] = _i
    _DAY_ALIASES[f"星期{_c}"] = _i
_DAY_ALIASES["周天"] = _DAY_ALIASES["星期天"] = 7

#: The longest room name kept (a building and a room number, in either language).
MAX_ROOM = 40

_MEETING = re.compile(r"^\s*([^\s@]+?)\s*(\d+)\s*(?:-\s*(\d+))?\s*节?\s*(?:@\s*(.*?))?\s*$")


class TimetableError(ValueError):
    """A meetings text that cannot be read; the message says which part and why."""


@dataclass(frozen=True, order=True)
class Meeting:
    weekday: int  # 1 = Monday … 7 = Sunday (ISO)
    first: int  # first class period of the block
    last: int  # last class period (== first for a single period)
    #: Where it meets, if the timetable says; not part of equality (a slot is a slot).
    room: str | None = field(default=None, compare=False)

    def clashes(self, other: Meeting) -> bool:
        return (
            self.weekday == other.weekday and self.first <= other.last and other.first <= self.last
        )

    @property
    def periods(self) -> str:
        """The block as people write it: ``3-4`` or ``5``."""
        return str(self.first) if self.first == self.last else f"{self.first}-{self.last}"

    def __str__(self) -> str:
        slot = f"{WEEKDAY_NAMES[self.weekday - 1]} {self.periods}"
        return f"{slot} @ {self.room}" if self.room else slot


def parse_meetings(text: str | None) -> list[Meeting]:
    """``"Mon 1-2; Wed 3-4 @ B-204"`` → meetings, sorted; empty text → none.

    Parts are separated by ``;`` (or ``,``, ``；``, ``，``); a weekday is ``Mon``..``Sun``,
    ``1``..``7`` or ``周一``..``周日``; periods are ``N`` or ``N-M`` (1 ≤ N ≤ M ≤ 14);
    then, optionally, ``@`` and the room (at most :data:`MAX_ROOM` characters).
    Raises :class:`TimetableError` naming the first bad part.
    """
    if text is None or not text.strip():
        return []
    meetings: set[Meeting] = set()
    for part in re.split(r"[;,；，]", text):
        if not part.strip():
            continue
        match = _MEETING.match(part)
        if match is None:
            raise TimetableError(
                _("'%(part)s' is not a weekday and periods, e.g. 'Mon 1-2'", part=part.strip())
            )
        day_text, first_text, last_text, room = match.groups()
        if room is not None and not room:
            raise TimetableError(_("'%(part)s' has an @ but no room after it", part=part.strip()))
        if room is not None and len(room) > MAX_ROOM:
            raise TimetableError(
                _(
                    "the room in '%(part)s' is longer than %(max)s characters",
                    part=part.strip(),
                    max=MAX_ROOM,
                )
            )
        weekday = _DAY_ALIASES.get(day_text.lower())
        if weekday is None:
            raise TimetableError(
                _(
                    "'%(day)s' in '%(part)s' is not a weekday (Mon..Sun, 1..7 or 周一..周日)",
                    day=day_text,
                    part=part.strip(),
                )
            )
        first = int(first_text)
        last = int(last_text) if last_text is not None else first
        if not 1 <= first <= last <= MAX_PERIOD:
            raise TimetableError(
                _(
                    "periods %(first)s-%(last)s in '%(part)s' must run forwards within 1..%(max)s",
                    first=first,
                    last=last,
                    part=part.strip(),
                    max=MAX_PERIOD,
                )
            )
        meeting = Meeting(weekday, first, last, room or None)
        for known in meetings:
            if known == meeting and known.room != meeting.room:
                raise TimetableError(
                    _("'%(a)s' and '%(b)s' are one slot in two rooms", a=known, b=meeting)
                )
        meetings.add(meeting)
    ordered = sorted(meetings)
    for a, b in zip(ordered, ordered[1:], strict=False):
        if a.clashes(b):
            raise TimetableError(
                _("'%(a)s' and '%(b)s' overlap: a section meets once at a time", a=a, b=b)
            )
    return ordered


def format_meetings(meetings: list[Meeting]) -> str:
    """The canonical text stored in ``Section.meetings`` (so a re-import compares equal)."""
    return "; ".join(str(m) for m in sorted(meetings))


# --- when the periods are: the site's CLASS_PERIOD_TIMES --------------------------------

_PERIOD = re.compile(r"^\s*(\d+)\s*=\s*(\d{1,2}):(\d{2})\s*-\s*(\d{1,2}):(\d{2})\s*$")


class PeriodTimesError(ValueError):
    """CLASS_PERIOD_TIMES that cannot be read: the message names the part."""


@dataclass(frozen=True)
class Span:
    start: time
    end: time


def period_times(config: Mapping[str, Any]) -> dict[int, Span]:
    """``CLASS_PERIOD_TIMES`` read: period number → its start and end, site time."""
    text = config.get("CLASS_PERIOD_TIMES") or ""
    times: dict[int, Span] = {}
    for part in re.split(r"[;；]", text):
        if not part.strip():
            continue
        match = _PERIOD.match(part)
        if match is None:
            raise PeriodTimesError(
                f"CLASS_PERIOD_TIMES: {part.strip()!r} is not like '3=10:00-10:45'"
            )
        number, h1, m1, h2, m2 = (int(g) for g in match.groups())
        try:
            span = Span(time(h1, m1), time(h2, m2))
        except ValueError as err:
            raise PeriodTimesError(f"CLASS_PERIOD_TIMES: {part.strip()!r}: {err}") from None
        if span.end <= span.start:
            raise PeriodTimesError(f"CLASS_PERIOD_TIMES: {part.strip()!r} ends before it starts")
        if number in times:
            raise PeriodTimesError(f"CLASS_PERIOD_TIMES: period {number} is given twice")
        times[number] = span
    return times
