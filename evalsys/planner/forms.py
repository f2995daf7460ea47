"""The plan settings form: every number checked with a message next to its field.

Which settings there are is :data:`evalsys.planner.service.SETTING_FIELDS` (what the
service saves), their types the model's columns; the form declares only how each is
asked for and checked, and a test holds its fields to that list.
"""

from __future__ import annotations

from typing import Any

from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from wtforms import BooleanField, DecimalField, SubmitField
from wtforms.validators import InputRequired, NumberRange, Optional, ValidationError

from evalsys.planner.models import PlanSetting
from evalsys.planner.service import SETTING_FIELDS
from evalsys.validation import IntegerField, SafeForm


def _weight(label: Any) -> DecimalField:
    return DecimalField(
        label,
        places=None,
        validators=[
            InputRequired(_l("Enter a weight, e.g. 2 (1 means no extra weight).")),
            NumberRange(min=0.1, max=100, message=_l("A weight lies between 0.1 and 100.")),
        ],
    )


class PlanSettingsForm(SafeForm):
    visits_per_week = IntegerField(
        _l("Quota: visits per supervisor per week (at least)"),
        validators=[
            InputRequired(_l("Enter the weekly quota, e.g. 2.")),
            NumberRange(min=0, max=20, message=_l("Between 0 and 20 visits a week.")),
        ],
    )
    max_visits_per_week = IntegerField(
        _l("At most, when the coverage target needs more"),
        validators=[
            InputRequired(_l("Enter the weekly maximum, e.g. 4.")),
            NumberRange(min=0, max=30, message=_l("Between 0 and 30 visits a week.")),
        ],
    )
    quota_from_week = IntegerField(
        _l("The quota counts from week (1: the whole term)"),
        validators=[InputRequired(_l("Enter the week of the term the quota starts, e.g. 1."))],
    )
    visits_per_teacher = IntegerField(
        _l("Coverage target: visits per teacher per term (0: no target)"),
        validators=[
            InputRequired(_l("Enter the coverage target, e.g. 1.")),
            NumberRange(min=0, max=10, message=_l("Between 0 and 10 visits a term.")),
        ],
    )
    buffer_weeks = IntegerField(
        _l("Reach the target this many weeks before the end of term"),
        validators=[
            InputRequired(_l("Enter a number of weeks, e.g. 2.")),
            NumberRange(min=0, max=10, message=_l("Between 0 and 10 weeks.")),
        ],
    )
    weight_new_staff = _weight(_l("Weight of new staff (no section in an earlier term)"))
    weight_low_rated = _weight(_l("Weight of teachers rated low last term"))
    low_rating_threshold = DecimalField(
        _l("…rated low: last term's overall mean below (0-100)"),
        places=None,
        validators=[
            InputRequired(_l("Enter a score between 0 and 100, e.g. 70.")),
            NumberRange(min=0, max=100, message=_l("A score between 0 and 100.")),
        ],
    )
    weight_never_visited = _weight(_l("Weight of teachers never visited by a spot check"))
    unannounced_share = DecimalField(
        _l("Share of unannounced visits (0 to 1)"),
        places=None,
        validators=[
            InputRequired(_l("Enter a share between 0 and 1, e.g. 0.5.")),
            NumberRange(min=0, max=1, message=_l("A share between 0 and 1, e.g. 0.5 for half.")),
        ],
    )
    active = BooleanField(_l("Draw this term every week (the Friday job)"))
    save = SubmitField(_l("Save settings"))

    #: The term's last week (weeks.last_week), set by the view: the quota's first week
    #: must lie in the term. None: only "from week 1 on" is checked.
    last_week: int | None = None

    def validate_quota_from_week(self, field: IntegerField) -> None:
        week = field.data
        if week is None:
            return
        if self.last_week is not None and not 1 <= week <= self.last_week:
            raise ValidationError(
                _(
                    "A week of this term: from 1 to %(last)s (week 1 holds the term's first day).",
                    last=self.last_week,
                )
            )
        if week < 1:
            raise ValidationError(_("A week of the term, from 1."))

    def validate_max_visits_per_week(self, field: IntegerField) -> None:
        low = self.visits_per_week.data
        if field.data is not None and low is not None and field.data < low:
            raise ValidationError(
                _("The maximum cannot be below the quota of %(quota)s.", quota=low)
            )

    def values(self) -> dict[str, Any]:
        """The checked values, as the model stores them (each of its column's type)."""
        return {name: _STORED_AS[name](getattr(self, name).data) for name in SETTING_FIELDS}

    @classmethod
    def data_of(cls, settings: PlanSetting) -> dict[str, Any]:
        return {name: getattr(settings, name) for name in SETTING_FIELDS}


#: The Python type each setting is stored as (the Decimal a DecimalField reads becomes a float).
_STORED_AS: dict[str, type] = {
    # SQLModel table classes have __table__ at run time, not in their type.
    name: PlanSetting.__table__.c[name].type.python_type  # type: ignore[attr-defined]
    for name in SETTING_FIELDS
}


class DrawForm(SafeForm):
    """Draw one week now, from the term page."""

    week = IntegerField(
        _l("Week"),
        validators=[
            InputRequired(_l("Enter the week of the term to draw.")),
            NumberRange(min=1, max=60, message=_l("A week of the term, from 1.")),
        ],
    )
    seed = IntegerField(
        _l("Seed (empty: a fresh one)"),
        validators=[
            Optional(),
            NumberRange(min=0, max=2**31 - 1, message=_l("A seed from 0 to 2147483647.")),
        ],
    )
    draw = SubmitField(_l("Draw"))


class CalendarForm(SafeForm):
    """Make a new calendar address, or stop the feed (the buttons carry no value)."""
