"""The form classes on their own: built from any rubric, reading and showing what was typed."""

from __future__ import annotations

import datetime as dt

import pytest
from werkzeug.datastructures import MultiDict

from evalsys.feedback.forms import (
    KIND_FIELDS,
    ItemView,
    feedback_form_class,
    form_data,
    section_code,
)
from evalsys.feedback.inputs import FeedbackInput


def item(code: str, scale_min: int = 0, scale_max: int = 10, required: bool = True) -> ItemView:
    return ItemView(
        code=code,
        label=f"项目{code}",
        label_en=f"Item {code}",
        description=None,
        description_en=None,
        dimension="content",
        dimension_label=("教学内容", "Content"),
        scale_min=scale_min,
        scale_max=scale_max,
        weight=10.0,
        required=required,
    )


@pytest.fixture
def ctx(app):
    with app.test_request_context():
        yield


@pytest.mark.parametrize(
    ("typed", "code"),
    [
        ("SE101-01 — 软件工程导论 — 王老师", "SE101-01"),
        ("  SE101-01  ", "SE101-01"),
        ("CS-AI-101-2026-2027-1-01 — 人工智能导论 — —", "CS-AI-101-2026-2027-1-01"),
        ("", ""),
    ],
)
def test_section_code_from_the_search_box(typed, code):
    assert section_code(typed) == code


def test_item_codes_that_shadow_form_attributes(ctx):
    """A rubric may name an item ``data`` or ``meta``; the form still reads and shows it."""
    items = [item("data"), item("meta"), item("errors"), item("plain")]
    form_class = feedback_form_class("open_class", items)
    posted = MultiDict(
        {
            "section": "S-1",
            "scores-data_": "3",
            "scores-meta_": "4",
            "scores-errors_": "5",
            "scores-plain": "6",
        }
    )
    form = form_class(formdata=posted)
    assert form.to_mapping()["scores"] == {"data": "3", "meta": "4", "errors": "5", "plain": "6"}
    general = form.show_errors({"scores.meta": ["too high"], "kind": ["odd"]})
    assert general == [("kind", "odd")]
    assert form.scores.form.field_for("meta").errors == ["too high"]
    assert [e["anchor"] for e in form.summary()] == ["scores-meta_-group"]


def test_form_data_round_trip(ctx):
    data = FeedbackInput(
        kind="spot_check",
        section="SE101-01",
        date=dt.date(2026, 10, 15),
        announced=False,
        enrolled=40,
        present=36,
        overall_grade="good",
        strengths="好",
        scores={"a": 8.0, "b": 8.5},
    )
    form_class = feedback_form_class("spot_check", [item("a"), item("b")])
    form = form_class(formdata=None, data=form_data(data))
    mapping = form.to_mapping()
    assert mapping["date"] == "2026-10-15" and mapping["announced"] == "false"
    assert mapping["enrolled"] == "40" and mapping["scores"] == {"a": "8", "b": "8.5"}
    assert FeedbackInput.from_mapping(mapping) == FeedbackInput(
        **{**vars(data), "class_period": None, "location": None}
    )
    assert set(KIND_FIELDS["spot_check"]) <= set(mapping)


@pytest.mark.parametrize(
    ("scale", "value", "radio"),
    [
        ((0, 10), "", True),
        ((0, 10), "7", True),
        ((0, 10), "8.5", False),  # no button holds it: a number box keeps it visible
        ((0, 10), "11", False),
        ((1, 5), "3", True),
        ((0, 100), "75", False),  # too many steps for buttons
    ],
)
def test_scores_show_as_buttons_or_a_number_box(ctx, scale, value, radio):
    form_class = feedback_form_class("spot_check", [item("x", *scale)])
    form = form_class(formdata=MultiDict({"scores-x": value}))
    assert form.scores.form.field_for("x").shows_as_radio() is radio


def test_choices_raise_no_deprecation_warning(ctx):
    """pytest turns warnings into errors: building and rendering every kind's form is quiet."""
    for kind in KIND_FIELDS:
        form = feedback_form_class(kind, [item("x")])(formdata=None)
        for name in KIND_FIELDS[kind]:
            str(form[name]())
