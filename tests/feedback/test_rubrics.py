"""Rubrics: shipped defaults, the file loader and its errors, versions, immutability, CLI."""

from __future__ import annotations

import json
import tomllib
from pathlib import Path

import pytest
from sqlmodel import Session, select

from evalsys.accounts.models import AuditEvent
from evalsys.feedback import rubrics
from evalsys.feedback.inputs import FeedbackValidationError
from evalsys.feedback.models import Feedback, Rubric, RubricImmutableError, RubricItem
from evalsys.feedback.reads import feedback_scores
from evalsys.feedback.vocab import DIMENSIONS, FeedbackKind, RubricStatus, values
from evalsys.feedback.writes import submit_feedback, update_feedback
from tests.fixtures.feedback_world import NOW, TODAY

KINDS = values(FeedbackKind)

SMALL = """
kind = "spot_check"
title = "简表"
title_en = "Short form"
scale_min = 1
scale_max = 5

[[items]]
code = "attitude"
dimension = "attitude"
label = "教学态度"
weight = 40

[[items]]
code = "effect"
dimension = "effect"
label = "教学效果"
weight = 60
scale_min = 0
scale_max = 10
required = false
"""


def write(tmp_path: Path, text: str, name: str = "rubric.toml") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


# --- shipped defaults -------------------------------------------------------------------


def test_default_rubrics_published_once(session: Session):
    created = rubrics.ensure_default_rubrics(session)
    assert sorted(r.kind for r in created) == sorted(KINDS)
    assert rubrics.ensure_default_rubrics(session) == []  # idempotent
    session.commit()
    for kind in KINDS:
        rubric = rubrics.current_rubric(session, kind)
        assert rubric is not None
        assert (rubric.version, rubric.status) == (1, RubricStatus.PUBLISHED)
        assert rubric.published_at is not None
    assert len(session.exec(select(Rubric)).all()) == 3


@pytest.mark.parametrize("kind", KINDS)
def test_default_rubric_content(session: Session, kind: str):
    rubrics.ensure_default_rubrics(session)
    rubric = rubrics.current_rubric(session, kind)
    items = rubrics.rubric_items(session, rubric.id)
    # Modelled on the traditional forms: weighted items summing to 100 points.
    assert sum(i.weight for i in items) == pytest.approx(100)
    assert 8 <= len(items) <= 10
    assert {i.dimension for i in items} == set(DIMENSIONS[kind])  # every dimension covered
    assert [i.position for i in items] == list(range(1, len(items) + 1))
    for item in items:
        assert item.label and item.label_en, item.code
        assert any("\u4e00" <= ch <= "\u9fff" for ch in item.label), item.code  # Chinese label
    assert rubric.title and rubric.title_en


def test_ensure_defaults_leaves_a_loaded_kind_alone(session: Session, tmp_path: Path):
    rubrics.load_rubric_file(session, write(tmp_path, SMALL), publish=True)
    created = rubrics.ensure_default_rubrics(session)
    assert sorted(r.kind for r in created) == ["open_class", "tutor_group"]
    assert rubrics.current_rubric(session, "spot_check").title == "简表"


# --- the loader -------------------------------------------------------------------------


def test_load_toml_and_json_make_new_versions(session: Session, tmp_path: Path):
    rubrics.ensure_default_rubrics(session)
    v2 = rubrics.load_rubric_file(session, write(tmp_path, SMALL), publish=True)
    assert (v2.kind, v2.version, v2.status) == ("spot_check", 2, RubricStatus.PUBLISHED)
    items = rubrics.rubric_items(session, v2.id)
    assert [(i.code, i.scale_min, i.scale_max, i.weight, i.required) for i in items] == [
        ("attitude", 1, 5, 40.0, True),  # the file's default scale
        ("effect", 0, 10, 60.0, False),  # the item's own scale
    ]
    as_json = json.dumps(rubrics.rubric_as_dict(session, v2), ensure_ascii=False)
    v3 = rubrics.load_rubric_file(session, write(tmp_path, as_json, "copy.json"), publish=False)
    assert (v3.version, v3.status) == (3, RubricStatus.DRAFT)
    assert rubrics.rubric_as_dict(session, v3) == rubrics.rubric_as_dict(session, v2)
    # The draft is not current; v2 is, and v1 was retired when v2 was published.
    assert rubrics.current_rubric(session, "spot_check").id == v2.id
    v1 = rubrics.get_rubric(session, "spot_check", 1)
    assert v1.status == RubricStatus.RETIRED
    actions = session.exec(select(AuditEvent.action, AuditEvent.target)).all()
    assert ("rubric.publish", "spot_check v2") in actions


