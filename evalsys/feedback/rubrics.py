"""Rubrics: reading rubric files, versions, publishing, the current rubric of a kind.

A rubric file (TOML or JSON, see docs/rubrics.md) describes one version of one
kind. Loading it always makes a new version, ``max(version) + 1`` for the kind;
publishing it retires the version it replaces. Feedback keeps the rubric it was
given on, so nothing given on an older version changes.
"""

from __future__ import annotations

import json
import math
import re
import tomllib
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from datetime import datetime
from importlib import resources
from pathlib import Path
from typing import Any

from flask_babel import gettext as _
from sqlalchemy import func
from sqlmodel import Session, col, select

from evalsys.accounts.service import audit
from evalsys.clock import utcnow
from evalsys.feedback.models import Rubric, RubricImmutableError, RubricItem
from evalsys.feedback.vocab import (
    DIMENSIONS,
    FeedbackKind,
    RubricStatus,
    values,
)

CODE_PATTERN = re.compile(r"^[a-z][a-z0-9_]*$")
CODE_LIMIT = 40

_RUBRIC_TEXT = {"title": 200, "title_en": 200, "description": 2000, "description_en": 2000}
_ITEM_TEXT = {"label": 200, "label_en": 200, "description": 1000, "description_en": 1000}
_RUBRIC_KEYS = {"kind", "scale_min", "scale_max", "items", *_RUBRIC_TEXT}
_ITEM_KEYS = {"code", "dimension", "scale_min", "scale_max", "weight", "required", *_ITEM_TEXT}


class RubricError(ValueError):
    """A rubric operation that cannot be carried out; the message says why."""


class RubricFileError(RubricError):
    """A rubric file with mistakes; ``errors`` names each item and key that is wrong."""

    def __init__(self, source: str, errors: Sequence[str]) -> None:
        self.source = source
        self.errors = list(errors)
        lines = "\n".join(f"  - {e}" for e in self.errors)
        super().__init__(f"{source}: {len(self.errors)} error(s)\n{lines}")


@dataclass
class ItemSpec:
    code: str
    label: str
    dimension: str
    scale_min: int
    scale_max: int
    weight: float
    required: bool = True
    label_en: str | None = None
    description: str | None = None
    description_en: str | None = None


@dataclass
class RubricSpec:
    kind: str
    title: str
    items: list[ItemSpec] = field(default_factory=list)
    title_en: str | None = None
    description: str | None = None
    description_en: str | None = None


# --- reading and checking a rubric file -------------------------------------------------


def read_rubric_file(path: Path | str) -> RubricSpec:
    """Parse and check a ``.toml`` or ``.json`` rubric file; every mistake is reported."""
    path = Path(path)
    source = str(path)
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as err:
        raise RubricFileError(source, [_("cannot read the file: %(reason)s", reason=err)]) from err
    suffix = path.suffix.lower()
    if suffix not in (".toml", ".json"):
        raise RubricFileError(
            source, [_("unknown file type '%(suffix)s': use .toml or .json", suffix=suffix)]
        )
    return read_rubric_text(text, suffix[1:], source=source)


def read_rubric_text(text: str, fmt: str, *, source: str = "rubric") -> RubricSpec:
    """Parse and check rubric text in ``fmt`` ("toml" or "json"), as pasted or uploaded."""
    try:
        if fmt == "toml":
            data: Any = tomllib.loads(text)
        elif fmt == "json":
            data = json.loads(text)
        else:
            raise RubricFileError(
                source, [_("unknown format '%(format)s': use toml or json", format=fmt)]
            )
    except tomllib.TOMLDecodeError as err:
        raise RubricFileError(source, [_("not valid TOML: %(reason)s", reason=err)]) from err
    except json.JSONDecodeError as err:
        raise RubricFileError(source, [_("not valid JSON: %(reason)s", reason=err)]) from err
    return parse_rubric(data, source=source)


