"""A person's visits in their own calendar: a private iCalendar feed (RFC 5545).

A supervisor on the way to a classroom looks at their phone's calendar, not at evalsys.
The feed lists their spot-check assignments and, for a teacher, the announced visits to
their classes (never an unannounced one: :func:`evalsys.planner.service._rows` leaves
those out for the section's teacher), from a month back to the end of the open terms.

The address holds a long random token, as a calendar app cannot log in; only its SHA-256
is stored (as for API tokens), so the address is shown once, when it is made. Making a new
one replaces the old, which stops working at once; stopping deletes it. A switched-off
account's feed answers 404 like an unknown token.
"""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Mapping
from datetime import date, datetime, timedelta
from typing import Any

from flask_babel import gettext as _
from icalendar import Calendar, Event
from sqlmodel import Session, col, select

from evalsys.accounts.models import User
from evalsys.clock import local_today, site_zone, utcnow
from evalsys.feedback.vocab import name_of
from evalsys.i18n import colon, in_locale, localized
from evalsys.org.models import Section, Term
from evalsys.org.timetable import Span, period_times
from evalsys.planner.models import ASSIGNMENT_STATUS_NAMES, Assignment, CalendarFeed
from evalsys.planner.service import AssignmentRow, _rows

#: Past visits kept in the feed (a calendar shows what was done last weeks too).
PAST_DAYS = 31
#: A read within this long of the last recorded one is not written down again.
READ_RECORD_EVERY = timedelta(minutes=15)


def digest(raw: str) -> str:
    return hashlib.sha256(raw.encode()).hexdigest()


def feed_of(session: Session, user: User) -> CalendarFeed | None:
    return session.exec(select(CalendarFeed).where(CalendarFeed.user_id == user.id)).first()


def new_feed(session: Session, user: User) -> str:
    """A new private address for ``user`` (the old one, if any, stops working); the raw
    token is returned once and never stored. The caller commits."""
    raw = secrets.token_urlsafe(32)
    feed = feed_of(session, user)
    if feed is None:
        assert user.id is not None  # a stored account
        feed = CalendarFeed(user_id=user.id, token_hash=digest(raw))
    else:
        feed.token_hash = digest(raw)
        feed.created_at = utcnow()
        feed.last_read_at = None
    session.add(feed)
    return raw


def stop_feed(session: Session, user: User) -> bool:
    """Delete the user's feed; False if there was none. The caller commits."""
    feed = feed_of(session, user)
    if feed is None:
        return False
    session.delete(feed)
    return True


def feed_owner(session: Session, raw: str) -> User | None:
    """The active account whose feed address holds ``raw``, noting the read; else None."""
    if not raw or len(raw) > 100:
        return None
    row = session.exec(
        select(CalendarFeed, User)
        .join(User, col(User.id) == CalendarFeed.user_id)
        .where(CalendarFeed.token_hash == digest(raw))
    ).first()
    if row is None or not row[1].active:
        return None
    feed, user = row
    now = utcnow()
    if feed.last_read_at is None or now - feed.last_read_at >= READ_RECORD_EVERY:
        feed.last_read_at = now
        session.add(feed)
        session.commit()
    return user


def feed_rows(session: Session, user: User, *, today: date) -> list[tuple[AssignmentRow, bool]]:
    """The visits the feed lists, each with whether the user makes it (else it is an
    announced visit to one of their classes), from :data:`PAST_DAYS` ago (two queries)."""
    since = today - timedelta(days=PAST_DAYS)
    recent = (
        col(Assignment.visit_date) >= since,
        col(Assignment.term_id).in_(select(Term.id).where(col(Term.end_date) >= since)),
    )
    mine = _rows(session, Assignment.supervisor_id == user.id, *recent, viewer=user)
    # Never an unannounced visit: _rows leaves those out for the section's own teacher too.
    to_my_classes = _rows(
        session,
        Section.teacher_id == user.id,
        col(Assignment.announced),
        Assignment.supervisor_id != user.id,
        *recent,
        viewer=user,
    )
    rows = [(r, True) for r in mine] + [(r, False) for r in to_my_classes]
    return sorted(rows, key=lambda pair: (pair[0].visit_date, pair[0].first_period, pair[0].id))


def calendar_bytes(
    session: Session,
    user: User,
    *,
    config: Mapping[str, Any],
    base_url: str,
    host: str,
) -> bytes:
    """The feed as an ``.ics`` file in the user's language (their stored locale)."""
    zone = site_zone(config)
    times = period_times(config)
    rows = feed_rows(session, user, today=local_today(config))
    stamp = utcnow()
    with in_locale(user.locale):
        cal = Calendar()
        cal.add("prodid", "-//evalsys//calendar feed//EN")
        cal.add("version", "2.0")
        cal.add("calscale", "GREGORIAN")
        cal.add("x-wr-calname", _("evalsys: visits of %(name)s", name=user.name))
        cal.add("x-wr-timezone", zone.key)
        for row, own in rows:
            cal.add_component(
                _event(row, own, zone=zone, times=times, stamp=stamp, base_url=base_url, host=host)
            )
    return cal.to_ical()


def _event(
    row: AssignmentRow,
    own: bool,
    *,
    zone: Any,
    times: Mapping[int, Span],
    stamp: datetime,
    base_url: str,
    host: str,
) -> Event:
    event = Event()
    event.add("uid", f"assignment-{row.id}@{host}")
    event.add("dtstamp", stamp)
    first, last = times.get(row.first_period), times.get(row.last_period)
    if first is not None and last is not None:
        event.add("dtstart", datetime.combine(row.visit_date, first.start, tzinfo=zone))
        event.add("dtend", datetime.combine(row.visit_date, last.end, tzinfo=zone))
    else:  # periods without times: a whole-day event that names them
        event.add("dtstart", row.visit_date)
        event.add("dtend", row.visit_date + timedelta(days=1))
    if own:
        title = localized(row, "course_title")
        summary = _("Visit %(section)s %(course)s", section=row.section_code, course=title)
    else:
        summary = _("Announced visit to your class %(section)s", section=row.section_code)
    event.add("summary", summary)
    if row.room:
        event.add("location", row.room)
    lines = [
        row.period_text,
        f"{_('Teacher')}{colon()}{row.teacher_name or '—'}",
        _("Announced") if row.announced else _("Unannounced"),
        name_of(ASSIGNMENT_STATUS_NAMES, row.status),
    ]
    if own:
        lines.append(f"{_('Why drawn')}{colon()}{', '.join(row.reason_names) or _('chance')}")
    event.add("description", "\n".join(str(x) for x in lines))
    if base_url:
        event.add("url", f"{base_url.rstrip('/')}/planner/")
    # A visit's calendar entry stays while the visit is due; done or missed ones stay
    # as history (their description says which).
    event.add("status", "CONFIRMED")
    event.add("transp", "OPAQUE")
    return event