def test_shipped_files_round_trip_through_the_loader(session: Session):
    for kind in KINDS:
        path = Path(str(rubrics.default_rubric_path(kind)))
        rubric = rubrics.load_rubric_file(session, path, publish=True)
        data = rubrics.rubric_as_dict(session, rubric)
        with path.open("rb") as fh:
            raw = tomllib.load(fh)
        assert [i["code"] for i in data["items"]] == [i["code"] for i in raw["items"]]


ITEM = 'code = "{code}"\ndimension = "attitude"\nlabel = "态度"\nweight = 10\n'


def rubric_text(*items: str, head: str = 'kind = "spot_check"\ntitle = "T"\n') -> str:
    body = "".join(f"\n[[items]]\n{item}" for item in items)
    return head + "scale_min = 0\nscale_max = 10\n" + body


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (
            rubric_text(ITEM.format(code="a"), ITEM.format(code="a")),
            "item 2 'a': code: duplicate item code (item 1 has it too)",
        ),
        (
            rubric_text(ITEM.format(code="a") + "scale_min = 5\nscale_max = 5\n"),
            "item 1 'a': scale_max: must be greater than scale_min (5 ≤ 5)",
        ),
        (
            rubric_text(ITEM.format(code="a") + "scale_min = 6\nscale_max = 2\n"),
            "item 1 'a': scale_max: must be greater than scale_min (2 ≤ 6)",
        ),
        (
            rubric_text(ITEM.format(code="a").replace("weight = 10", "weight = 0")),
            "item 1 'a': weight: must be greater than 0, got 0",
        ),
        (
            rubric_text(ITEM.format(code="a").replace("weight = 10", "weight = -2.5")),
            "item 1 'a': weight: must be greater than 0, got -2.5",
        ),
        (
            rubric_text(ITEM.format(code="a").replace("weight = 10", 'weight = "ten"')),
            "item 1 'a': weight: must be a number, got 'ten'",
        ),
        (
            rubric_text(ITEM.format(code="a"), head='kind = "lecture"\ntitle = "T"\n'),
            "kind: unknown kind 'lecture'; expected one of spot_check, open_class, tutor_group",
        ),
        (
            rubric_text(ITEM.format(code="a").replace('"attitude"', '"plan_fit"')),
            "item 1 'a': dimension: unknown dimension 'plan_fit' for spot_check; "
            "expected one of attitude, content, method, organisation, effect",
        ),
        (rubric_text(), "items: no items; a rubric needs at least one [[items]] entry"),
        (
            rubric_text(ITEM.format(code="Bad-Code")),
            "item 1 'Bad-Code': code: use lower-case letters, digits and '_'",
        ),
        (
            rubric_text(ITEM.format(code="a").replace('label = "态度"\n', "")),
            "item 1 'a': label: missing",
        ),
        (
            rubric_text(ITEM.format(code="a") + "wieght = 3\n"),
            "item 1 'a': wieght: unknown key",
        ),
        (
            rubric_text(ITEM.format(code="a") + 'required = "yes"\n'),
            "item 1 'a': required: must be true or false, got 'yes'",
        ),
        (
            rubric_text(ITEM.format(code="a"), head='kind = "spot_check"\nversion = 2\n'),
            "version: unknown key (versions are numbered when loading)",
        ),
        (
            rubric_text(ITEM.format(code="a"), head='kind = "spot_check"\n'),
            "title: missing",
        ),
        (
            'kind = "spot_check"\ntitle = "T"\n\n[[items]]\n' + ITEM.format(code="a"),
            "item 1 'a': scale_min: missing (give it here or at the top of the file)",
        ),
        ('kind = "spot_check"\ntitle = [', "not valid TOML"),
    ],
)
def test_loader_errors_name_item_and_key(
    session: Session, tmp_path: Path, text: str, expected: str
):
    with pytest.raises(rubrics.RubricFileError) as caught:
        rubrics.load_rubric_file(session, write(tmp_path, text), publish=True)
    assert any(expected in e for e in caught.value.errors), caught.value.errors
    assert str(tmp_path / "rubric.toml") in str(caught.value)
    assert session.exec(select(Rubric)).all() == []  # nothing stored


