"""Subject discussion meetings (专题研讨会): who attended, which problems were discussed,
what was decided.

Attendees are people of the unit (:func:`evalsys.loop.scope.people`), problems those of
the unit and the units below it; any other id is refused on its field with the words of
an unknown one.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date
from typing import NamedTuple

from flask_babel import gettext as _
from sqlmodel import Session, col, select

from evalsys.accounts.models import User
from evalsys.loop.models import Action, Meeting, MeetingAttendee, MeetingProblem, Problem
from evalsys.loop.rules import TITLE_LIMIT, LoopValidationError, audit, clean, too_long
from evalsys.loop.scope import in_subtree, people_among, require_manage
from evalsys.org.models import OrgUnit, OrgUnitClosure, Term

#: Problems a meeting may discuss: those not yet closed.
TO_DISCUSS = ("proposed", "open", "in_progress", "resolved")
#: How many of them the meeting form offers (newest terms first).
TO_DISCUSS_LIMIT = 300


def create_meeting(
    session: Session,
    *,
    unit: OrgUnit,
    term: Term,
    user: User,
    held_on: date | None,
    title: str,
    decisions: str,
    attendee_ids: Iterable[int] = (),
    other_attendees: str | None = None,
    problem_ids: Iterable[int] = (),
) -> Meeting:
    """Record a subject discussion meeting: attendees, problems discussed, decisions.

    Attendees are people of the unit (:func:`~evalsys.loop.scope.people`), problems those of the
    unit and the units below it; any other id is refused on its field.
    """
    assert unit.id is not None and term.id is not None  # stored rows
    require_manage(session, user, unit.id)
    title, decisions = clean(title), clean(decisions)
    other_attendees = clean(other_attendees) or None
    attendee_ids, problem_ids = sorted(set(attendee_ids)), sorted(set(problem_ids))
    errors: dict[str, str] = {}
    if held_on is None:
        errors["held_on"] = _("Give the date of the meeting.")
    if not title:
        errors["title"] = _("Give the meeting a topic.")
    elif len(title) > TITLE_LIMIT:
        errors["title"] = too_long(TITLE_LIMIT, title)
    if not decisions:
        errors["decisions"] = _("Write down what the meeting decided.")
    elif len(decisions) > 8000:
        errors["decisions"] = too_long(8000, decisions)
    if other_attendees and len(other_attendees) > 2000:
        errors["other_attendees"] = too_long(2000, other_attendees)
    if not attendee_ids and not other_attendees:
        errors["attendees"] = _("Name at least one attendee.")
    offered = people_among(session, unit.id, attendee_ids)
    if len(offered) != len(attendee_ids):
        # An unknown id and a person from outside the unit get the same words.
        errors["attendees"] = _("Some attendees are not known users; choose them from the list.")
    if problem_ids:
        problems = session.exec(select(Problem).where(col(Problem.id).in_(problem_ids))).all()
        if len(problems) != len(problem_ids) or not all(
            in_subtree(session, p.unit_id, unit.id) for p in problems
        ):
            errors["problems"] = _("Only problems of this unit and the units below it.")
    if errors:
        raise LoopValidationError(errors)
    assert held_on is not None  # else an error above
    meeting = Meeting(
        unit_id=unit.id,
        term_id=term.id,
        held_on=held_on,
        title=title,
        decisions=decisions,
        other_attendees=other_attendees,
        created_by_id=user.id,
    )
    session.add(meeting)
    session.flush()
    assert meeting.id is not None  # flushed
    for uid in attendee_ids:
        session.add(MeetingAttendee(meeting_id=meeting.id, user_id=uid))
    for pid in problem_ids:
        session.add(MeetingProblem(meeting_id=meeting.id, problem_id=pid))
    session.flush()
    audit(
        session,
        user,
        "meeting.create",
        f"meeting {meeting.id}",
        f"{unit.code} {held_on}: {title}; problems {problem_ids}",
    )
    return meeting


# --- reading ---------------------------------------------------------------------------


def problems_to_discuss(session: Session, unit_id: int) -> list[tuple[Problem, str]]:
    """The problems the meeting form offers, each with its term's code: not yet closed, of
    the unit and below, newest term first."""
    stmt = (
        select(Problem, Term.code)
        .join(Term, col(Term.id) == Problem.term_id)
        .join(OrgUnitClosure, col(OrgUnitClosure.descendant_id) == Problem.unit_id)
        .where(
            col(OrgUnitClosure.ancestor_id) == unit_id,
            col(Problem.status).in_(TO_DISCUSS),
        )
        .order_by(col(Term.start_date).desc(), col(Problem.id))
        .limit(TO_DISCUSS_LIMIT)
    )
    return [(problem, code) for problem, code in session.exec(stmt).all()]


class MeetingPlace(NamedTuple):
    meeting: Meeting
    unit: OrgUnit


def find_meeting(session: Session, meeting_id: int) -> MeetingPlace | None:
    """The meeting with its unit, in one query; None if there is no such id."""
    stmt = (
        select(Meeting, OrgUnit)
        .join(OrgUnit, col(OrgUnit.id) == Meeting.unit_id)
        .where(col(Meeting.id) == meeting_id)
    )
    row = session.exec(stmt).first()
    return MeetingPlace(*row) if row is not None else None


@dataclass(frozen=True)
class MeetingDetails:
    """What a meeting's page shows beside the meeting itself."""

    attendees: list[User]
    problems: list[Problem]
    actions: list[tuple[Action, User]]  # decided there, with each one's owner


def meeting_details(session: Session, meeting: Meeting) -> MeetingDetails:
    """Attendees, problems discussed and actions decided: three queries."""
    attendees = session.exec(
        select(User)
        .join(MeetingAttendee, col(MeetingAttendee.user_id) == User.id)
        .where(col(MeetingAttendee.meeting_id) == meeting.id)
        .order_by(col(User.name))
    ).all()
    problems = session.exec(
        select(Problem)
        .join(MeetingProblem, col(MeetingProblem.problem_id) == Problem.id)
        .where(col(MeetingProblem.meeting_id) == meeting.id)
        .order_by(col(Problem.id))
    ).all()
    actions = session.exec(
        select(Action, User)
        .join(User, col(User.id) == Action.owner_id)
        .where(col(Action.meeting_id) == meeting.id)
        .order_by(col(Action.due_date))
    ).all()
    return MeetingDetails(
        attendees=list(attendees),
        problems=list(problems),
        actions=[(action, owner) for action, owner in actions],
    )
