"""An independent computation of a term's aggregates, in plain Python, for the tests.

Written from the definitions in docs/aggregation.md, not from the SQL: it loads
the records and walks the tree by parent pointers, and computes every statistic
with Python's ``statistics`` module.
"""

from __future__ import annotations

import statistics
from collections import defaultdict
from typing import Any

from sqlmodel import Session, select

from evalsys.aggregation.flags import Settings
from evalsys.feedback.models import Feedback, FeedbackScore, RubricItem
from evalsys.org.models import Course, OrgUnit, Section, Term, TutorGroup

Key = tuple[str, int, str, str]  # level, unit id, kind, dimension


def _band(value: float) -> str:
    if value < 60:
        return "fail"
    if value < 70:
        return "pass"
    if value < 80:
        return "fair"
    if value < 90:
        return "good"
    return "excellent"


def previous_term(session: Session, term: Term) -> Term | None:
    earlier = [t for t in session.exec(select(Term)).all() if t.start_date < term.start_date]
    return max(earlier, key=lambda t: t.start_date) if earlier else None


def record_values(session: Session, feedback: Feedback) -> dict[str, float]:
    """Dimension -> weighted mean of the record's normalised item scores, x100; and overall."""
    rows = session.exec(
        select(FeedbackScore, RubricItem)
        .join(RubricItem, RubricItem.id == FeedbackScore.item_id)  # type: ignore[arg-type]
        .where(FeedbackScore.feedback_id == feedback.id)
    ).all()
    sums: dict[str, list[float]] = defaultdict(lambda: [0.0, 0.0])
    for score, item in rows:
        norm = (score.value - item.scale_min) / (item.scale_max - item.scale_min)
        sums[item.dimension][0] += item.weight * norm
        sums[item.dimension][1] += item.weight
    out = {dim: round(100 * s / w, 6) for dim, (s, w) in sums.items()}
    if feedback.overall_score is not None:
        out["overall"] = round(feedback.overall_score, 6)
    return out


def _org_ancestors(units: dict[int, OrgUnit], unit_id: int) -> dict[str, int]:
    """kind -> id for the unit and everything above it."""
    out: dict[str, int] = {}
    current: int | None = unit_id
    while current is not None:
        unit = units[current]
        out.setdefault(unit.kind, unit.id)  # type: ignore[arg-type]
        current = unit.parent_id
    return out


def expected(session: Session, term: Term, settings: Settings) -> dict[Key, dict[str, Any]]:
    """Every result row the aggregation must store for ``term``, keyed like the table."""
    prev = previous_term(session, term)
    current = _stats(session, term, settings)
    before = _stats(session, prev, settings) if prev else {}
    for key, row in current.items():
        parent = current.get((row["parent_level"], row["parent_id"], key[2], key[3]))
        sufficient = row["n"] >= settings.min_n
        row["parent_mean"] = row["parent_diff"] = row["parent_z"] = None
        row["prev_mean"] = row["prev_change"] = None
        if sufficient and parent and parent["n"] >= settings.min_n:
            row["parent_mean"] = parent["mean"]
            row["parent_diff"] = row["mean"] - parent["mean"]
            if parent["sd"]:
                row["parent_z"] = row["parent_diff"] / parent["sd"]
        old = before.get(key)
        if sufficient and old and old["n"] >= settings.min_n:
            row["prev_mean"] = old["mean"]
            row["prev_change"] = row["mean"] - old["mean"]
    return current


def expected_flags(rows: dict[Key, dict[str, Any]], settings: Settings) -> set[tuple]:
    out = set()
    for key, row in rows.items():
        if row["n"] < settings.min_n:
            continue
        if row["mean"] < row["own_threshold"]:
            out.add((*key, "below_threshold"))
        if row["prev_change"] is not None and row["prev_change"] <= -settings.drop:
            out.add((*key, "drop"))
        if row["parent_z"] is not None and row["parent_z"] <= -settings.parent_sd:
            out.add((*key, "below_parent"))
    return out