def test_loader_reports_every_error_at_once(session: Session, tmp_path: Path):
    bad_weight = ITEM.format(code="b").replace("weight = 10", "weight = 0")
    text = rubric_text(ITEM.format(code="a"), ITEM.format(code="a"), bad_weight)
    with pytest.raises(rubrics.RubricFileError) as caught:
        rubrics.load_rubric_file(session, write(tmp_path, text), publish=True)
    assert len(caught.value.errors) == 2


@pytest.mark.parametrize(
    ("name", "text", "expected"),
    [
        ("r.json", '{"kind": "spot_check", "items": [}', "not valid JSON"),
        ("r.json", "[1, 2]", "the top level must be a table"),
        ("r.yaml", "kind: spot_check", "unknown file type '.yaml'"),
    ],
)
def test_loader_file_errors(session: Session, tmp_path: Path, name: str, text: str, expected):
    with pytest.raises(rubrics.RubricFileError) as caught:
        rubrics.load_rubric_file(session, write(tmp_path, text, name), publish=True)
    assert expected in str(caught.value)


# --- versions and immutability ----------------------------------------------------------


def test_new_version_keeps_old_feedback_on_old_rubric(session: Session, world, make_input):
    v1 = rubrics.current_rubric(session, "spot_check")
    v1_input = make_input()
    old = submit_feedback(session, user=world.supervisor, data=v1_input, today=TODAY)
    draft = submit_feedback(
        session, user=world.supervisor, data=make_input(scores={}), draft=True, today=TODAY
    )
    old_scores = feedback_scores(session, old.id)
    session.commit()

    v2 = rubrics.create_rubric(
        session,
        rubrics.parse_rubric(tomllib.loads(SMALL)),
        publish=True,
    )
    session.commit()
    assert rubrics.current_rubric(session, "spot_check").id == v2.id

    # The old record is untouched: same rubric, same scores, same overall score.
    session.refresh(old)
    assert old.rubric_id == v1.id
    assert feedback_scores(session, old.id) == old_scores

    new = submit_feedback(
        session,
        user=world.supervisor,
        data=make_input(scores={"attitude": 5, "effect": 10}),
        today=TODAY,
    )
    assert new.rubric_id == v2.id
    assert new.overall_score == pytest.approx(100)

    # A draft started on v1 is finished on v1: v2's codes are unknown to it.
    with pytest.raises(FeedbackValidationError) as caught:
        update_feedback(
            session,
            user=world.supervisor,
            feedback=draft,
            data=make_input(scores={"attitude": 5}),
            now=NOW,
            today=TODAY,
        )
    assert "scores.attitude" in caught.value.fields()
    done = update_feedback(
        session, user=world.supervisor, feedback=draft, data=v1_input, now=NOW, today=TODAY
    )
    assert done.rubric_id == v1.id and done.status == "submitted"


def test_published_rubric_is_immutable(session: Session):
    rubrics.ensure_default_rubrics(session)
    session.commit()
    rubric = rubrics.current_rubric(session, "spot_check")
    item = rubrics.rubric_items(session, rubric.id)[0]

    item.weight = 50
    session.add(item)
    with pytest.raises(RubricImmutableError, match="cannot be changed"):
        session.flush()
    session.rollback()

    session.add(
        RubricItem(
            rubric_id=rubric.id,
            code="extra",
            label="x",
            dimension="effect",
            scale_min=0,
            scale_max=10,
            weight=1,
        )
    )
    with pytest.raises(RubricImmutableError, match="cannot be added"):
        session.flush()
    session.rollback()

    session.delete(rubrics.rubric_items(session, rubric.id)[0])
    with pytest.raises(RubricImmutableError, match="cannot be deleted"):
        session.flush()
    session.rollback()

    rubric = rubrics.current_rubric(session, "spot_check")
    rubric.title = "changed"
    session.add(rubric)
    with pytest.raises(RubricImmutableError, match=r"\(title\)"):
        session.flush()
    session.rollback()

    with pytest.raises(RubricImmutableError):
        rubrics.update_draft_rubric(session, rubric, rubrics.default_rubric_spec("spot_check"))


