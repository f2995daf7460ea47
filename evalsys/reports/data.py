"""The data of one unit's term report: plain values (dicts, lists, numbers, text).

:func:`report_data` runs a fixed number of queries whatever the size of the
unit (about fifteen: no query per row) and returns values only — no ORM object
leaves this module, so templates and charts never trigger a lazy load, and the
whole thing can be hashed (``input_hash``) to tell whether a report changed.

What a PDF holds (decided here): the unit's own part in full, and its children
compact — each child one row of the children table (n, mean, change, coverage,
flags) pointing to the child's own report (``report_path``, ``report_file``).
School and college reports hold no part per child: their children's dimension
tables, charts and comments are in the children's own reports, and only a few
comments per child are quoted, where they explain a flag or a problem
(:func:`_explaining_comments`). A department report keeps one part per course (with its
sections), and the observers' comments on each course. Dimension rows that would
only say "too few" are collapsed into one line naming them (``few_rows``).
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Mapping, Sequence
from datetime import datetime
from functools import cache
from typing import Any
from urllib.parse import quote

from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from sqlalchemy import text
from sqlmodel import Session, col, select

from evalsys.accounts.models import Role, RoleGrant, User
from evalsys.aggregation import read
from evalsys.aggregation.flags import Settings
from evalsys.aggregation.models import ALL_KINDS, OVERALL, Level
from evalsys.aggregation.read import BAND_LABELS
from evalsys.aggregation.row import BANDS
from evalsys.aggregation.service import AggregationError, find_term, last_run
from evalsys.clock import local_today, to_site_time
from evalsys.feedback.vocab import (
    DIMENSION_NAMES,
    DIMENSIONS,
    GRADE_NAMES,
    KIND_NAMES,
    OBSERVER_LEVEL_NAMES,
    FeedbackKind,
    name_of,
)
from evalsys.i18n import current_locale, fmt_date, fmt_num, localized
from evalsys.loop.report import report_section as loop_section
from evalsys.org import hierarchy
from evalsys.org.models import OrgUnit, Term
from evalsys.reports import plans_and_themes

#: The level of a unit's children.
CHILD_LEVEL = {
    Level.SCHOOL.value: Level.COLLEGE.value,
    Level.COLLEGE.value: Level.DEPARTMENT.value,
    Level.DEPARTMENT.value: Level.COURSE.value,
    Level.COURSE.value: Level.SECTION.value,
}
#: A unit's level, in the reader's language.
LEVEL_NAMES = {
    "school": _l("School"),
    "college": _l("College"),
    "department": _l("Department"),
    "course": _l("Course"),
    "section": _l("Section"),
}
#: The heading over a table of a unit's children, per the children's level.
CHILDREN_NAMES = {
    "college": _l("Colleges"),
    "department": _l("Departments"),
    "course": _l("Courses"),
    "section": _l("Sections"),
}
#: The roles a unit's report is for (who holds them on the unit itself).
REPORT_ROLES = (Role.LEADER.value, Role.DEAN.value, Role.HEAD.value)
ROLE_NAMES = {
    Role.LEADER.value: _l("Leader"),
    Role.DEAN.value: _l("Dean"),
    Role.HEAD.value: _l("Head of department"),
    Role.ADMIN.value: _l("Administrator"),
}
#: How an observer is named when names are not shown, per kind.
OBSERVER_ROLE_NAMES = {
    FeedbackKind.SPOT_CHECK.value: _l("Supervisor"),
    FeedbackKind.OPEN_CLASS.value: _l("Observer"),
    FeedbackKind.TUTOR_GROUP.value: _l("Tutor"),
}
#: What each coverage share counts: (part, whole, label).
COVERAGE_NAMES = (
    ("sections_spot", "sections", _l("Sections spot-checked")),
    ("sections_open", "sections", _l("Sections with an open class")),
    ("teachers_spot", "teachers", _l("Teachers spot-checked")),
    ("tutor_groups_reported", "tutor_groups", _l("Tutor groups reporting")),
)
#: Terms shown in the trend, the current one included.
TREND_TERMS = 6
#: Kinds in the order reports show them.
KIND_ORDER = [k.value for k in FeedbackKind]
#: Levels whose reports hold a part (charts, dimensions, comments) per child.
PART_LEVELS = (Level.DEPARTMENT.value,)
#: At most this many comments per child in a school or college report, each explaining a
#: flag (the child is flagged) or a problem (the record scored below its kind's threshold).
COMMENTS_PER_CHILD = 3

_UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")


def safe_name(code: str) -> str:
    """A code as a file name: anything but letters, digits, dot, dash and underscore -> '_'."""
    name = _UNSAFE.sub("_", code).strip(".")
    return name or "_"


def report_file(unit_code: str, locale: str) -> str:
    """The file name of a unit's report in a language (``UNIT.LOCALE.pdf``, see render)."""
    return f"{safe_name(unit_code)}.{safe_name(locale)}.pdf"