def parse_rubric(data: Any, *, source: str = "rubric") -> RubricSpec:
    """Check the structure of a rubric (a decoded file) and return it as a spec."""
    errors: list[str] = []
    if not isinstance(data, Mapping):
        raise RubricFileError(source, [_("the top level must be a table (a JSON object)")])
    for key in sorted(set(data) - _RUBRIC_KEYS):
        keys = ", ".join(sorted(_RUBRIC_KEYS))
        if key == "version":
            message = _(
                "%(key)s: unknown key (versions are numbered when loading); keys are %(keys)s",
                key=key,
                keys=keys,
            )
        else:
            message = _("%(key)s: unknown key; keys are %(keys)s", key=key, keys=keys)
        errors.append(message)

    kind = data.get("kind")
    if kind not in values(FeedbackKind):
        kinds = ", ".join(values(FeedbackKind))
        errors.append(
            _(
                "kind: unknown kind %(kind)s; expected one of %(kinds)s",
                kind=repr(kind),
                kinds=kinds,
            )
        )
        kind = None
    texts = _texts(data, _RUBRIC_TEXT, "", errors)
    if not texts.get("title"):
        errors.append(_("title: missing; give the rubric a title"))
    default_min = _int(data, "scale_min", "", errors)
    default_max = _int(data, "scale_max", "", errors)

    raw_items = data.get("items")
    items: list[ItemSpec] = []
    if raw_items is None or raw_items == []:
        errors.append(_("items: no items; a rubric needs at least one [[items]] entry"))
    elif not isinstance(raw_items, list):
        errors.append(_("items: must be a list of tables ([[items]] in TOML, an array in JSON)"))
    else:
        seen: dict[str, int] = {}
        for number, raw in enumerate(raw_items, start=1):
            item = _parse_item(raw, number, kind, default_min, default_max, seen, errors)
            if item is not None:
                items.append(item)
    if errors:
        raise RubricFileError(source, errors)
    assert kind is not None
    # The title is checked above; the other texts are optional.
    return RubricSpec(kind=kind, items=items, **texts)  # type: ignore[arg-type]


