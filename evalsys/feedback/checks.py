"""Checking feedback input: every rule, all errors at once, before anything is written.

:func:`check_feedback` resolves the section or group, checks scope with
:func:`evalsys.accounts.access.may` (refused at once with
:class:`FeedbackPermissionError`), then collects every other problem as
(field, message) pairs into one :class:`FeedbackValidationError`. The CSV
import can call it row by row for a dry run; the service calls it before storing.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date
from typing import Any

from flask import has_app_context
from flask_babel import LazyString
from flask_babel import lazy_gettext as _l
from sqlmodel import Session, col, select

from evalsys.accounts.access import Perm, may
from evalsys.accounts.models import User
from evalsys.clock import local_today
from evalsys.feedback.inputs import (
    COUNT_FIELDS,
    TEXT_FIELDS,
    FeedbackInput,
    FeedbackPermissionError,
    FeedbackValidationError,
    Message,
    clean,
)
from evalsys.feedback.models import TEXT_LIMITS, Rubric, RubricItem
from evalsys.feedback.rubrics import current_rubric, rubric_items
from evalsys.feedback.vocab import (
    FeedbackKind,
    Grade,
    MeetingFormat,
    ObserverLevel,
    values,
)
from evalsys.i18n import localized
from evalsys.org.models import Course, Section, Term, TutorGroup
from evalsys.validation import MAX_COUNT

#: The permission that lets a user submit each section-based kind.
SUBMIT_PERM = {
    FeedbackKind.SPOT_CHECK: Perm.SUBMIT_SPOT_CHECK,
    FeedbackKind.OPEN_CLASS: Perm.SUBMIT_OPEN_CLASS,
}

#: The refusal of a field that belongs to another kind.
_ONLY_KIND = {
    FeedbackKind.SPOT_CHECK: _l("only spot check records have this"),
    FeedbackKind.OPEN_CLASS: _l("only open class records have this"),
    FeedbackKind.TUTOR_GROUP: _l("only tutor group records have this"),
}
#: What a finished record of the kind must say.
_REQUIRED_DETAIL = {
    "announced": _l("required: say whether the visit was announced"),
    "observer_level": _l("required: your level as observer"),
    "meeting_format": _l("required: the format of the meeting"),
}


def _out_of_scope(kind: str, code: str) -> LazyString:
    """The refusal of a section outside the user's scope, or of a code that names none.

    One sentence per kind; the same for both, so the answer reveals no section code.
    """
    if kind == FeedbackKind.OPEN_CLASS:
        return _l("the section '%(code)s' is outside your scope for open classes", code=code)
    return _l("the section '%(code)s' is outside your scope for spot checks", code=code)


def _not_the_tutor(code: str) -> LazyString:
    """The refusal of a group the user does not tutor (or that does not exist: the same words)."""
    return _l("you are not the tutor of the group '%(code)s'", code=code)


def _label(item: RubricItem) -> LazyString:
    """An item's label in the language the message is shown in."""
    return LazyString(_label_now, item)


def _label_now(item: RubricItem) -> str:
    return localized(item, "label") if has_app_context() else item.label


@dataclass
class CheckedFeedback:
    """Input that passed every check, resolved to ids and column values, ready to store."""

    kind: str
    rubric: Rubric
    items: list[RubricItem]
    term_id: int
    department_id: int
    section_id: int | None
    group_id: int | None
    observer_id: int
    columns: dict[str, Any] = field(default_factory=dict)
    #: item id -> value, answered items only
    scores: dict[int, float] = field(default_factory=dict)


def compute_overall_score(items: list[RubricItem], scores: Mapping[int, float]) -> float | None:
    """Weighted mean of the answered items' normalised scores, times 100 (None: none answered).

    Each value is put on 0..1 by its item's scale, ``(v - min) / (max - min)``, so
    items with different scales weigh only by their weights. Unanswered optional
    items are left out of both sums rather than counted as zero.
    """
    total = weights = 0.0
    for item in items:
        value = scores.get(item.id)  # type: ignore[arg-type]  # a stored row's id, never None
        if value is None:
            continue
        total += item.weight * (value - item.scale_min) / (item.scale_max - item.scale_min)
        weights += item.weight
    if weights == 0:
        return None
    return min(100.0, max(0.0, 100.0 * total / weights))