def report_link(term_code: str, unit_code: str, locale: str) -> str:
    """The path of a unit's report on the site (``reports.download``), in a language.

    Built by hand, not by ``url_for``: a report is rendered outside any request.
    """
    return f"/reports/{quote(term_code)}/{quote(unit_code)}.pdf?lang={quote(locale)}"


class ReportError(Exception):
    """A report that cannot be made (unknown term or unit, no aggregation yet)."""


def _site_time(moment: datetime | None, config: Mapping[str, Any]) -> str | None:
    """A stored UTC time as ``YYYY-MM-DD HH:MM`` in ``SCHEDULER_TIMEZONE``."""
    if moment is None:
        return None
    return to_site_time(moment, config).strftime("%Y-%m-%d %H:%M")


def report_settings(config: Mapping[str, Any]) -> dict[str, Any]:
    """The report's own settings (config keys REPORT_*), as plain values."""
    return {
        "show_observer_names": bool(config.get("REPORT_SHOW_OBSERVER_NAMES", False)),
        "comments_per_part": int(config.get("REPORT_COMMENTS_PER_PART", 20)),
    }


def report_data(
    session: Session,
    *,
    term_code: str,
    unit_code: str,
    config: Mapping[str, Any],
    locale: str | None = None,
) -> dict[str, Any]:
    """Everything one unit's report shows, except the date it is generated (see render).

    Every word in it is in ``locale`` (None: the current one; an app context is needed), and
    the locale is part of the data: a report's hash differs between its languages.
    """
    from evalsys.i18n import in_locale

    if locale is None:
        return _report_data(session, term_code=term_code, unit_code=unit_code, config=config)
    with in_locale(locale):
        return _report_data(session, term_code=term_code, unit_code=unit_code, config=config)


