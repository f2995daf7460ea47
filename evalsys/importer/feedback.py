"""Historical feedback from ``feedback.csv``, imported with the other files of ``evalsys import``.

Each row is one record, checked exactly as the forms and the API check theirs
(:meth:`FeedbackInput.from_mapping`, then :func:`check_feedback` through
:func:`submit_feedback`) and reported as ``feedback.csv, row N, column C``.
The observer named on a row must be allowed to give that kind of feedback on
that section or group, as if they entered it themselves; the import records it
for them (its revision names no user and says which row it came from).

Re-importing changes nothing: each row's idempotency key is a hash of what it
says (observer, kind, target, date, every value), so a row already imported
finds its record and counts as unchanged. A row changed after its import is a
new record; correct imported records in the app instead.

The import (:mod:`evalsys.importer.service`) calls :func:`import_with_org` once
the other files passed their checks: their rows are applied in a savepoint (a
feedback row may name a section or an observer of the same import), the feedback
rows checked and stored, and the savepoint undone on any error or in a dry run.
When the other files have errors, :func:`check_cells` still reports what each
feedback row gets wrong on its own.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Iterable, Mapping
from dataclasses import asdict, dataclass, field
from datetime import date

from flask_babel import lazy_gettext as _l
from sqlmodel import Session, col, select

from evalsys.accounts.models import User
from evalsys.feedback.checks import check_feedback
from evalsys.feedback.columns import COLUMNS, OPTIONAL_COLUMNS, SCORE_PREFIX
from evalsys.feedback.inputs import (
    FeedbackError,
    FeedbackInput,
    FeedbackPermissionError,
    FeedbackValidationError,
    Message,
)
from evalsys.feedback.models import Feedback, FeedbackRevision
from evalsys.feedback.vocab import (
    GRADE_LABELS,
    KIND_LABELS,
    MEETING_FORMAT_LABELS,
    OBSERVER_LEVEL_LABELS,
    Grade,
)
from evalsys.feedback.writes import submit_feedback
from evalsys.importer.common import ImportIssue
from evalsys.org.models import Section, TutorGroup
from evalsys.validation import text_problem

FEEDBACK_FILE = "feedback.csv"
#: Idempotency keys of imported rows start with this.
KEY_PREFIX = "import:"

Table = list[dict[str, str]]


def _words(labels: Mapping[str, tuple[str, str]]) -> dict[str, str]:
    """Each code, its Chinese label and its English label (any case) -> the code."""
    out: dict[str, str] = {}
    for code, (zh, en) in labels.items():
        out.update({str(code): str(code), zh: str(code), en.lower(): str(code)})
    return out


#: What the ``overall`` column accepts: the grade codes, their labels, and the other
#: usual Chinese words for the same five bands (及格/不及格 beside 合格/不合格).
GRADE_WORDS: dict[str, str] = _words(GRADE_LABELS) | {
    "及格": Grade.PASS.value,
    "不及格": Grade.FAIL.value,
}
KIND_WORDS = _words(KIND_LABELS) | {"spot check": "spot_check", "open class": "open_class"}
_CHOICE_WORDS = {
    "observer_level": _words(OBSERVER_LEVEL_LABELS),
    "meeting_format": _words(MEETING_FORMAT_LABELS),
}


def column_of(field_name: str) -> str | None:
    """The CSV column of a service field name (``scores.CODE`` -> ``score:CODE``)."""
    if field_name.startswith("scores."):
        return SCORE_PREFIX + field_name.removeprefix("scores.")
    if field_name in ("", "scores"):
        return None
    return {"overall_grade": "overall"}.get(field_name, field_name)


@dataclass
class FeedbackImport:
    """What the rows would do (or did): every problem, or how many records are new."""

    issues: list[ImportIssue] = field(default_factory=list)
    created: int = 0
    unchanged: int = 0

    def counts(self) -> dict[str, int]:
        return {"created": self.created, "updated": 0, "unchanged": self.unchanged}


@dataclass
class _Row:
    number: int
    observer: User
    data: FeedbackInput
    key: str


class _Reader:
    """Reads rows into FeedbackInputs, recording a located issue for every bad cell."""

    def __init__(self, session: Session, issues: list[ImportIssue], pending_users: set[str]):
        self.session = session
        self.issues = issues
        self.pending_users = pending_users
        self.users: dict[str, User | None] = {}
        self.keys: dict[str, int] = {}

    def error(self, row: int | None, column: str | None, message: Message) -> None:
        """A problem at a row and column; the message is shown in the reader's language."""
        self.issues.append(ImportIssue(FEEDBACK_FILE, row, column, message))

    def header(self, rows: Table) -> bool:
        columns = {column for row in rows for column in row}
        missing = [column for column in COLUMNS if column not in columns]
        if missing:
            self.error(
                1,
                ", ".join(missing),
                _l(
                    "missing column(s) %(missing)s; the header (row 1) must name %(columns)s "
                    "and a %(prefix)sITEM_CODE column per rubric item",
                    missing=", ".join(missing),
                    columns=", ".join(COLUMNS),
                    prefix=SCORE_PREFIX,
                ),
            )
        for column in sorted(columns):
            if column.startswith(SCORE_PREFIX) and not column.removeprefix(SCORE_PREFIX):
                self.error(1, column, _l("a score column names its item: score:ITEM_CODE"))
        return not self.issues

    def rows(self, rows: Table) -> Iterable[_Row]:
        for number, cells in enumerate(rows, start=2):
            if not any(cells.values()):
                continue  # an empty line, or one Excel filled with commas only
            row = self.row(number, cells)
            if row is not None:
                yield row

    def row(self, number: int, cells: Mapping[str, str]) -> _Row | None:
        before = len(self.issues)
        for column, value in cells.items():
            if (problem := text_problem(value)) is not None:
                self.error(number, column, problem)
        if len(self.issues) > before:
            return None
        observer = self.observer(number, cells.get("observer", ""))
        mapping: dict[str, object] = {
            name: cells[name]
            for name in ("section", "group", "date", "comment", *OPTIONAL_COLUMNS)
            if name in cells
        }
        kind = cells.get("kind", "")
        mapping["kind"] = KIND_WORDS.get(kind.lower(), KIND_WORDS.get(kind, kind))
        for name, words in _CHOICE_WORDS.items():
            value = cells.get(name, "")
            mapping[name] = words.get(value.lower(), words.get(value, value))
        mapping["overall_grade"] = self.grade(number, cells.get("overall", ""))
        mapping["scores"] = {
            column.removeprefix(SCORE_PREFIX): value
            for column, value in cells.items()
            if column.startswith(SCORE_PREFIX) and column != SCORE_PREFIX and value
        }
        try:
            data = FeedbackInput.from_mapping(mapping)
        except FeedbackValidationError as err:
            self.located(number, err)
            return None
        if observer is None or len(self.issues) > before:
            return None
        key = row_key(observer.username, data)
        if key in self.keys:
            self.error(
                number,
                None,
                _l(
                    "the same record as row %(row)s (same observer, date and values); "
                    "remove one of them",
                    row=self.keys[key],
                ),
            )
            return None
        self.keys[key] = number
        return _Row(number, observer, data, key)

    def observer(self, number: int, username: str) -> User | None:
        if not username:
            self.error(
                number, "observer", _l("missing value: every row needs the observer's username")
            )
            return None
        if username not in self.users:
            stmt = select(User).where(User.username == username)
            self.users[username] = self.session.exec(stmt).first()
        user = self.users[username]
        if user is None:
            if username not in self.pending_users:
                self.error(
                    number,
                    "observer",
                    _l(
                        "unknown user '%(username)s': neither in people.csv nor in the database",
                        username=username,
                    ),
                )
            return None
        if not user.active:
            self.error(
                number,
                "observer",
                _l(
                    "the account '%(username)s' is deactivated; reactivate it for the import",
                    username=username,
                ),
            )
            return None
        return user

    def grade(self, number: int, value: str) -> str | None:
        if not value:
            return None
        grade = GRADE_WORDS.get(value.lower(), GRADE_WORDS.get(value))
        if grade is None:
            self.error(
                number,
                "overall",
                _l(
                    "unknown grade '%(value)s'; one of excellent, good, fair, pass, fail "
                    "(or 优秀, 良好, 中等, 及格/合格, 不及格/不合格)",
                    value=value,
                ),
            )
        return grade

    def located(self, number: int, err: FeedbackError, observer: User | None = None) -> None:
        if isinstance(err, FeedbackValidationError):
            for name, message in err.errors:
                self.error(number, column_of(name), message)
        elif isinstance(err, FeedbackPermissionError):
            if observer is None:
                message = err.text
            else:
                message = _l(
                    "observer '%(username)s': %(problem)s",
                    username=observer.username,
                    problem=err.text,
                )
            self.error(number, column_of(err.field or ""), message)
        else:
            self.error(number, None, err.args[0] if err.args else str(err))