def _parse_item(
    raw: Any,
    number: int,
    kind: str | None,
    default_min: int | None,
    default_max: int | None,
    seen: dict[str, int],
    errors: list[str],
) -> ItemSpec | None:
    if not isinstance(raw, Mapping):
        errors.append(
            _("item %(number)s: must be a table with code, label, dimension, weight", number=number)
        )
        return None
    code = raw.get("code")
    if isinstance(code, str) and code:
        where = _("item %(number)s '%(code)s'", number=number, code=code)
    else:
        where = _("item %(number)s", number=number)
    before = len(errors)
    for key in sorted(set(raw) - _ITEM_KEYS):
        errors.append(
            _(
                "%(where)s: %(key)s: unknown key; keys are %(keys)s",
                where=where,
                key=key,
                keys=", ".join(sorted(_ITEM_KEYS)),
            )
        )

    if not isinstance(code, str) or not code:
        errors.append(_("%(where)s: code: missing", where=where))
    elif len(code) > CODE_LIMIT or not CODE_PATTERN.match(code):
        errors.append(
            _(
                "%(where)s: code: use lower-case letters, digits and '_', starting with a letter,"
                " at most %(limit)s characters",
                where=where,
                limit=CODE_LIMIT,
            )
        )
    elif code in seen:
        errors.append(
            _(
                "%(where)s: code: duplicate item code (item %(other)s has it too)",
                where=where,
                other=seen[code],
            )
        )
    else:
        seen[code] = number

    texts = _texts(raw, _ITEM_TEXT, where, errors)
    if not texts.get("label"):
        errors.append(_("%(where)s: label: missing", where=where))

    dimension = raw.get("dimension")
    allowed = DIMENSIONS.get(kind or "", {})
    if not isinstance(dimension, str) or not dimension:
        errors.append(
            _(
                "%(where)s: dimension: missing; one of %(dimensions)s",
                where=where,
                dimensions=", ".join(allowed) or "…",
            )
        )
    elif kind is not None and dimension not in allowed:
        errors.append(
            _(
                "%(where)s: dimension: unknown dimension '%(dimension)s' for %(kind)s;"
                " expected one of %(dimensions)s",
                where=where,
                dimension=dimension,
                kind=kind,
                dimensions=", ".join(allowed),
            )
        )

    scale_min = _scale(raw, "scale_min", default_min, where, errors)
    scale_max = _scale(raw, "scale_max", default_max, where, errors)
    if scale_min is not None and scale_max is not None and scale_max <= scale_min:
        errors.append(
            _(
                "%(where)s: scale_max: must be greater than scale_min (%(max)s ≤ %(min)s)",
                where=where,
                max=scale_max,
                min=scale_min,
            )
        )

    weight = raw.get("weight")
    if weight is None:
        errors.append(_("%(where)s: weight: missing", where=where))
    elif isinstance(weight, bool) or not isinstance(weight, int | float):
        errors.append(
            _("%(where)s: weight: must be a number, got %(value)s", where=where, value=repr(weight))
        )
    elif not math.isfinite(weight) or weight <= 0:
        errors.append(
            _("%(where)s: weight: must be greater than 0, got %(value)s", where=where, value=weight)
        )

    required = raw.get("required", True)
    if not isinstance(required, bool):
        errors.append(
            _(
                "%(where)s: required: must be true or false, got %(value)s",
                where=where,
                value=repr(required),
            )
        )

    if len(errors) > before:
        return None
    # No new error: code, dimension and weight passed their checks above. A scale can
    # still be None: _int lets an explicit JSON null through without an error.
    assert isinstance(code, str) and isinstance(dimension, str) and weight is not None
    return ItemSpec(
        code=code,
        dimension=dimension,
        scale_min=scale_min,  # type: ignore[arg-type]  # None for a JSON null (see above)
        scale_max=scale_max,  # type: ignore[arg-type]  # None for a JSON null (see above)
        weight=float(weight),
        required=required,
        **texts,  # type: ignore[arg-type]  # label checked above; the other texts are optional
    )


def _texts(
    raw: Mapping[str, Any], limits: dict[str, int], where: str, errors: list[str]
) -> dict[str, str | None]:
    out: dict[str, str | None] = {}
    for key, limit in limits.items():
        value = raw.get(key)
        if value is None:
            out[key] = None
        elif not isinstance(value, str):
            errors.append(
                _located(
                    where, _("%(key)s: must be text, got %(value)s", key=key, value=repr(value))
                )
            )
        elif len(value.strip()) > limit:
            errors.append(
                _located(
                    where,
                    _(
                        "%(key)s: %(length)s characters; the limit is %(limit)s",
                        key=key,
                        length=len(value.strip()),
                        limit=limit,
                    ),
                )
            )
        else:
            out[key] = value.strip() or None
    return out


def _located(where: str, message: str) -> str:
    """``message`` about an item (``where`` names it), or as it is for the rubric's top."""
    return _("%(where)s: %(message)s", where=where, message=message) if where else message


def _scale(
    raw: Mapping[str, Any], key: str, default: int | None, where: str, errors: list[str]
) -> int | None:
    if key in raw:
        return _int(raw, key, where, errors)
    if default is None:
        errors.append(
            _(
                "%(where)s: %(key)s: missing (give it here or at the top of the file)",
                where=where,
                key=key,
            )
        )
    return default


def _int(raw: Mapping[str, Any], key: str, where: str, errors: list[str]) -> int | None:
    value = raw.get(key)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int):
        errors.append(
            _located(
                where,
                _("%(key)s: must be a whole number, got %(value)s", key=key, value=repr(value)),
            )
        )
        return None
    return value


# --- versions in the database ----------------------------------------------------------