def check_feedback(
    session: Session,
    *,
    user: User,
    data: FeedbackInput,
    draft: bool = False,
    observer: User | None = None,
    rubric: Rubric | None = None,
    today: date | None = None,
) -> CheckedFeedback:
    """Check everything about ``data``; raise with every problem, or return it resolved.

    ``observer`` (default ``user``) is who the record is by: an admin of the unit
    may record feedback for someone else (historical import). ``rubric`` is the
    version to check the scores against (default: the current one of the kind).
    ``draft`` relaxes the fields a finished record needs (required items and the
    per-kind details) but nothing else: a draft is never out of scale or scope.
    ``today`` (default: the site's date) is the latest date a visit may have.
    """
    observer = observer or user
    today = today or local_today()
    errors: list[tuple[str, Message]] = []
    kind: str | None = data.kind
    if kind not in values(FeedbackKind):
        errors.append(
            (
                "kind",
                _l(
                    "unknown kind '%(kind)s'; one of %(kinds)s",
                    kind=kind,
                    kinds=", ".join(values(FeedbackKind)),
                ),
            )
        )
        kind = None

    target = _resolve_target(session, kind, data, errors, hide_unknown=observer.id == user.id)
    if target is not None:
        assert kind is not None  # a target is only found for a known kind
        _check_scope(session, user=user, observer=observer, kind=kind, target=target)

    columns: dict[str, Any] = {}
    _check_date(data.date, target.term if target else None, today, errors, kind=kind)
    columns["visit_date"] = data.date
    _check_counts(kind, data, columns, errors)
    _check_details(kind, data, draft, columns, errors)
    for name in TEXT_FIELDS:
        text = clean(getattr(data, name))
        limit = TEXT_LIMITS[name]
        if text is not None and len(text) > limit:
            errors.append(
                (
                    name,
                    _l(
                        "%(length)s characters is too long; the limit is %(limit)s",
                        length=len(text),
                        limit=limit,
                    ),
                )
            )
        columns[name] = text

    items: list[RubricItem] = []
    scores: dict[int, float] = {}
    if kind is not None:
        rubric = rubric or current_rubric(session, kind)
        if rubric is None:
            errors.append(
                (
                    "kind",
                    _l(
                        "there is no published %(kind)s rubric yet; an admin must publish one",
                        kind=kind,
                    ),
                )
            )
        else:
            # Ignored below: a stored row's id, never None.
            items = rubric_items(session, rubric.id)  # type: ignore[arg-type]
            scores = _check_scores(rubric, items, data.scores, draft, errors)
    if errors:
        raise FeedbackValidationError(errors)
    assert kind is not None and target is not None and rubric is not None
    columns["overall_score"] = compute_overall_score(items, scores)
    return CheckedFeedback(
        kind=kind,
        rubric=rubric,
        items=items,
        term_id=target.term.id,  # type: ignore[arg-type]  # a stored row's id, never None
        department_id=target.department_id,
        section_id=target.section.id if target.section else None,
        group_id=target.group.id if target.group else None,
        observer_id=observer.id,  # type: ignore[arg-type]  # a stored row's id, never None
        columns=columns,
        scores=scores,
    )


@dataclass
class _Target:
    term: Term
    department_id: int
    section: Section | None = None
    group: TutorGroup | None = None

    @property
    def field(self) -> str:
        return "group" if self.group is not None else "section"

    @property
    def code(self) -> str:
        # Ignored below: no group means a section.
        return self.group.code if self.group is not None else self.section.code  # type: ignore[union-attr]