def row_key(username: str, data: FeedbackInput) -> str:
    """The row's idempotency key: a hash of who observed and everything the row says."""
    content = asdict(data)
    content["date"] = data.date.isoformat() if data.date else None
    content["observer"] = username
    text = json.dumps(content, sort_keys=True, ensure_ascii=False, separators=(",", ":"))
    return KEY_PREFIX + hashlib.sha256(text.encode("utf-8")).hexdigest()


def check_cells(session: Session, rows: Table, *, pending_users: set[str]) -> list[ImportIssue]:
    """What each row gets wrong on its own (while the other files of the import have errors).

    Sections, groups, terms and roles may still change with those files, so the
    checks against them wait; ``pending_users`` are usernames of people.csv.
    """
    issues: list[ImportIssue] = []
    reader = _Reader(session, issues, pending_users)
    if reader.header(rows):
        for _ in reader.rows(rows):
            pass
    return issues


def import_feedback(
    session: Session, rows: Table, *, dry_run: bool = False, today: date | None = None
) -> FeedbackImport:
    """Check every row against the session's data and, unless a dry run, store the new ones.

    Stops storing at the first problem but goes on checking; with any problem
    the caller must roll back (what was stored is then undone with the rest).
    """
    outcome = FeedbackImport()
    reader = _Reader(session, outcome.issues, set())
    if not reader.header(rows):
        return outcome
    rows_read = list(reader.rows(rows))
    stored = _stored_keys(session, {row.key for row in rows_read})
    for row in rows_read:
        if (row.observer.id, row.key) in stored:
            outcome.unchanged += 1
            continue
        unknown = _unknown_code(session, row.data)
        if unknown is not None:
            reader.located(row.number, FeedbackValidationError([unknown]), row.observer)
            continue
        try:
            if dry_run or outcome.issues:
                check_feedback(session, user=row.observer, data=row.data, today=today)
            else:
                feedback = submit_feedback(
                    session,
                    user=row.observer,
                    observer=row.observer,
                    data=row.data,
                    idempotency_key=row.key,
                    today=today,
                )
                _mark_imported(session, feedback, row.number)
        except FeedbackError as err:
            reader.located(row.number, err, row.observer)
            continue
        outcome.created += 1
    outcome.issues.sort(key=lambda issue: issue.row or 0)  # stable: a row's own order stays
    return outcome