def current_rubric(session: Session, kind: str) -> Rubric | None:
    """The rubric new feedback of this kind is given on: its highest published version."""
    stmt = (
        select(Rubric)
        .where(Rubric.kind == kind, Rubric.status == RubricStatus.PUBLISHED)
        .order_by(col(Rubric.version).desc())
        .limit(1)
    )
    return session.exec(stmt).first()


def get_rubric(session: Session, kind: str, version: int | None = None) -> Rubric | None:
    """A given version, or without one the current rubric (else the newest version)."""
    if version is None:
        current = current_rubric(session, kind)
        if current is not None:
            return current
        stmt = select(Rubric).where(Rubric.kind == kind).order_by(col(Rubric.version).desc())
        return session.exec(stmt).first()
    stmt = select(Rubric).where(Rubric.kind == kind, Rubric.version == version)
    return session.exec(stmt).first()


def list_rubrics(session: Session, kind: str | None = None) -> list[tuple[Rubric, int]]:
    """Every rubric (kind, then version) with its number of items."""
    stmt = (
        select(Rubric, func.count(col(RubricItem.id)))
        .outerjoin(RubricItem, col(RubricItem.rubric_id) == Rubric.id)
        .group_by(col(Rubric.id))
        .order_by(col(Rubric.kind), col(Rubric.version))
    )
    if kind is not None:
        stmt = stmt.where(Rubric.kind == kind)
    return [(rubric, count) for rubric, count in session.exec(stmt).all()]


def rubric_items(session: Session, rubric_id: int) -> list[RubricItem]:
    stmt = (
        select(RubricItem)
        .where(RubricItem.rubric_id == rubric_id)
        .order_by(col(RubricItem.position), col(RubricItem.id))
    )
    return list(session.exec(stmt).all())


def create_rubric(
    session: Session,
    spec: RubricSpec,
    *,
    publish: bool,
    now: datetime | None = None,
    user_id: int | None = None,
) -> Rubric:
    """Store the spec as the next version of its kind, as a draft or published."""
    latest = session.exec(select(func.max(Rubric.version)).where(Rubric.kind == spec.kind)).one()
    rubric = Rubric(
        kind=spec.kind,
        version=(latest or 0) + 1,
        title=spec.title,
        title_en=spec.title_en,
        description=spec.description,
        description_en=spec.description_en,
        status=RubricStatus.DRAFT.value,
        created_at=now or utcnow(),
    )
    session.add(rubric)
    session.flush()
    _add_items(session, rubric, spec.items)
    audit(session, "rubric.create", user_id=user_id, target=f"{rubric.kind} v{rubric.version}")
    if publish:
        publish_rubric(session, rubric, now=now, user_id=user_id)
    return rubric


def _add_items(session: Session, rubric: Rubric, items: Sequence[ItemSpec]) -> None:
    for position, item in enumerate(items, start=1):
        # Ignored below: a stored row's id, never None.
        session.add(RubricItem(rubric_id=rubric.id, position=position, **asdict(item)))  # type: ignore[arg-type]
    session.flush()


def load_rubric_file(
    session: Session,
    path: Path | str,
    *,
    publish: bool,
    now: datetime | None = None,
    user_id: int | None = None,
) -> Rubric:
    """Read a rubric file and store it as the next version of its kind."""
    return create_rubric(session, read_rubric_file(path), publish=publish, now=now, user_id=user_id)


