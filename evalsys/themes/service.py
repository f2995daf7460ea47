"""Recurring themes of a unit's term: what several observers wrote about on several records.

All the term's comment texts of the unit's subtree (and of the previous term, for the
trend) are fetched in one query and cut in Python: themes are computed on the fly, there
is no table to keep up to date. ``themes_for_unit`` is the one entry point, for the unit
page, the loop's proposals and (later) the reports.

A theme recurs when it is found on records of at least ``min_observers`` distinct
observers (2 by default, ``THEMES_MIN_OBSERVERS`` on a site): one observer's habit of
phrase is not a pattern. At college and school level a quote never names a teacher:
it carries no section code, and the teacher's name (and 王老师-style forms) and the
section code are blanked out of its text. At department level the section is given
only when the caller says the reader may see feedback records (``show_sections``).
"""

from __future__ import annotations

import re
from collections import defaultdict
from dataclasses import dataclass, field

from flask import current_app, has_app_context
from sqlalchemy import bindparam, text
from sqlmodel import Session

from evalsys.org.models import OrgUnit, Term
from evalsys.org.terms import previous_term
from evalsys.themes.detect import excerpt, mentions
from evalsys.themes.dictionary import themes

#: The fields an observer writes in, and which side of the lesson each speaks of.
FIELDS: dict[str, str] = {
    "strengths": "strength",
    "problems": "problem",
    "suggestions": "problem",
    "comment": "remark",
}
_SIDE_ORDER = {"problem": 0, "remark": 1, "strength": 2}
MIN_OBSERVERS = 2
QUOTES = 3
#: What replaces a teacher's name or a section code in a quote shown above a department.
BLANK = "＊＊"

_TEXTS = text(
    """
SELECT f.id, f.term_id, f.observer_id, f.strengths, f.problems, f.suggestions, f.comment,
       COALESCE(s.code, g.code) AS target_code, u.name AS teacher_name
FROM feedback f
JOIN org_unit_closure c ON c.descendant_id = f.department_id AND c.ancestor_id = :unit_id
LEFT JOIN section s ON s.id = f.section_id
LEFT JOIN tutor_group g ON g.id = f.group_id
LEFT JOIN user_account u ON u.id = COALESCE(s.teacher_id, g.tutor_id)
WHERE f.term_id IN :term_ids AND f.status = 'submitted'
ORDER BY f.id
"""
).bindparams(bindparam("term_ids", expanding=True))


@dataclass
class Quote:
    text: str
    side: str
    feedback_id: int
    #: The section (or tutor group) code; None where the reader may not see it.
    target: str | None


@dataclass
class ThemeCount:
    key: str
    zh_label: str
    en_label: str
    records: int
    observers: int
    #: Records that name it among problems or suggestions, and among strengths.
    problem_records: int
    strength_records: int
    #: Records of the previous term that name it (None: no previous term).
    previous: int | None
    quotes: list[Quote] = field(default_factory=list)
    feedback_ids: list[int] = field(default_factory=list)

    def label(self, locale: str) -> str:
        return self.zh_label if locale.startswith("zh") else self.en_label

    @property
    def trend(self) -> str:
        """up, down, same or new (no previous term: none)."""
        if self.previous is None:
            return "none"
        if self.previous == 0:
            return "new"
        return (
            "up"
            if self.records > self.previous
            else "down"
            if self.records < self.previous
            else "same"
        )

    @property
    def side(self) -> str:
        """problem, strength or mixed: what most of its records say of it."""
        if self.problem_records and not self.strength_records:
            return "problem"
        if self.strength_records and not self.problem_records:
            return "strength"
        return "mixed"


def min_observers_setting() -> int:
    """The site's ``THEMES_MIN_OBSERVERS`` (instance config or ``EVALSYS_`` variable), or 2."""
    if has_app_context():
        return int(current_app.config.get("THEMES_MIN_OBSERVERS", MIN_OBSERVERS))
    return MIN_OBSERVERS


def blank_names(quote: str, names: list[str]) -> str:
    """``quote`` with each of ``names`` (and a Chinese surname + 老师) replaced by a blank.

    Longest first, so a full name is blanked before a part of it could leave the rest
    readable; shared by the themes' quotes and the weekly bulletin's comments, which travel
    beyond the department the teacher belongs to.
    """
    for name in sorted({n for n in names if n}, key=len, reverse=True):
        quote = quote.replace(name, BLANK)
        if re.search(r"[\u3400-\u9fff]", name):
            quote = quote.replace(name[0] + "老师", BLANK + "老师")
    return quote


def themes_for_unit(
    session: Session,
    unit_id: int,
    term_id: int,
    *,
    min_observers: int | None = None,
    show_sections: bool = False,
    quotes: int = QUOTES,
) -> list[ThemeCount]:
    """The recurring themes of the unit's subtree in the term, most records first.

    ``show_sections`` is honoured at department level only: above it, no quote names
    a section or its teacher, whoever reads. Where no section is shown, the teacher's
    name and the section code are blanked out of the quotes too. ``min_observers``
    None: the site's setting (:func:`min_observers_setting`).
    """
    if min_observers is None:
        min_observers = min_observers_setting()
    unit = session.get(OrgUnit, unit_id)
    term = session.get(Term, term_id)
    if unit is None or term is None:
        return []
    prev = previous_term(session, term)
    term_ids = [term_id] + ([prev.id] if prev is not None and prev.id is not None else [])
    rows = session.execute(_TEXTS, {"unit_id": unit_id, "term_ids": term_ids}).mappings().all()
    anonymous = unit.kind != "department"
    sections = show_sections and not anonymous

    records: dict[str, set[int]] = defaultdict(set)
    observers: dict[str, set[int]] = defaultdict(set)
    sides: dict[tuple[str, str], set[int]] = defaultdict(set)
    before: dict[str, set[int]] = defaultdict(set)
    found: dict[str, list[Quote]] = defaultdict(list)
    for row in rows:
        current = row["term_id"] == term_id
        for name, side in FIELDS.items():
            words = row[name]
            for m in mentions(words):
                if not current:
                    before[m.theme].add(row["id"])
                    continue
                records[m.theme].add(row["id"])
                observers[m.theme].add(row["observer_id"])
                sides[(m.theme, side)].add(row["id"])
                pool = found[m.theme]
                if row["id"] in {q.feedback_id for q in pool} or (
                    sum(q.side == side for q in pool) >= quotes
                ):
                    continue
                q = excerpt(words, m)
                if not sections:
                    q = blank_names(q, [row["teacher_name"], row["target_code"]])
                # The same words on several records (a phrase an observer keeps) are quoted once.
                if q not in {other.text for other in pool}:
                    pool.append(Quote(q, side, row["id"], row["target_code"] if sections else None))
    out = []
    for key, theme in themes().items():
        if len(observers[key]) < min_observers or len(records[key]) < 2:
            continue
        out.append(
            ThemeCount(
                key=key,
                zh_label=theme.zh_label,
                en_label=theme.en_label,
                records=len(records[key]),
                observers=len(observers[key]),
                problem_records=len(sides[(key, "problem")]),
                strength_records=len(sides[(key, "strength")]),
                previous=len(before[key]) if prev is not None else None,
                # Problems first: what a reader (and the loop) acts on.
                quotes=sorted(found[key], key=lambda q: _SIDE_ORDER[q.side])[:quotes],
                feedback_ids=sorted(records[key]),
            )
        )
    out.sort(key=lambda t: (-t.records, -t.observers, t.key))
    return out
