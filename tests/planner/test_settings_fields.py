"""The planner's settings are named once (service.SETTING_FIELDS): the form asks for exactly
those, in that order, hands them to save_settings as the model's types, and shows them back."""

from __future__ import annotations

import pytest
from werkzeug.datastructures import MultiDict

from evalsys.planner import service
from evalsys.planner.forms import PlanSettingsForm
from evalsys.planner.models import PlanSetting

#: Form fields that are not settings.
NOT_SETTINGS = {"save", "csrf_token"}


@pytest.fixture
def request_context(app):
    with app.test_request_context():
        yield


def _form(formdata: MultiDict | None = None, **kwargs) -> PlanSettingsForm:
    return PlanSettingsForm(formdata, meta={"csrf": False}, **kwargs)


def test_the_form_asks_for_exactly_the_settings_in_order(request_context):
    names = [field.name for field in _form() if field.name not in NOT_SETTINGS]
    assert tuple(names) == service.SETTING_FIELDS
    assert set(service.SETTING_FIELDS) <= set(PlanSetting.__table__.c.keys())


def test_values_are_every_setting_as_the_model_stores_it(request_context):
    typed = {
        "visits_per_week": "3",
        "max_visits_per_week": "5",
        "quota_from_week": "3",
        "visits_per_teacher": "2",
        "buffer_weeks": "1",
        "weight_new_staff": "2.5",
        "weight_low_rated": "3",
        "low_rating_threshold": "65",
        "weight_never_visited": "1.25",
        "unannounced_share": "0.3",
        "active": "y",
    }
    form = _form(MultiDict(typed))
    assert form.validate(), form.errors
    values = form.values()
    assert tuple(values) == service.SETTING_FIELDS
    assert values["visits_per_week"] == 3 and type(values["visits_per_week"]) is int
    assert values["weight_low_rated"] == 3.0 and type(values["weight_low_rated"]) is float
    assert values["unannounced_share"] == 0.3 and type(values["unannounced_share"]) is float
    assert values["active"] is True


def test_stored_settings_come_back_into_the_form_unchanged(request_context, session, factory):
    term = factory.term()
    stored = service.save_settings(
        session,
        term=term,
        values={"visits_per_week": 3, "weight_low_rated": 2.75, "active": False},
    )
    form = _form(data=PlanSettingsForm.data_of(stored))
    assert form.values() == {name: getattr(stored, name) for name in service.SETTING_FIELDS}
    assert form.values()["active"] is False