def publish_rubric(
    session: Session, rubric: Rubric, *, now: datetime | None = None, user_id: int | None = None
) -> Rubric:
    """Make a draft the current rubric of its kind; the version it replaces is retired."""
    if rubric.status != RubricStatus.DRAFT:
        raise RubricError(
            _(
                "rubric %(kind)s v%(version)s is %(status)s already",
                kind=rubric.kind,
                version=rubric.version,
                status=rubric.status,
            )
        )
    # Ignored below: a stored row's id, never None.
    if not rubric_items(session, rubric.id):  # type: ignore[arg-type]
        raise RubricError(
            _("rubric %(kind)s v%(version)s has no items", kind=rubric.kind, version=rubric.version)
        )
    current = current_rubric(session, rubric.kind)
    if current is not None and current.version > rubric.version:
        raise RubricError(
            _(
                "rubric %(kind)s v%(version)s is older than the published v%(current)s;"
                " load the file again to make a newer version",
                kind=rubric.kind,
                version=rubric.version,
                current=current.version,
            )
        )
    published = session.exec(
        select(Rubric).where(Rubric.kind == rubric.kind, Rubric.status == RubricStatus.PUBLISHED)
    ).all()
    for old in published:
        old.status = RubricStatus.RETIRED.value
        session.add(old)
    rubric.status = RubricStatus.PUBLISHED.value
    rubric.published_at = now or utcnow()
    session.add(rubric)
    session.flush()
    audit(session, "rubric.publish", user_id=user_id, target=f"{rubric.kind} v{rubric.version}")
    return rubric


def update_draft_rubric(session: Session, rubric: Rubric, spec: RubricSpec) -> Rubric:
    """Replace a draft's texts and items. A published rubric is never edited."""
    if rubric.status != RubricStatus.DRAFT:
        raise RubricImmutableError(
            f"rubric {rubric.kind} v{rubric.version} is {rubric.status}: it cannot be changed; "
            "load a new version instead"
        )
    if spec.kind != rubric.kind:
        raise RubricError(f"a {spec.kind} spec cannot replace a {rubric.kind} rubric")
    for key in ("title", "title_en", "description", "description_en"):
        setattr(rubric, key, getattr(spec, key))
    session.add(rubric)
    # Ignored below: a stored row's id, never None.
    for item in rubric_items(session, rubric.id):  # type: ignore[arg-type]
        session.delete(item)
    session.flush()
    _add_items(session, rubric, spec.items)
    return rubric


# --- the rubrics evalsys ships ----------------------------------------------------------


def default_rubric_path(kind: str) -> Any:
    """The packaged default rubric file of a kind (a Traversable)."""
    return resources.files("evalsys.feedback") / "default_rubrics" / f"{kind}.toml"


def default_rubric_spec(kind: str) -> RubricSpec:
    path = default_rubric_path(kind)
    return parse_rubric(tomllib.loads(path.read_text(encoding="utf-8")), source=str(path))


def ensure_default_rubrics(
    session: Session, *, now: datetime | None = None, user_id: int | None = None
) -> list[Rubric]:
    """Publish version 1 of each kind that has no rubric yet (safe to run again)."""
    created = []
    for kind in values(FeedbackKind):
        exists = session.exec(select(Rubric.id).where(Rubric.kind == kind).limit(1)).first()
        if exists is None:
            spec = default_rubric_spec(kind)
            created.append(create_rubric(session, spec, publish=True, now=now, user_id=user_id))
    return created


def rubric_as_dict(session: Session, rubric: Rubric) -> dict[str, Any]:
    """A rubric in the file format: saved as JSON, it loads again as a new version."""
    items = []
    # Ignored below: a stored row's id, never None.
    for item in rubric_items(session, rubric.id):  # type: ignore[arg-type]
        entry: dict[str, Any] = {
            "code": item.code,
            "label": item.label,
            "label_en": item.label_en,
            "dimension": item.dimension,
            "scale_min": item.scale_min,
            "scale_max": item.scale_max,
            "weight": item.weight,
            "required": item.required,
            "description": item.description,
            "description_en": item.description_en,
        }
        items.append({k: v for k, v in entry.items() if v is not None})
    head = {
        "kind": rubric.kind,
        "title": rubric.title,
        "title_en": rubric.title_en,
        "description": rubric.description,
        "description_en": rubric.description_en,
    }
    return {k: v for k, v in head.items() if v is not None} | {"items": items}