def _report_data(
    session: Session, *, term_code: str, unit_code: str, config: Mapping[str, Any]
) -> dict[str, Any]:
    opts = report_settings(config)
    try:
        term = find_term(session, term_code)
    except AggregationError as err:
        raise ReportError(str(err)) from err
    unit = session.exec(select(OrgUnit).where(OrgUnit.code == unit_code)).first()
    if unit is None:
        raise ReportError(
            f"no unit '{unit_code}' (reports are made for the school, colleges and departments)"
        )
    assert unit.id is not None and term.id is not None
    run = last_run(session, term.id, succeeded=True)
    if run is None:
        raise ReportError(
            f"term {term.code} has not been aggregated; run `evalsys aggregate --term "
            f"{term.code}` first"
        )
    settings = {**Settings().recorded(), **(run.settings or {})}
    level = unit.kind
    child_level = CHILD_LEVEL[level]
    grandchild_level = CHILD_LEVEL[child_level]
    levels = [level, child_level, grandchild_level]
    rows = read.results_below(session, term_id=term.id, unit_id=unit.id, levels=levels)
    trail = [
        {"code": a.code, "name": localized(a, "name"), "level": a.kind}
        for a in hierarchy.ancestors(session, unit.id)
    ]
    parent = trail[-2] if len(trail) > 1 else None
    parent_rows: list[dict[str, Any]] = []
    if parent is not None and unit.parent_id is not None:
        parent_rows = read.results_below(
            session, term_id=term.id, unit_id=unit.parent_id, levels=[parent["level"]]
        )

    by_unit = _index(rows)
    teachers = _section_teachers(session, term.id, unit.id) if level == "department" else {}
    own = by_unit.get((level, unit.code), {})
    locale = current_locale()
    parts = [
        _part(
            own,
            by_unit,
            level=level,
            code=unit.code,
            name=localized(unit, "name"),
            parent=parent,
            parent_results=_index(parent_rows).get((parent["level"], parent["code"]), {})
            if parent
            else {},
            depth=1,
            teachers=teachers,
            min_n=settings["min_n"],
        )
    ]
    with_parts = level in PART_LEVELS
    for child in parts[0]["children"]:
        if not with_parts:
            # Compact: one row of the children table, pointing to the child's own report.
            child["report_path"] = report_link(term.code, child["code"], locale)
            child["report_file"] = report_file(child["code"], locale)
            child["comments"] = []
            child["comments_total"] = 0
            continue
        parts.append(
            _part(
                by_unit.get((child_level, child["code"]), {}),
                by_unit,
                level=child_level,
                code=child["code"],
                name=child["name"],
                parent={"code": unit.code, "name": localized(unit, "name"), "level": level},
                parent_results=own,
                depth=2,
                teachers=teachers,
                min_n=settings["min_n"],
            )
        )
        parts[-1]["title"] = child["title"]
        parts[-1]["matrix"] = _matrix(parts[-1])
    parts[0]["title"] = localized(unit, "name")
    for part in parts:
        part["outline"] = outline_label(part["level_label"], part["title"])

    _add_trends(session, term, parts, level, child_level, unit.id)
    for part in parts:
        part["comments"] = []
        part["comments_total"] = 0
        part["comments_here"] = False
    if with_parts:
        comments, totals = _comments(
            session,
            term.id,
            unit.id,
            level,
            limit=opts["comments_per_part"],
            show_names=opts["show_observer_names"],
        )
        leaf_parts = parts[1:] if len(parts) > 1 else parts
        for part in leaf_parts:
            part["comments_here"] = True
        # Tutor-group comments of a department belong to no course: the department part
        # keeps them.
        keyed = {(p["level"], p["code"]): p for p in parts}
        for key, items in comments.items():
            target = keyed.get(key) or parts[0]
            target["comments"].extend(items)
            target["comments_total"] += totals.get(key, len(items))
            target["comments_here"] = True
    else:
        _explaining_comments(
            session, term.id, unit.id, level, parts[0], settings, opts["show_observer_names"]
        )
    # A child without a single record this term gets a line, not a page of empty tables:
    # those parts come last, compact (the children table and "needs attention" name them).
    for part in parts[1:]:
        part["empty"] = part["overall"]["n"] == 0 and not part["comments"]
    parts[1:] = sorted(parts[1:], key=lambda p: p["empty"])

    return {
        "locale": locale,
        # Where the children's reports are (their links in the PDF): BASE_URL (or
        # LOOP_BASE_URL) before each path; empty: the path alone.
        "site": str(config.get("BASE_URL") or config.get("LOOP_BASE_URL") or "").rstrip("/"),
        "with_parts": with_parts,
        "comments_per_child": COMMENTS_PER_CHILD,
        "term": {
            "code": term.code,
            "name": localized(term, "name"),
            "start": term.start_date.isoformat(),
            "end": term.end_date.isoformat(),
            "start_text": fmt_date(term.start_date),
            "end_text": fmt_date(term.end_date),
        },
        "unit": {
            "code": unit.code,
            "name": localized(unit, "name"),
            # The other language's name, shown under the title when it differs.
            "other_name": unit.name if localized(unit, "name") != unit.name else unit.name_en,
            "level": level,
            "level_label": str(LEVEL_NAMES[level]),
        },
        "trail": trail,
        "parent": parent,
        "for_whom": _for_whom(session, unit.id),
        "run": {
            "id": run.id,
            "final": run.final,
            # On the site's clock, as the report's "generated" time beside it.
            "finished": _site_time(run.finished_at, config),
            "records": run.record_count,
        },
        "settings": settings,
        "options": opts,
        "child_level": child_level,
        "child_level_label": str(LEVEL_NAMES[child_level]),
        "children_label": str(CHILDREN_NAMES[child_level]),
        "parts": parts,
        "course_dimensions": _course_dimensions(parts[1:]) if with_parts else None,
        "attention": _attention(parts),
        "loop": loop_section(session, term=term, unit_id=unit.id),
        # Departments and colleges decide training-plan changes; the school's report has its
        # colleges' reports for them.
        "plans": plans_and_themes.plan_changes(
            session, unit_id=unit.id, term_id=term.id, today=local_today(config)
        )
        if level in ("department", "college")
        else None,
        "themes": plans_and_themes.recurring_themes(
            session, unit_id=unit.id, term_id=term.id, config=config
        ),
        "bands": [
            {"band": b, "label": BAND_LABELS[b], "name": name_of(GRADE_NAMES, b)} for b in BANDS
        ],
        "kinds": [{"kind": k, "label": name_of(KIND_NAMES, k)} for k in KIND_ORDER],
    }


def input_hash(data: Mapping[str, Any], version: str) -> str:
    """A content hash of the report data and of the template/stylesheet/chart version."""
    blob = json.dumps(data, sort_keys=True, ensure_ascii=False, default=str)
    return hashlib.sha256(f"{version}\n{blob}".encode()).hexdigest()


# --- results, indexed ----------------------------------------------------------------------


def _index(rows: list[dict[str, Any]]) -> dict[tuple[str, str], dict[tuple[str, str], dict]]:
    """(level, unit code) -> (kind, dimension) -> row."""
    out: dict[tuple[str, str], dict[tuple[str, str], dict]] = {}
    for row in rows:
        out.setdefault((row["level"], row["unit_code"]), {})[(row["kind"], row["dimension"])] = row
    return out


def _figure(row: Mapping[str, Any] | None) -> dict[str, Any]:
    """The figures of one result a report shows (all None for a unit without that result)."""
    if row is None:
        return {
            "n": 0,
            "mean": None,
            "sd": None,
            "median": None,
            "insufficient": True,
            "observers": 0,
            "min": None,
            "max": None,
            "parent_mean": None,
            "parent_diff": None,
            "prev_mean": None,
            "prev_change": None,
            "flags": [],
        }
    return {
        "n": row["n"],
        "observers": row["observers"],
        "mean": _r(row["mean"]),
        "sd": _r(row["sd"]),
        "median": _r(row["median"]),
        "min": _r(row["min"]),
        "max": _r(row["max"]),
        "insufficient": row["insufficient"],
        "parent_mean": _r(row["parent_mean"]),
        "parent_diff": _r(row["parent_diff"]),
        "prev_mean": _r(row["prev_mean"]),
        "prev_change": _r(row["prev_change"]),
        "flags": [{"flag": f["flag"], "reason": f["reason"]} for f in row["flags"]],
    }


