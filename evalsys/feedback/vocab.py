"""The fixed words of feedback: kinds, statuses, grades, dimensions, with their labels.

Values are stored as short codes (also in CHECK constraints); labels are for
forms and reports, Chinese first, then English.
"""

from __future__ import annotations

from enum import StrEnum

from flask_babel import LazyString
from flask_babel import lazy_gettext as _l


class FeedbackKind(StrEnum):
    SPOT_CHECK = "spot_check"
    OPEN_CLASS = "open_class"
    TUTOR_GROUP = "tutor_group"


class RubricStatus(StrEnum):
    DRAFT = "draft"
    PUBLISHED = "published"
    RETIRED = "retired"


class FeedbackStatus(StrEnum):
    DRAFT = "draft"
    SUBMITTED = "submitted"
    WITHDRAWN = "withdrawn"


class Grade(StrEnum):
    EXCELLENT = "excellent"
    GOOD = "good"
    FAIR = "fair"
    PASS = "pass"
    FAIL = "fail"


class ObserverLevel(StrEnum):
    SCHOOL_LEADER = "school_leader"
    COLLEGE_LEADER = "college_leader"
    PEER = "peer"
    PRINCIPAL_ASSISTANT = "principal_assistant"


class MeetingFormat(StrEnum):
    TUTOR_MEETING = "tutor_meeting"
    STUDENT_DISCUSSION = "student_discussion"


class RevisionAction(StrEnum):
    CREATE = "create"
    EDIT = "edit"
    SUBMIT = "submit"
    WITHDRAW = "withdraw"


def values(enum: type[StrEnum]) -> tuple[str, ...]:
    return tuple(member.value for member in enum)


def sql_in(column: str, enum: type[StrEnum]) -> str:
    """``column IN ('a', 'b')`` for a CHECK constraint."""
    return f"{column} IN (" + ", ".join(f"'{v}'" for v in values(enum)) + ")"


KIND_LABELS: dict[str, tuple[str, str]] = {
    FeedbackKind.SPOT_CHECK: ("督导听课", "Spot check"),
    FeedbackKind.OPEN_CLASS: ("公开课", "Open class"),
    FeedbackKind.TUTOR_GROUP: ("导师组", "Tutor group"),
}

GRADE_LABELS: dict[str, tuple[str, str]] = {
    Grade.EXCELLENT: ("优秀", "Excellent"),
    Grade.GOOD: ("良好", "Good"),
    Grade.FAIR: ("中等", "Fair"),
    Grade.PASS: ("合格", "Pass"),
    Grade.FAIL: ("不合格", "Fail"),
}

#: The usual bands of Chinese class-inspection forms: a score at or above the bound earns
#: the grade. Forms may offer the band as a suggestion; the observer's judgement is stored.
GRADE_BANDS: tuple[tuple[float, Grade], ...] = (
    (90.0, Grade.EXCELLENT),
    (80.0, Grade.GOOD),
    (70.0, Grade.FAIR),
    (60.0, Grade.PASS),
    (0.0, Grade.FAIL),
)

OBSERVER_LEVEL_LABELS: dict[str, tuple[str, str]] = {
    ObserverLevel.SCHOOL_LEADER: ("校领导", "School leader"),
    ObserverLevel.COLLEGE_LEADER: ("院领导", "College leader"),
    ObserverLevel.PEER: ("同行教师", "Peer"),
    ObserverLevel.PRINCIPAL_ASSISTANT: ("校长助理", "Principal's assistant"),
}

MEETING_FORMAT_LABELS: dict[str, tuple[str, str]] = {
    MeetingFormat.TUTOR_MEETING: ("导师组会议", "Tutor-group meeting"),
    MeetingFormat.STUDENT_DISCUSSION: ("学生小组座谈", "Student group discussion"),
}

CLASS_DIMENSIONS: dict[str, tuple[str, str]] = {
    "attitude": ("教学态度", "Teaching attitude"),
    "content": ("教学内容", "Content"),
    "method": ("教学方法", "Method"),
    "organisation": ("教学组织", "Organisation"),
    "effect": ("教学效果", "Effect"),
}