def test_draft_rubric_can_be_edited_then_published(session: Session, tmp_path: Path):
    rubrics.ensure_default_rubrics(session)
    draft = rubrics.load_rubric_file(session, write(tmp_path, SMALL), publish=False)
    spec = rubrics.parse_rubric(tomllib.loads(SMALL))
    spec.title = "简表（修订）"
    spec.items = spec.items[:1]
    rubrics.update_draft_rubric(session, draft, spec)
    session.commit()
    assert [i.code for i in rubrics.rubric_items(session, draft.id)] == ["attitude"]
    rubrics.publish_rubric(session, draft)
    session.commit()
    assert rubrics.current_rubric(session, "spot_check").title == "简表（修订）"
    with pytest.raises(rubrics.RubricError, match="published already"):
        rubrics.publish_rubric(session, draft)


def test_older_draft_cannot_overtake_newer_published(session: Session, tmp_path: Path):
    older = rubrics.load_rubric_file(session, write(tmp_path, SMALL), publish=False)
    rubrics.load_rubric_file(session, write(tmp_path, SMALL), publish=True)
    with pytest.raises(rubrics.RubricError, match="older than the published v2"):
        rubrics.publish_rubric(session, older)


def test_rubric_with_feedback_cannot_be_deleted(session: Session, world, make_input):
    submit_feedback(session, user=world.supervisor, data=make_input(), today=TODAY)
    session.commit()
    rubric = rubrics.current_rubric(session, "spot_check")
    session.delete(rubric)
    with pytest.raises(RubricImmutableError, match="cannot be deleted"):
        session.flush()
    session.rollback()
    assert session.exec(select(Feedback)).one().rubric_id == rubric.id


# --- CLI --------------------------------------------------------------------------------


def test_cli_load_list_show_publish(session: Session, tmp_path: Path, run_rubric_cli):
    result = run_rubric_cli("defaults")
    assert result.exit_code == 0, result.output
    assert "Published" in result.output and "tutor_group v1" in result.output
    assert "already" in run_rubric_cli("defaults").output

    result = run_rubric_cli("load", str(write(tmp_path, SMALL)), "--draft")
    assert result.exit_code == 0, result.output
    assert "Loaded spot_check v2 (2 items), stored as a draft." in result.output

    result = run_rubric_cli("list", "--kind", "spot_check")
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert lines[1].split()[:5] == ["spot_check", "1", "published", "10", "*"]
    assert lines[2].split()[:4] == ["spot_check", "2", "draft", "2"]

    result = run_rubric_cli("show", "spot_check", "--version", "2")
    assert result.exit_code == 0, result.output
    assert "spot_check v2 (draft)" in result.output
    assert "attitude" in result.output and "total weight 100" in result.output
    assert "evalsys rubric publish spot_check --version 2" in result.output

    result = run_rubric_cli("publish", "spot_check", "--version", "2")
    assert result.exit_code == 0, result.output
    result = run_rubric_cli("show", "spot_check")
    assert "spot_check v2 (published" in result.output and "current" in result.output

    result = run_rubric_cli("show", "tutor_group", "--json")
    data = json.loads(result.output)
    assert data["kind"] == "tutor_group" and len(data["items"]) == 8


def test_cli_load_error_exits_with_the_messages(tmp_path: Path, run_rubric_cli):
    text = rubric_text(ITEM.format(code="a").replace("weight = 10", "weight = 0"))
    result = run_rubric_cli("load", str(write(tmp_path, text)))
    assert result.exit_code == 1
    assert "item 1 'a': weight: must be greater than 0, got 0" in result.output
    assert "No rubrics yet" in run_rubric_cli("list").output


def test_cli_show_unknown_version(run_rubric_cli):
    result = run_rubric_cli("show", "open_class", "--version", "7")
    assert result.exit_code == 1
    assert "there is no open_class v7" in result.output