def _r(value: float | None) -> float | None:
    """Stored figures rounded to 6 places: the hash must not see floating-point noise."""
    return None if value is None else round(float(value), 6)


def _part(
    results: dict[tuple[str, str], dict],
    by_unit: dict[tuple[str, str], dict[tuple[str, str], dict]],
    *,
    level: str,
    code: str,
    name: str,
    parent: dict[str, Any] | None,
    parent_results: dict[tuple[str, str], dict],
    depth: int,
    teachers: dict[str, str],
    min_n: int,
) -> dict[str, Any]:
    """One unit's part of the report: its summary, dimensions, children and flags."""
    overall_row = results.get((ALL_KINDS, OVERALL))
    overall = _figure(overall_row)
    any_row = overall_row or next(iter(results.values()), None)
    coverage = (
        dict(any_row["coverage"]) if any_row and any_row["coverage"]["sections"] is not None else {}
    )
    bands = dict(overall_row["bands"]) if overall_row else {b: 0 for b in BANDS}
    parent_overall = parent_results.get((ALL_KINDS, OVERALL))
    dims = []
    for kind in [*KIND_ORDER, ALL_KINDS]:
        for dimension in [OVERALL, *_dims_of(kind)]:
            row = results.get((kind, dimension))
            # The table shows "all kinds" overall only; its dimensions are drawn as the chart.
            if row is None:
                continue
            prow = parent_results.get((kind, dimension))
            fig = _figure(row)
            fig |= {
                "kind": kind,
                "kind_label": _kind_name(kind),
                "dimension": dimension,
                "label": _dimension_name(dimension),
                "parent_raw": _r(prow["mean"]) if prow and not prow["insufficient"] else None,
                "in_table": kind != ALL_KINDS or dimension == OVERALL,
            }
            dims.append(fig)
    # A row that could only say "too few" (or "no records") is named in one line instead.
    few_rows: list[dict[str, Any]] = []
    for d in dims:
        d["collapsed"] = d["in_table"] and d["insufficient"] and not d["flags"]
        if not d["collapsed"]:
            continue
        if not few_rows or few_rows[-1]["kind"] != d["kind"]:
            few_rows.append({"kind": d["kind"], "kind_label": d["kind_label"], "rows": []})
        few_rows[-1]["rows"].append({"label": d["label"], "n": d["n"]})
    records = []
    for kind in KIND_ORDER:
        row = results.get((kind, OVERALL))
        records.append(
            {"kind": kind, "label": name_of(KIND_NAMES, kind), "n": row["n"] if row else 0}
        )
    flags = _flagged(results)
    child_level = CHILD_LEVEL.get(level)
    children = []
    if child_level:
        # The children's own children: how many, how many flagged (the compact row says it).
        below: dict[str, list[int]] = {}
        grandchild_level = CHILD_LEVEL.get(child_level)
        for (lvl, _code), cres in by_unit.items():
            grow = cres.get((ALL_KINDS, OVERALL))
            if lvl != grandchild_level or grow is None or grow["parent_code"] is None:
                continue
            counts = below.setdefault(grow["parent_code"], [0, 0])
            counts[0] += 1
            counts[1] += any(
                r["flags"] for (k, d), r in cres.items() if k != ALL_KINDS or d == OVERALL
            )
        for (lvl, _code), cres in by_unit.items():
            crow = cres.get((ALL_KINDS, OVERALL))
            if lvl != child_level or crow is None or crow["parent_code"] != code:
                continue
            child = _child(crow, cres, child_level, teachers)
            total, flagged = below.get(child["code"], [0, 0])
            child["below_total"], child["below_flagged"] = total, flagged
            child["below_label"] = (
                str(CHILDREN_NAMES[grandchild_level]) if grandchild_level else None
            )
            children.append(child)
        children.sort(key=_problems_first)
    return {
        "anchor": f"u-{level}-{code}",
        "level": level,
        "level_label": str(LEVEL_NAMES[level]),
        "code": code,
        "name": name,
        "title": name,
        "depth": depth,
        "parent": parent,
        "overall": overall,
        "parent_overall": _figure(parent_overall) if parent_overall else None,
        "records": records,
        "records_total": sum(r["n"] for r in records),
        "coverage": coverage,
        "coverage_rows": _coverage_rows(coverage),
        "bands": bands,
        "parent_bands": dict(parent_overall["bands"]) if parent_overall else None,
        "dimensions": dims,
        "few_rows": few_rows,
        "flags": flags,
        "child_level": child_level,
        "child_level_label": str(LEVEL_NAMES[child_level]) if child_level else None,
        "children_label": str(CHILDREN_NAMES[child_level]) if child_level else None,
        "children": children,
        "children_flagged": sum(1 for c in children if c["flags"]),
        "children_unobserved": sum(1 for c in children if c["n"] == 0),
        "min_n": min_n,
    }


