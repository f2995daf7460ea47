"""A result row as exports and the API give it: the one list of its fields, as a model.

:class:`AggregateRow` names the fields of a row in order; :data:`ROW_FIELDS` (read
by :mod:`evalsys.aggregation.read` to shape rows, and by
:mod:`evalsys.aggregation.export` for the CSV columns) is its field names, and the
API's OpenAPI document shows its JSON schema. So a field is added, renamed or
dropped here once, and the rows, the CSV and the API document follow together
(tests/aggregation/test_row_fields.py holds them to it). The API validates each
row it sends against the model, so the document cannot promise what a row lacks.
"""

from __future__ import annotations

from typing import Any, Literal, get_args

from pydantic import BaseModel, ConfigDict, Field

from evalsys.aggregation.models import RESULT_KINDS, FlagCode, Level

__all__ = ["BANDS", "COVERAGE_FIELDS", "ROW_FIELDS", "AggregateFlag", "AggregateRow"]

#: ``RESULT_KINDS`` as a type: a kind of feedback, or all kinds together.
ResultKind = Literal["spot_check", "open_class", "tutor_group", "all"]
assert get_args(ResultKind) == RESULT_KINDS, "ResultKind and RESULT_KINDS differ"

_STRICT = ConfigDict(extra="forbid")


class AggregateFlag(BaseModel):
    """A figure past a configured limit (a row can have several)."""

    model_config = _STRICT

    flag: FlagCode
    value: float = Field(description="The figure that raised the flag.")
    threshold: float = Field(description="The configured limit it crossed.")
    reason: str = Field(description="Why, in words.")


class Bands(BaseModel):
    """Records per band of the overall score: <60, 60-70, 70-80, 80-90, >=90."""

    model_config = ConfigDict(extra="forbid", serialize_by_alias=True, validate_by_name=True)

    fail: int = Field(ge=0)
    pass_: int = Field(ge=0, alias="pass")  # a keyword in Python
    fair: int = Field(ge=0)
    good: int = Field(ge=0)
    excellent: int = Field(ge=0)


class Coverage(BaseModel):
    """Sections, teachers and tutor groups of the unit, and how many were observed
    (null where the level has no coverage row)."""

    model_config = _STRICT

    sections: int | None = Field(ge=0)
    sections_spot: int | None = Field(ge=0)
    sections_open: int | None = Field(ge=0)
    teachers: int | None = Field(ge=0)
    teachers_spot: int | None = Field(ge=0)
    teachers_open: int | None = Field(ge=0)
    tutor_groups: int | None = Field(ge=0)
    tutor_groups_reported: int | None = Field(ge=0)


class AggregateRow(BaseModel):
    """Statistics of one (level, unit, kind, dimension) on the 0-100 scale. An insufficient
    row (n below MIN_N) keeps its numbers but has no comparisons or flags."""

    model_config = _STRICT

    term: str
    level: Level
    unit_code: str = Field(description="Unit, course or section code.")
    unit_name: str | None
    parent_level: Level | None
    parent_code: str | None
    kind: ResultKind = Field(description="A kind of feedback, or 'all' kinds together.")
    dimension: str = Field(description="A rubric dimension, or 'overall' (the overall score).")
    n: int = Field(ge=0, description="Feedback records.")
    observers: int = Field(ge=0)
    mean: float | None
    sd: float | None
    median: float | None
    min: float | None
    max: float | None
    bands: Bands
    insufficient: bool = Field(description="n below MIN_N.")
    parent_mean: float | None
    parent_diff: float | None
    parent_z: float | None
    prev_term: str | None
    prev_mean: float | None
    prev_change: float | None
    coverage: Coverage
    flags: list[AggregateFlag]


def _names(model: type[BaseModel]) -> tuple[str, ...]:
    """The model's keys as JSON writes them (an alias where a name is a Python keyword)."""
    return tuple(field.alias or name for name, field in model.model_fields.items())


#: The fields of a result row, in order: the CSV columns and the API schema follow them.
ROW_FIELDS: tuple[str, ...] = _names(AggregateRow)
BANDS: tuple[str, ...] = _names(Bands)
COVERAGE_FIELDS: tuple[str, ...] = _names(Coverage)


def row_schema() -> dict[str, Any]:
    """The row's JSON schema (for tests and readers who want it without the API)."""
    return AggregateRow.model_json_schema(mode="serialization")