def _unknown_code(session: Session, data: FeedbackInput) -> tuple[str, Message] | None:
    """A section or group code that names nothing, said plainly.

    The checks answer an unknown code like one outside the observer's scope (so
    the forms and the API never tell whether a code exists); the importing school
    admin sees every section anyway, and a typo deserves its own words.
    """
    if (
        data.section
        and not session.exec(select(Section.id).where(Section.code == data.section.strip())).first()
    ):
        code = data.section.strip()
        return ("section", _l("there is no section with the code '%(code)s'", code=code))
    if (
        data.group
        and not session.exec(
            select(TutorGroup.id).where(TutorGroup.code == data.group.strip())
        ).first()
    ):
        code = data.group.strip()
        return ("group", _l("there is no tutor group with the code '%(code)s'", code=code))
    return None


def _stored_keys(session: Session, keys: set[str]) -> set[tuple[int, str]]:
    """(observer id, key) of the records earlier imports stored with these keys."""
    found: set[tuple[int, str]] = set()
    ordered = sorted(keys)
    for start in range(0, len(ordered), 500):
        chunk = ordered[start : start + 500]
        stmt = select(Feedback.observer_id, Feedback.idempotency_key).where(
            col(Feedback.idempotency_key).in_(chunk)
        )
        found |= {(observer, key) for observer, key in session.exec(stmt).all() if key}
    return found


def _mark_imported(session: Session, feedback: Feedback, number: int) -> None:
    """The record's first revision: made by the import (no user), from this row."""
    revision = session.exec(
        select(FeedbackRevision).where(FeedbackRevision.feedback_id == feedback.id)
    ).one()
    revision.user_id = None
    revision.changes = {**revision.changes, "source": [None, f"{FEEDBACK_FILE} row {number}"]}
    session.add(revision)


def import_with_org(
    session: Session,
    rows: Table,
    *,
    apply_org: Callable[[], None],
    dry_run: bool,
    today: date | None = None,
) -> tuple[list[ImportIssue], dict[str, int]]:
    """Apply the other files' rows, then import the feedback rows, all in one savepoint.

    The savepoint is undone when a feedback row has a problem and in a dry run,
    so the session is left as it was; otherwise everything stays for the caller
    to commit. Returns the problems and the feedback counts.
    """
    savepoint = session.begin_nested()
    try:
        apply_org()
        session.flush()
        outcome = import_feedback(session, rows, dry_run=dry_run, today=today)
        session.flush()
    except BaseException:
        savepoint.rollback()
        raise
    if outcome.issues or dry_run:
        savepoint.rollback()
    else:
        savepoint.commit()
    return outcome.issues, outcome.counts()
