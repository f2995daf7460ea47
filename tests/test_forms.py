"""templates/_forms.html: every form's controls are labelled, marked invalid, and linked to their
hint and their error, which sits beside them; and no template writes that markup by hand again."""

from __future__ import annotations

import re
from html.parser import HTMLParser

import pytest
from flask import render_template_string
from werkzeug.datastructures import MultiDict
from wtforms import BooleanField, Form, IntegerField, RadioField, StringField
from wtforms.fields.choices import SelectChoice
from wtforms.validators import DataRequired, NumberRange

from evalsys import resource_folder

TEMPLATES = resource_folder("templates")


class Page(HTMLParser):
    """Each element's attributes and text, by id; each label's target."""

    def __init__(self, html: str) -> None:
        super().__init__()
        self.by_id: dict[str, dict[str, str | None]] = {}
        self.text: dict[str, str] = {}
        self.label_for: list[str] = []
        self.labels: list[str] = []
        self._open: list[str] = []
        self._in_label = False
        self.feed(html)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        found = dict(attrs)
        if tag == "label" and found.get("for"):
            self.label_for.append(found["for"] or "")
            self.labels.append("")
            self._in_label = True
        if found.get("id"):
            ident = found["id"] or ""
            assert ident not in self.by_id, f"id {ident} twice"
            self.by_id[ident] = found | {"tag": tag}
            self.text[ident] = ""
            if tag not in ("input", "option"):
                self._open.append(ident)

    def handle_endtag(self, tag: str) -> None:
        if tag == "label":
            self._in_label = False
        if self._open and self.by_id[self._open[-1]]["tag"] == tag:
            self._open.pop()

    def handle_data(self, data: str) -> None:
        if self._in_label:
            self.labels[-1] += data.strip()
        for ident in self._open:
            self.text[ident] += data

    def described(self, ident: str) -> list[str]:
        """The texts that aria-describedby of ``ident`` points at (each must exist)."""
        ids = (self.by_id[ident].get("aria-describedby") or "").split()
        missing = [i for i in ids if i not in self.by_id]
        assert not missing, f"{ident} is described by missing {missing}"
        return [" ".join(self.text[i].split()) for i in ids]


class Sample(Form):
    title = StringField("Title", validators=[DataRequired("Say what it is.")])
    size = IntegerField("Size", validators=[NumberRange(min=1, message="At least one.")])
    kind = RadioField(
        "Kind",
        choices=[SelectChoice("a", "Alpha"), SelectChoice("b", "Beta")],
        validators=[DataRequired("Choose one.")],
    )
    active = BooleanField("Active")


def render(form: Form, source: str) -> Page:
    head = '{% from "_forms.html" import field, radios, checkbox, control, aria, message %}'
    return Page(render_template_string(head + source, form=form))


@pytest.fixture
def request_context(app):
    with app.test_request_context():
        yield


def test_an_invalid_field_says_so_and_points_at_its_hint_and_its_error(request_context):
    form = Sample(MultiDict({"title": "", "size": "0", "kind": "c"}))
    assert not form.validate()
    page = render(
        form,
        "{{ field(form.title, hint='A few words.') }}{{ field(form.size, min=1) }}"
        "{{ radios(form.kind) }}{{ checkbox(form.active) }}",
    )
    assert {"title", "size", "active", "kind-0", "kind-1"} <= set(page.label_for)
    title = page.by_id["title"]
    assert title["aria-invalid"] == "true" and "required" in title
    assert page.described("title") == ["A few words.", "Say what it is."]
    size = page.by_id["size"]
    assert size["aria-invalid"] == "true" and size["min"] == "1" and size["value"] == "0"
    assert page.described("size") == ["At least one."]
    for option in ("kind-0", "kind-1"):
        assert page.by_id[option]["aria-invalid"] == "true"
        assert page.described(option) == ["Not a valid choice."]
    assert page.by_id["kind"]["tag"] == "fieldset" and "invalid" in (
        page.by_id["kind"]["class"] or ""
    )
    assert "aria-invalid" not in page.by_id["active"]


def test_a_valid_field_keeps_what_was_typed_and_is_described_by_its_hint_alone(request_context):
    form = Sample(MultiDict({"title": "Lab <b>one</b>", "size": "12", "kind": "b"}))
    assert form.validate()
    page = render(form, "{{ field(form.title, hint='A few words.') }}{{ radios(form.kind) }}")
    title = page.by_id["title"]
    assert title["value"] == "Lab <b>one</b>" and "aria-invalid" not in title
    assert page.described("title") == ["A few words."]
    assert "title-error" not in page.by_id
    assert "checked" in page.by_id["kind-1"] and "aria-describedby" not in page.by_id["kind-1"]


def test_a_long_hint_is_the_body_of_a_call(request_context):
    form = Sample(MultiDict({"title": ""}))
    form.validate()
    source = (
        "{% call field(form.title, label='Name of it') %}Pick <a href='#x'>one</a>.{% endcall %}"
    )
    page = render(form, source)
    assert page.label_for == ["title"] and page.labels == ["Name of it"]
    assert page.described("title") == ["Pick one.", "Say what it is."]


def test_errors_said_elsewhere_are_pointed_at(request_context):
    """An upload's problems are listed once, in the page's summary: the field points there."""
    form = Sample(MultiDict({"title": "x"}))
    html = render_template_string(
        '{% from "_forms.html" import control %}<div id="error-summary">Two files missing.</div>'
        "{{ control(form.title, errors=['Two files missing.'], error_id='error-summary') }}",
        form=form,
    )
    page = Page(html)
    assert page.by_id["title"]["aria-invalid"] == "true"
    assert page.described("title") == ["Two files missing."]


def test_hand_written_controls_take_the_same_attributes(request_context):
    page = Page(
        render_template_string(
            '{% from "_forms.html" import aria, message %}'
            '<input id="since"{{ aria("since", "not a date") }}>'
            '{{ message("since", "not a date") }}'
            '<input id="until"{{ aria("until", none) }}>{{ message("until", none) }}'
        )
    )
    assert page.by_id["since"]["aria-invalid"] == "true"
    assert page.described("since") == ["not a date"]
    assert set(page.by_id["until"]) == {"id", "tag"} and "until-error" not in page.by_id


#: Markup that _forms.html (and the pager in _macros.html) writes, and no other template should.
OWNED = {
    "aria-invalid": "_forms.html",
    "field-error": "_forms.html",
    'rel="prev"': "_macros.html",
    'rel="next"': "_macros.html",
}


def test_no_template_writes_the_form_or_pager_markup_by_hand():
    """A sixth hand-written copy of the error markup drifts from the others (one forgot
    aria-describedby, one the hint): every template imports the macros instead."""
    copies = []
    for path in sorted(TEMPLATES.rglob("*.html")):
        name = path.relative_to(TEMPLATES).as_posix()
        source = path.read_text(encoding="utf-8")
        copies += [f"{name}: {m}" for m, owner in OWNED.items() if m in source and name != owner]
        # A macro of the same name as a shared one is a copy in the making.
        copies += [
            f"{name}: macro {m}"
            for m in re.findall(r"\{%-?\s*macro\s+(\w+)", source)
            if m in {"field", "error", "control", "radios", "checkbox", "pager", "share"}
            and name not in ("_forms.html", "_macros.html")
        ]
    assert copies == []