def _resolve_target(
    session: Session,
    kind: str | None,
    data: FeedbackInput,
    errors: list[tuple[str, Message]],
    *,
    hide_unknown: bool,
) -> _Target | None:
    """The section or group the record is about; None when it cannot be found.

    With ``hide_unknown`` (someone recording their own visit: the forms and the API),
    a code that names nothing is refused exactly like one outside the user's scope,
    so that the answer never tells whether a section or group exists. An admin
    importing other observers' records (``hide_unknown`` False) sees the plain reason.
    """
    if kind is None:
        return None
    section_code, group_code = clean(data.section), clean(data.group)
    if kind == FeedbackKind.TUTOR_GROUP:
        if section_code is not None:
            errors.append(("section", "a tutor-group report is about a group: leave section empty"))
        if group_code is None:
            errors.append(("group", _l("required: the code of your tutor group")))
            return None
        group = session.exec(select(TutorGroup).where(TutorGroup.code == group_code)).first()
        if group is None and hide_unknown:
            raise FeedbackPermissionError("group", _not_the_tutor(group_code))
        if group is None:
            errors.append(
                ("group", _l("there is no tutor group with the code '%(code)s'", code=group_code))
            )
            return None
        term = session.get(Term, group.term_id)
        # Ignored below: the term's foreign key: it exists.
        return _Target(term=term, department_id=group.department_id, group=group)  # type: ignore[arg-type]
    if group_code is not None:
        errors.append(("group", _l("only tutor-group reports name a group: leave group empty")))
    if section_code is None:
        errors.append(("section", _l("required: the code of the section you visited")))
        return None
    row = session.exec(
        select(Section, Course)
        .join(Course, col(Course.id) == Section.course_id)
        .where(Section.code == section_code)
    ).first()
    if row is None and hide_unknown:
        raise FeedbackPermissionError("section", _out_of_scope(kind, section_code))
    if row is None:
        errors.append(
            ("section", _l("there is no section with the code '%(code)s'", code=section_code))
        )
        return None
    section, course = row
    term = session.get(Term, section.term_id)
    # Ignored below: the term's foreign key: it exists.
    return _Target(term=term, department_id=course.department_id, section=section)  # type: ignore[arg-type]


def _check_scope(
    session: Session, *, user: User, observer: User, kind: str, target: _Target
) -> None:
    unit = target.department_id
    if observer.id != user.id:
        if not may(session, user, Perm.MANAGE, unit):
            raise FeedbackPermissionError(
                target.field, _l("only an admin of the unit may record feedback for someone else")
            )
    elif target.group is not None:
        is_tutor = target.group.tutor_id == user.id and user.active
        if not (is_tutor or may(session, user, Perm.MANAGE, unit)):
            raise FeedbackPermissionError("group", _not_the_tutor(target.group.code))
    elif not may(session, user, SUBMIT_PERM[FeedbackKind(kind)], unit):
        raise FeedbackPermissionError("section", _out_of_scope(kind, target.code))
    if target.section is not None and target.section.teacher_id == observer.id:
        raise FeedbackPermissionError("section", _l("you cannot give feedback on your own section"))


def _check_date(
    visit: date | None,
    term: Term | None,
    today: date,
    errors: list[tuple[str, Message]],
    *,
    kind: str | None = None,
) -> None:
    if visit is None:
        # A tutor group meets; nobody visits a class (the form's label says so too).
        if kind == FeedbackKind.TUTOR_GROUP:
            errors.append(("date", _l("required: the date of the meeting")))
        else:
            errors.append(("date", _l("required: the date of the visit")))
        return
    if visit > today:
        errors.append(("date", _l("%(date)s is in the future", date=visit.isoformat())))
    if term is not None and not term.start_date <= visit <= term.end_date:
        errors.append(
            (
                "date",
                _l(
                    "%(date)s is outside the term %(term)s (%(start)s to %(end)s)",
                    date=visit.isoformat(),
                    term=term.code,
                    start=term.start_date.isoformat(),
                    end=term.end_date.isoformat(),
                ),
            )
        )