TUTOR_DIMENSIONS: dict[str, tuple[str, str]] = {
    "plan_fit": ("培养方案契合度", "Training-plan fit"),
    "practice": ("实践教学", "Practice"),
    "guidance": ("导师指导", "Guidance"),
    "workload": ("学业负担", "Workload"),
    "support": ("支持保障", "Support"),
}

#: The dimensions an item of each kind may belong to. Aggregation maps items across
#: rubric versions by dimension, so a fixed list keeps a typo from splitting a figure.
DIMENSIONS: dict[str, dict[str, tuple[str, str]]] = {
    FeedbackKind.SPOT_CHECK: CLASS_DIMENSIONS,
    FeedbackKind.OPEN_CLASS: CLASS_DIMENSIONS,
    FeedbackKind.TUTOR_GROUP: TUTOR_DIMENSIONS,
}


def suggested_grade(score: float | None) -> Grade | None:
    """The grade band of an overall score (0–100), or None for no score."""
    if score is None:
        return None
    for bound, grade in GRADE_BANDS:
        if score >= bound:
            return grade
    return Grade.FAIL


# The same words for the reader's language: gettext (English source, Chinese in the
# catalogue), resolved when shown. Use these for anything a person reads. The (zh, en)
# tuples above are data, not display text: the importers accept either word, and the
# API returns both to programs that build their own forms.

KIND_NAMES: dict[str, LazyString] = {
    FeedbackKind.SPOT_CHECK: _l("Spot check"),
    FeedbackKind.OPEN_CLASS: _l("Open class"),
    FeedbackKind.TUTOR_GROUP: _l("Tutor group"),
}

GRADE_NAMES: dict[str, LazyString] = {
    Grade.EXCELLENT: _l("Excellent"),
    Grade.GOOD: _l("Good"),
    Grade.FAIR: _l("Fair"),
    Grade.PASS: _l("Pass"),
    Grade.FAIL: _l("Fail"),
}

OBSERVER_LEVEL_NAMES: dict[str, LazyString] = {
    ObserverLevel.SCHOOL_LEADER: _l("School leader"),
    ObserverLevel.COLLEGE_LEADER: _l("College leader"),
    ObserverLevel.PEER: _l("Peer"),
    ObserverLevel.PRINCIPAL_ASSISTANT: _l("Principal's assistant"),
}

MEETING_FORMAT_NAMES: dict[str, LazyString] = {
    MeetingFormat.TUTOR_MEETING: _l("Tutor-group meeting"),
    MeetingFormat.STUDENT_DISCUSSION: _l("Student group discussion"),
}

FEEDBACK_STATUS_NAMES: dict[str, LazyString] = {
    FeedbackStatus.DRAFT: _l("Draft"),
    FeedbackStatus.SUBMITTED: _l("Submitted"),
    FeedbackStatus.WITHDRAWN: _l("Withdrawn"),
}

#: How a record's history names each revision.
REVISION_ACTION_NAMES: dict[str, LazyString] = {
    RevisionAction.CREATE: _l("Created"),
    RevisionAction.EDIT: _l("Edited"),
    RevisionAction.SUBMIT: _l("Submitted"),
    RevisionAction.WITHDRAW: _l("Withdrawn"),
}

RUBRIC_STATUS_NAMES: dict[str, LazyString] = {
    RubricStatus.DRAFT: _l("Draft"),
    RubricStatus.PUBLISHED: _l("Published"),
    RubricStatus.RETIRED: _l("Retired"),
}

DIMENSION_NAMES: dict[str, LazyString] = {
    "attitude": _l("Teaching attitude"),
    "content": _l("Content"),
    "method": _l("Method"),
    "organisation": _l("Organisation"),
    "effect": _l("Effect"),
    "plan_fit": _l("Training-plan fit"),
    "practice": _l("Practice"),
    "guidance": _l("Guidance"),
    "workload": _l("Workload"),
    "support": _l("Support"),
}


def name_of(names: dict[str, LazyString], key: str | None) -> str:
    """The reader's word for ``key``, or the key itself for a value no list knows."""
    if key is None:
        return ""
    return str(names[key]) if key in names else key