def outline_label(level_label: str, title: str) -> str:
    """A part's entry in the PDF's outline (bookmarks): its title, with its level only
    when the title does not already say it.

    The heading shows the level as a small label beside the name; the outline runs them
    together, so "Department" + "Department of Mathematics" read "Department Department
    of Mathematics", and "系" + "软件工程系" read "系 软件工程系".
    """
    if level_label.casefold() in title.casefold():
        return title
    return _("%(level)s: %(name)s", level=level_label, name=title)


def _child(
    crow: dict[str, Any],
    cres: dict[tuple[str, str], dict],
    level: str,
    teachers: dict[str, str],
) -> dict[str, Any]:
    flags = _flagged(cres)
    counts: dict[str, int] = {}
    for f in flags:
        for code in f["codes"]:
            counts[code] = counts.get(code, 0) + 1
    cov = crow["coverage"] if crow["coverage"]["sections"] is not None else {}
    name = localized(crow, "unit_name") or crow["unit_code"]
    title = name
    if level == Level.SECTION.value:
        teacher = teachers.get(crow["unit_code"])
        title = f"{crow['unit_code']}" + (f" · {teacher}" if teacher else "")
    return {
        "level": level,
        "code": crow["unit_code"],
        "name": name,
        "title": title,
        "anchor": f"u-{level}-{crow['unit_code']}",
        "n": crow["n"],
        "observers": crow["observers"],
        "mean": _r(crow["mean"]),
        "sd": _r(crow["sd"]),
        "insufficient": crow["insufficient"],
        "parent_diff": _r(crow["parent_diff"]),
        "prev_change": _r(crow["prev_change"]),
        "coverage": dict(cov),
        "coverage_text": _coverage_text(cov),
        "flags": flags,
        "flag_counts": counts,
        "worst": min(flags, key=lambda f: f["mean"]) if flags else None,
    }


def _flagged(results: dict[tuple[str, str], dict]) -> list[dict[str, Any]]:
    """The unit's flagged results, one entry each with every reason (the "all kinds" copy of
    a single dimension is left out: it repeats the kinds' own flags)."""
    out = []
    for (kind, dimension), row in sorted(results.items(), key=lambda kv: _dim_order(kv[0])):
        if not row["flags"] or (kind == ALL_KINDS and dimension != OVERALL):
            continue
        label = _(
            "%(kind)s · %(dimension)s", kind=_kind_name(kind), dimension=_dimension_name(dimension)
        )
        out.append(
            {
                "kind": kind,
                "dimension": dimension,
                "label": label,
                "n": row["n"],
                "mean": _r(row["mean"]),
                "codes": [f["flag"] for f in row["flags"]],
                "why": [_reason(f, row) for f in row["flags"]],
                "brief": [_brief(f, row) for f in row["flags"]],
            }
        )
    return out


def _matrix(part: Mapping[str, Any]) -> dict[str, Any]:
    """A course's dimensions as one small matrix for its department's report: a row per
    dimension, a column per kind with enough records (its n in the header), the mean in each
    cell with its flags' marks. WeasyPrint's cost follows table cells, and the full table (a
    row per kind and dimension, eleven columns) was most of a department report's cells; the
    course's SD, median, previous term and department's figures per dimension stay on the
    course's page, and the figures a flag's reason needs are beside it (``brief``).

    A kind whose every result has too few records and no flag is no column: it is named with
    its n (``few``). A cell with its own n (fewer records scored that dimension) says it."""
    by_kind: dict[str, dict[str, dict[str, Any]]] = {}
    for d in part["dimensions"]:
        if d["kind"] != ALL_KINDS:
            by_kind.setdefault(d["kind"], {})[d["dimension"]] = d
    columns: list[dict[str, Any]] = []
    few: list[dict[str, Any]] = []
    for kind in KIND_ORDER:
        results = by_kind.get(kind)
        if not results:
            continue
        overall = results.get(OVERALL)
        n = overall["n"] if overall else max(r["n"] for r in results.values())
        if all(r["insufficient"] and not r["flags"] for r in results.values()):
            few.append({"kind": kind, "label": _kind_name(kind), "n": n})
        else:
            columns.append({"kind": kind, "label": _kind_name(kind), "n": n})
    rows = []
    for dimension in [OVERALL, *_dims_of(ALL_KINDS)]:
        found = [by_kind[c["kind"]].get(dimension) for c in columns]
        if all(f is None for f in found):
            continue
        cells = [
            None
            if f is None
            else {
                "n": f["n"],
                "mean": f["mean"],
                "insufficient": f["insufficient"],
                "own_n": f["n"] != column["n"],
                "flags": [g["flag"] for g in f["flags"]],
            }
            for f, column in zip(found, columns, strict=True)
        ]
        rows.append({"dimension": dimension, "label": _dimension_name(dimension), "cells": cells})
    return {"columns": columns, "rows": rows, "few": few}