def _check_counts(
    kind: str | None,
    data: FeedbackInput,
    columns: dict[str, Any],
    errors: list[tuple[str, Message]],
) -> None:
    counts: dict[str, int] = {}
    for name in COUNT_FIELDS:
        value = getattr(data, name)
        columns[name] = None
        if value is None:
            continue
        if isinstance(value, bool) or not isinstance(value, int):
            errors.append((name, _l("must be a whole number")))
        elif value < 0:
            errors.append((name, _l("must be 0 or more")))
        elif value > MAX_COUNT:
            errors.append((name, _l("must be at most %(limit)s", limit=MAX_COUNT)))
        elif kind == FeedbackKind.TUTOR_GROUP and name != "attending":
            errors.append((name, _l("tutor-group reports count the students attending instead")))
        elif kind is not None and kind != FeedbackKind.TUTOR_GROUP and name == "attending":
            errors.append((name, _l("only tutor-group reports count attending; use present")))
        else:
            counts[name] = columns[name] = value
    enrolled, present, late = counts.get("enrolled"), counts.get("present"), counts.get("late")
    if enrolled is not None and present is not None and present > enrolled:
        errors.append(
            (
                "present",
                _l(
                    "%(present)s present is more than the %(enrolled)s enrolled",
                    present=present,
                    enrolled=enrolled,
                ),
            )
        )
    if present is not None and late is not None and late > present:
        errors.append(
            (
                "late",
                _l(
                    "%(late)s late is more than the %(present)s present", late=late, present=present
                ),
            )
        )


def _check_details(
    kind: str | None,
    data: FeedbackInput,
    draft: bool,
    columns: dict[str, Any],
    errors: list[tuple[str, Message]],
) -> None:
    """The fields that belong to one kind: announced, observer level, meeting format; grade."""
    per_kind = (
        ("announced", FeedbackKind.SPOT_CHECK, None),
        ("observer_level", FeedbackKind.OPEN_CLASS, ObserverLevel),
        ("meeting_format", FeedbackKind.TUTOR_GROUP, MeetingFormat),
    )
    for name, owner, choices in per_kind:
        value = getattr(data, name)
        if isinstance(value, str):
            value = clean(value)
        columns[name] = None
        if value is None:
            if kind == owner and not draft:
                errors.append((name, _REQUIRED_DETAIL[name]))
        elif kind is not None and kind != owner:
            errors.append((name, _ONLY_KIND[owner]))
        elif choices is None and not isinstance(value, bool):
            errors.append((name, _l("must be true or false")))
        elif choices is not None and value not in values(choices):
            errors.append(
                (name, _l("must be one of %(values)s", values=", ".join(values(choices))))
            )
        else:
            columns[name] = value
    grade = clean(data.overall_grade)
    columns["overall_grade"] = None
    if grade is not None and grade not in values(Grade):
        errors.append(
            ("overall_grade", _l("must be one of %(values)s", values=", ".join(values(Grade))))
        )
    else:
        columns["overall_grade"] = grade


def _check_scores(
    rubric: Rubric,
    items: list[RubricItem],
    given: Mapping[str, Any],
    draft: bool,
    errors: list[tuple[str, Message]],
) -> dict[int, float]:
    by_code = {item.code: item for item in items}
    scores: dict[int, float] = {}
    refused: set[str] = set()
    for code, value in given.items():
        name = f"scores.{code}"
        item = by_code.get(code)
        if item is None:
            errors.append(
                (
                    name,
                    _l(
                        "no item '%(code)s' in the %(kind)s rubric v%(version)s",
                        code=code,
                        kind=rubric.kind,
                        version=rubric.version,
                    ),
                )
            )
        elif value is None:
            continue
        elif isinstance(value, bool) or not isinstance(value, int | float) or value != value:
            errors.append((name, _l("must be a number")))
            refused.add(code)
        elif not item.scale_min <= value <= item.scale_max:
            errors.append(
                (
                    name,
                    _l(
                        "%(value)s is outside the scale %(min)s–%(max)s of '%(label)s'",
                        value=format(value, "g"),
                        min=item.scale_min,
                        max=item.scale_max,
                        label=_label(item),
                    ),
                )
            )
            refused.add(code)
        else:
            scores[item.id] = float(value)  # type: ignore[index]  # a stored row's id, never None
    if not draft:
        for item in items:
            if item.required and item.id not in scores and item.code not in refused:
                errors.append(
                    (
                        f"scores.{item.code}",
                        _l("required: '%(label)s' has no score", label=_label(item)),
                    )
                )
    return scores