def _stats(session: Session, term: Term, settings: Settings) -> dict[Key, dict[str, Any]]:
    units = {u.id: u for u in session.exec(select(OrgUnit)).all()}
    sections = {s.id: s for s in session.exec(select(Section).where(Section.term_id == term.id))}
    courses = {c.id: c for c in session.exec(select(Course)).all()}
    values: dict[Key, list[tuple[float, int]]] = defaultdict(list)
    # Each value's own threshold (its record's kind's): a mixed row is held to their mean.
    thresholds: dict[Key, list[float]] = defaultdict(list)
    records = session.exec(
        select(Feedback).where(Feedback.term_id == term.id, Feedback.status == "submitted")
    ).all()
    for feedback in records:
        where: list[tuple[str, int]] = []
        if feedback.section_id is not None:
            section = session.get(Section, feedback.section_id)
            where += [("section", section.id), ("course", section.course_id)]  # type: ignore[union-attr]
        for kind, unit_id in _org_ancestors(units, feedback.department_id).items():
            where.append((kind, unit_id))
        for dim, value in record_values(session, feedback).items():
            for level, unit_id in where:
                for kind in (feedback.kind, "all"):
                    values[(level, unit_id, kind, dim)].append((value, feedback.observer_id))
                    own = settings.threshold_for(feedback.kind)
                    thresholds[(level, unit_id, kind, dim)].append(own)

    # Every unit of the term, with its parent, for the empty-unit rows and comparisons.
    parents: dict[tuple[str, int], tuple[str | None, int | None]] = {}
    for section in sections.values():
        parents[("section", section.id)] = ("course", section.course_id)  # type: ignore[index]
    for course_id in {s.course_id for s in sections.values()}:
        course = courses[course_id]
        parents[("course", course_id)] = (units[course.department_id].kind, course.department_id)
    for unit in units.values():
        parent = units.get(unit.parent_id) if unit.parent_id else None
        parents[(unit.kind, unit.id)] = (  # type: ignore[index]
            (parent.kind, parent.id) if parent else (None, None)
        )

    out: dict[Key, dict[str, Any]] = {}
    for key, pairs in values.items():
        vals = [v for v, _ in pairs]
        n = len(vals)
        bands = defaultdict(int)
        for v in vals:
            bands[_band(v)] += 1
        parent_level, parent_id = parents[(key[0], key[1])]
        out[key] = {
            "n": n,
            "observers": len({o for _, o in pairs}),
            "mean": statistics.fmean(vals),
            "sd": statistics.stdev(vals) if n > 1 else None,
            "median": statistics.median(vals),
            "minimum": min(vals),
            "maximum": max(vals),
            "bands": dict(bands),
            "insufficient": n < settings.min_n,
            "parent_level": parent_level,
            "parent_id": parent_id,
            "own_threshold": statistics.fmean(thresholds[key]),
        }
    seen_units = {(k[0], k[1]) for k in out}
    for (level, unit_id), (parent_level, parent_id) in parents.items():
        if (level, unit_id) not in seen_units:
            out[(level, unit_id, "all", "overall")] = {
                "n": 0,
                "observers": 0,
                "mean": None,
                "sd": None,
                "median": None,
                "minimum": None,
                "maximum": None,
                "bands": {},
                "insufficient": True,
                "parent_level": parent_level,
                "parent_id": parent_id,
            }
    return out


def expected_coverage(session: Session, term: Term) -> dict[tuple[str, int], dict[str, int]]:
    """(level, unit id) -> the coverage counts, from the sections, groups and records."""
    units = {u.id: u for u in session.exec(select(OrgUnit)).all()}
    courses = {c.id: c for c in session.exec(select(Course)).all()}
    sections = session.exec(select(Section).where(Section.term_id == term.id)).all()
    groups = session.exec(select(TutorGroup).where(TutorGroup.term_id == term.id)).all()
    records = session.exec(
        select(Feedback).where(Feedback.term_id == term.id, Feedback.status == "submitted")
    ).all()
    seen = {(f.section_id, f.kind) for f in records if f.section_id is not None}
    reported = {f.group_id for f in records if f.group_id is not None}

    acc: dict[tuple[str, int], dict[str, Any]] = {}

    def slot(key: tuple[str, int]) -> dict[str, Any]:
        return acc.setdefault(
            key,
            {
                "sections": 0,
                "sections_spot": 0,
                "sections_open": 0,
                "teachers": set(),
                "teachers_spot": set(),
                "teachers_open": set(),
                "tutor_groups": 0,
                "tutor_groups_reported": 0,
            },
        )

    for unit in units.values():
        slot((unit.kind, unit.id))  # type: ignore[arg-type]
    for section in sections:
        course = courses[section.course_id]
        keys = [("section", section.id), ("course", course.id)]
        keys += [(k, i) for k, i in _org_ancestors(units, course.department_id).items()]
        spot = (section.id, "spot_check") in seen
        open_ = (section.id, "open_class") in seen
        for key in keys:
            s = slot(key)  # type: ignore[arg-type]
            s["sections"] += 1
            s["sections_spot"] += spot
            s["sections_open"] += open_
            if section.teacher_id is not None:
                s["teachers"].add(section.teacher_id)
                if spot:
                    s["teachers_spot"].add(section.teacher_id)
                if open_:
                    s["teachers_open"].add(section.teacher_id)
    for group in groups:
        for key in _org_ancestors(units, group.department_id).items():
            s = slot(key)
            s["tutor_groups"] += 1
            s["tutor_groups_reported"] += group.id in reported
    return {
        key: {name: len(v) if isinstance(v, set) else v for name, v in counts.items()}
        for key, counts in acc.items()
    }