def _course_dimensions(parts: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """A department's courses by dimension: one table for all its courses (a row per course
    and kind with enough records, a column per dimension), built from each course's matrix
    (:func:`_matrix`). A table per course was the largest part of WeasyPrint's time for a
    department report after the sections moved into the courses table (nine small tables:
    ~0.3 s and two pages of a department of the benchmark; docs/benchmarks.md), and one
    table reads better: a head compares the courses on each dimension down a column.

    Kinds with other dimensions (a tutor group's are not a class's) get a table of their
    own. A course whose kinds all have too few records is no row: it is named with its n in
    the one line ``few``, as are a course's kinds with too few records."""
    tables: dict[tuple[str, ...], dict[str, Any]] = {}
    few: list[dict[str, Any]] = []
    for part in parts:
        matrix = part.get("matrix")
        if not matrix or part.get("empty"):
            continue
        for index, column in enumerate(matrix["columns"]):
            dims = _dims_of(column["kind"])
            table = tables.setdefault(dims, {"dimensions": [OVERALL, *dims], "rows": []})
            cells = {r["dimension"]: r["cells"][index] for r in matrix["rows"]}
            table["rows"].append(
                {
                    "anchor": part["anchor"],
                    "title": part["title"],
                    "code": part["code"],
                    # The course's name on its first row only.
                    "first": not table["rows"] or table["rows"][-1]["anchor"] != part["anchor"],
                    "kind": column["label"],
                    "n": column["n"],
                    "cells": [cells.get(d) for d in table["dimensions"]],
                }
            )
        if matrix["few"]:
            few.append({"anchor": part["anchor"], "title": part["title"], "kinds": matrix["few"]})
    out = []
    for table in tables.values():
        # A dimension no course has a figure in is no column.
        keep = [
            i
            for i, _d in enumerate(table["dimensions"])
            if any(row["cells"][i] is not None for row in table["rows"])
        ]
        out.append(
            {
                "dimensions": [
                    {
                        "dimension": table["dimensions"][i],
                        "label": _dimension_name(table["dimensions"][i]),
                    }
                    for i in keep
                ],
                "rows": [
                    {**row, "cells": [row["cells"][i] for i in keep]} for row in table["rows"]
                ],
            }
        )
    return {"tables": out, "few": few}


def _problems_first(child: dict[str, Any]) -> tuple:
    """Flagged first (most flags, lowest mean), then never observed, then too few, then the rest."""
    if child["flags"]:
        group = 0
    elif child["n"] == 0:
        group = 1
    elif child["insufficient"]:
        group = 2
    else:
        group = 3
    mean = child["mean"] if child["mean"] is not None else 0.0
    return (group, -len(child["flags"]), mean, child["code"])


@cache
def _dims_of(kind: str) -> tuple[str, ...]:
    if kind == ALL_KINDS:
        seen: list[str] = []
        for dims in DIMENSIONS.values():
            seen.extend(d for d in dims if d not in seen)
        return tuple(seen)
    return tuple(DIMENSIONS.get(kind, {}))


@cache
def _dim_order(key: tuple[str, str]) -> tuple:
    kind, dimension = key
    kinds = [*KIND_ORDER, ALL_KINDS]
    dims = [OVERALL, *_dims_of(ALL_KINDS)]
    return (
        kinds.index(kind) if kind in kinds else 99,
        dims.index(dimension) if dimension in dims else 99,
        dimension,
    )


def _kind_name(kind: str) -> str:
    return _("All kinds") if kind == ALL_KINDS else name_of(KIND_NAMES, kind)


def _dimension_name(dimension: str) -> str:
    return _("Overall") if dimension == OVERALL else name_of(DIMENSION_NAMES, dimension)


def _reason(flag: Mapping[str, Any], row: Mapping[str, Any]) -> str:
    """Why a result is flagged, in the reader's language, from the stored figures (the stored
    reason is the aggregation's English sentence, for logs and the API)."""
    mean = fmt_num(row["mean"])
    n = row["n"]
    code = flag["flag"]
    if code == "below_threshold":
        return _(
            "mean %(mean)s is below the threshold %(limit)s (n=%(n)s)",
            mean=mean,
            limit=fmt_num(_r(flag["threshold"])),
            n=n,
        )
    if code == "drop":
        return _(
            "mean %(mean)s is %(points)s points below the previous term (%(prev)s); "
            "flagged from a drop of %(limit)s (n=%(n)s)",
            mean=mean,
            points=fmt_num(_r(-flag["value"]) if flag["value"] is not None else None),
            prev=fmt_num(row["prev_mean"]),
            limit=fmt_num(_r(flag["threshold"])),
            n=n,
        )
    if code == "below_parent":
        return _(
            "mean %(mean)s is %(sds)s standard deviations below %(parent)s (mean %(parent_mean)s); "
            "flagged from %(limit)s (n=%(n)s)",
            mean=mean,
            sds=fmt_num(_r(-flag["value"]) if flag["value"] is not None else None),
            parent=row["parent_code"] or "",
            parent_mean=fmt_num(row["parent_mean"]),
            limit=fmt_num(_r(flag["threshold"])),
            n=n,
        )
    return flag["reason"]


def _brief(flag: Mapping[str, Any], row: Mapping[str, Any]) -> str:
    """The figure a flag was raised against, in a few words (beside the flag's name where a
    course's matrix marks it: the matrix has the mean, not the limit or the reference)."""
    code = flag["flag"]
    if code == "below_threshold":
        return _("threshold %(limit)s", limit=fmt_num(_r(flag["threshold"])))
    if code == "drop":
        return _("previous term %(prev)s", prev=fmt_num(row["prev_mean"]))
    if code == "below_parent":
        return f"{row['parent_code'] or ''} {fmt_num(row['parent_mean'])}".strip()
    return ""


def _share(part: int | None, whole: int | None) -> float | None:
    return None if not whole else round(100.0 * (part or 0) / whole, 1)


def _coverage_rows(cov: Mapping[str, int]) -> list[dict[str, Any]]:
    if not cov:
        return []
    return [
        {
            "key": part,
            "label": str(label),
            "part": cov.get(part, 0),
            "whole": cov.get(whole, 0),
            "share": _share(cov.get(part), cov.get(whole)),
        }
        for part, whole, label in COVERAGE_NAMES
        if cov.get(whole)
    ]


def _coverage_text(cov: Mapping[str, int]) -> str:
    if not cov or not cov.get("sections"):
        return "—"
    sections = _(
        "%(part)s/%(whole)s sections", part=cov.get("sections_spot", 0), whole=cov["sections"]
    )
    if cov.get("tutor_groups"):
        return _(
            "%(sections)s, %(part)s/%(whole)s groups",
            sections=sections,
            part=cov.get("tutor_groups_reported", 0),
            whole=cov["tutor_groups"],
        )
    return sections


def _attention(parts: list[dict[str, Any]]) -> dict[str, Any]:
    """What the first page says: the unit's own worst flags, flagged and unobserved children."""
    main = parts[0]
    own = sorted(main["flags"], key=lambda f: (f["mean"] is None, f["mean"] or 0))
    return {
        "own": own[:3],
        "own_total": len(own),
        "children": [c for c in main["children"] if c["flags"]],
        "unobserved": [c for c in main["children"] if c["n"] == 0],
        "too_few": [c for c in main["children"] if c["n"] and c["insufficient"]],
        "low_coverage": [r for r in main["coverage_rows"] if (r["share"] or 0) < 50],
    }


# --- the people, trend and comments ------------------------------------------------------


def _for_whom(session: Session, unit_id: int) -> list[dict[str, Any]]:
    stmt = (
        select(RoleGrant.role, User.name)
        .join(User, col(User.id) == RoleGrant.user_id)
        .where(
            RoleGrant.unit_id == unit_id,
            col(RoleGrant.role).in_(REPORT_ROLES),
            User.active == True,  # noqa: E712
        )
        .order_by(RoleGrant.role, User.name)
    )
    return [
        {"role": role, "role_label": name_of(ROLE_NAMES, role), "name": name}
        for role, name in session.exec(stmt).all()
    ]


def _section_teachers(session: Session, term_id: int, department_id: int) -> dict[str, str]:
    rows = session.execute(
        text(
            "SELECT s.code, u.name FROM section s JOIN course c ON c.id = s.course_id"
            " LEFT JOIN user_account u ON u.id = s.teacher_id"
            " WHERE s.term_id = :term_id AND c.department_id = :dept"
        ),
        {"term_id": term_id, "dept": department_id},
    ).all()
    return {code: name for code, name in rows if name}


def _add_trends(
    session: Session,
    term: Term,
    parts: list[dict[str, Any]],
    level: str,
    child_level: str,
    unit_id: int,
) -> None:
    """Overall mean (all kinds) of each part's unit over up to TREND_TERMS terms, in one query."""
    codes = {(p["level"], p["code"]) for p in parts}
    main = parts[0]
    rows = read.overall_trend(
        session, unit_id=unit_id, level=level, child_level=child_level, start=term.start_date
    )
    # The terms that have results for the report's own unit: the last TREND_TERMS of them.
    terms = [r["term"] for r in rows if (r["level"], r["unit_code"]) == (level, main["code"])]
    terms = terms[-TREND_TERMS:]
    wanted = set(terms)
    series: dict[tuple[str, str], dict[str, dict[str, Any]]] = {}
    for r in rows:
        key = (r["level"], r["unit_code"])
        if key in codes and r["term"] in wanted:
            series.setdefault(key, {})[r["term"]] = {
                "term": r["term"],
                "n": r["n"],
                "mean": _r(r["mean"]),
                "insufficient": r["insufficient"],
            }
    for part in parts:
        got = series.get((part["level"], part["code"]), {})
        part["trend"] = [
            got.get(t, {"term": t, "n": 0, "mean": None, "insufficient": True}) for t in terms
        ]


_COMMENTS = """
SELECT * FROM (
    SELECT f.id, f.kind, f.observer_level, f.visit_date, f.overall_score, f.problems,
           f.suggestions, u.name AS observer_name, s.code AS section_code,
           c.title AS course_title, c.title_en AS course_title_en, c.code AS course_code,
           g.name AS group_name,
           d.code AS department_code, p.code AS college_code, {key} AS part_key,
           ROW_NUMBER() OVER (PARTITION BY {key}
                              ORDER BY COALESCE(f.overall_score, 101), f.visit_date, f.id) AS rn,
           COUNT(*) OVER (PARTITION BY {key}) AS total
    FROM feedback f
    JOIN user_account u ON u.id = f.observer_id
    JOIN org_unit d ON d.id = f.department_id
    JOIN org_unit p ON p.id = d.parent_id
    LEFT JOIN section s ON s.id = f.section_id
    LEFT JOIN course c ON c.id = s.course_id
    LEFT JOIN tutor_group g ON g.id = f.group_id
    WHERE f.term_id = :term_id AND f.status = 'submitted'
      AND f.department_id IN (SELECT descendant_id FROM org_unit_closure
                              WHERE ancestor_id = :unit_id)
      AND (COALESCE(f.problems, '') <> '' OR COALESCE(f.suggestions, '') <> '')
) x WHERE rn <= :limit
ORDER BY part_key, rn
"""

#: Which column names the part a comment goes to, per report level, and that part's level.
_COMMENT_KEYS = {
    "school": ("p.code", "college"),
    "college": ("d.code", "department"),
    "department": ("c.code", "course"),
}


def _comments(
    session: Session,
    term_id: int,
    unit_id: int,
    level: str,
    *,
    limit: int,
    show_names: bool = False,
) -> tuple[dict[tuple[str, str], list[dict[str, Any]]], dict[tuple[str, str], int]]:
    """Observers' problems and suggestions, lowest scores first, at most ``limit`` per
    child of the unit (per course in a department's report), and how many there are."""
    key_sql, part_level = _COMMENT_KEYS[level]
    rows = (
        session.execute(
            text(_COMMENTS.format(key=key_sql)),
            {"term_id": term_id, "unit_id": unit_id, "limit": limit},
        )
        .mappings()
        .all()
    )
    out: dict[tuple[str, str], list[dict[str, Any]]] = {}
    totals: dict[tuple[str, str], int] = {}
    for r in rows:
        key = (part_level, r["part_key"]) if r["part_key"] is not None else ("", "")
        totals[key] = r["total"]
        if r["kind"] == FeedbackKind.OPEN_CLASS.value and r["observer_level"]:
            role = name_of(OBSERVER_LEVEL_NAMES, r["observer_level"])
        else:
            role = name_of(OBSERVER_ROLE_NAMES, r["kind"])
        about = (
            f"{localized(r, 'course_title')} ({r['section_code']})"
            if r["section_code"]
            else (r["group_name"] or "")
        )
        out.setdefault(key, []).append(
            {
                "kind": r["kind"],
                "kind_label": name_of(KIND_NAMES, r["kind"]),
                "by": role,
                "observer": r["observer_name"] if show_names else None,
                "date": str(r["visit_date"])[:10],
                "about": about,
                "score": _r(r["overall_score"]),
                "problems": (r["problems"] or "").strip(),
                "suggestions": (r["suggestions"] or "").strip(),
            }
        )
    return out, totals


def _explaining_comments(
    session: Session,
    term_id: int,
    unit_id: int,
    level: str,
    main: dict[str, Any],
    settings: Mapping[str, Any],
    show_names: bool,
) -> None:
    """A school's or college's report quotes a comment only where it explains something:
    on a flagged child, or on a record scored below its kind's flag threshold — at most
    COMMENTS_PER_CHILD per child, lowest scores first. The child's own report quotes more.

    Sets each child's ``comments`` and ``comments_total`` (all its comments, quoted or not)
    and the main part's ``comments_quoted`` (how many in all).
    """
    # More candidates than quoted: a low score of a kind with a lower threshold (tutor
    # groups) can come first without being a problem.
    comments, totals = _comments(
        session, term_id, unit_id, level, limit=4 * COMMENTS_PER_CHILD, show_names=show_names
    )
    by_kind = dict(settings.get("threshold_by_kind") or {})

    def problem(comment: Mapping[str, Any]) -> bool:
        """Scored below its kind's flag threshold (the all-kinds one when it has none)."""
        limit = by_kind.get(comment["kind"], settings.get("threshold"))
        return limit is not None and comment["score"] is not None and comment["score"] < limit

    quoted = 0
    for child in main["children"]:
        key = (child["level"], child["code"])
        items = comments.get(key, [])
        if not child["flags"]:
            items = [c for c in items if problem(c)]
        items = items[:COMMENTS_PER_CHILD]
        child["comments"] = items
        child["comments_total"] = totals.get(key, 0)
        quoted += len(items)
    main["comments_quoted"] = quoted
