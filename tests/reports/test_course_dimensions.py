"""A department's courses by dimension: one table from its courses' matrices."""

from __future__ import annotations

import pytest

from evalsys.feedback.vocab import CLASS_DIMENSIONS, TUTOR_DIMENSIONS
from evalsys.reports import data as report_data_mod

pytestmark = pytest.mark.once("a function of its arguments alone: no database is read")


def _cell(mean: float | None, n: int = 5, **more) -> dict:
    return {
        "n": n,
        "mean": mean,
        "insufficient": n < 3,
        "own_n": False,
        "flags": [],
        **more,
    }


def _part(code: str, columns: list[tuple[str, int]], rows: dict, few=(), empty=False) -> dict:
    """A course part as report_data builds it: ``rows`` maps a dimension to its cells, one
    per column (kind)."""
    return {
        "anchor": f"u-course-{code}",
        "code": code,
        "title": f"Course {code}",
        "empty": empty,
        "matrix": {
            "columns": [{"kind": k, "label": k, "n": n} for k, n in columns],
            "rows": [{"dimension": d, "label": d, "cells": cells} for d, cells in rows.items()],
            "few": [{"kind": k, "label": k, "n": n} for k, n in few],
        },
    }


def test_a_row_per_course_and_kind_and_a_table_per_set_of_dimensions(app):
    class_dims = list(CLASS_DIMENSIONS)
    tutor_dims = list(TUTOR_DIMENSIONS)
    a = _part(
        "A",
        [("spot_check", 10), ("open_class", 4), ("tutor_group", 6)],
        {
            "overall": [_cell(70.0, flags=["drop"]), _cell(80.0), _cell(60.0)],
            class_dims[0]: [_cell(67.8, flags=["below_threshold", "drop"]), _cell(81.0), None],
            class_dims[1]: [_cell(71.0), _cell(None, n=2), None],
            tutor_dims[0]: [None, None, _cell(62.0)],
        },
    )
    b = _part(
        "B",
        [("spot_check", 5)],
        {"overall": [_cell(88.0)], class_dims[0]: [_cell(90.0)], class_dims[1]: [_cell(86.0)]},
        few=[("open_class", 1)],
    )
    only_few = _part("C", [], {}, few=[("spot_check", 2)])
    empty = _part("D", [("spot_check", 4)], {"overall": [_cell(75.0)]}, empty=True)
    with app.test_request_context():
        out = report_data_mod._course_dimensions([a, b, only_few, empty])
    classes, tutors = out["tables"]
    # Columns: the overall, then the dimensions some course has a figure in (the class
    # dimensions nobody scored are no column; the tutor group's are not the class table's).
    assert [d["dimension"] for d in classes["dimensions"]] == ["overall", *class_dims[:2]]
    assert [d["dimension"] for d in tutors["dimensions"]] == ["overall", tutor_dims[0]]
    # A row per course and kind, in the courses' order; the name on a course's first row.
    assert [(r["code"], r["kind"], r["n"], r["first"]) for r in classes["rows"]] == [
        ("A", "spot_check", 10, True),
        ("A", "open_class", 4, False),
        ("B", "spot_check", 5, True),
    ]
    assert [(r["code"], r["kind"], r["first"]) for r in tutors["rows"]] == [
        ("A", "tutor_group", True)
    ]
    # Each cell is the course matrix's cell of that kind and dimension.
    a_spot, a_open, b_spot = classes["rows"]
    assert [c["mean"] for c in a_spot["cells"]] == [70.0, 67.8, 71.0]
    assert a_spot["cells"][1]["flags"] == ["below_threshold", "drop"]
    assert [c["mean"] for c in a_open["cells"]] == [80.0, 81.0, None]
    assert a_open["cells"][2]["insufficient"]
    assert [c["mean"] for c in b_spot["cells"]] == [88.0, 90.0, 86.0]
    assert [c["mean"] for c in tutors["rows"][0]["cells"]] == [60.0, 62.0]
    # Kinds with too few records are named in the one line, with their course; a course
    # without any record this term is neither a row nor in the line.
    assert [(f["title"], [(k["kind"], k["n"]) for k in f["kinds"]]) for f in out["few"]] == [
        ("Course B", [("open_class", 1)]),
        ("Course C", [("spot_check", 2)]),
    ]
    assert all(r["code"] != "D" for t in out["tables"] for r in t["rows"])


def test_no_course_with_a_figure_no_table(app):
    with app.test_request_context():
        out = report_data_mod._course_dimensions([_part("C", [], {}, few=[("spot_check", 1)])])
    assert out["tables"] == []
    assert [f["title"] for f in out["few"]] == ["Course C"]
