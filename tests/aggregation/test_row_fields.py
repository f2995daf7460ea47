"""One list of an aggregate row's fields (the AggregateRow model, whose field names are
ROW_FIELDS): the rows read, the CSV columns and the API's AggregateRow schema all
follow it, so none can gain or lose a field alone."""

from __future__ import annotations

from evalsys.aggregation import read, service
from evalsys.aggregation.export import CSV_FIELDS, csv_row, public_rows
from evalsys.aggregation.row import BANDS, COVERAGE_FIELDS, ROW_FIELDS, AggregateRow
from evalsys.api.views import openapi_document


def test_the_rows_read_are_the_fields_in_order(uni, session):
    service.aggregate_term(session, term=uni.terms["T2"].code)
    rows = public_rows(read.result_rows(session, term=uni.terms["T2"]))
    assert rows
    assert {tuple(row) for row in rows} == {ROW_FIELDS}
    assert all(tuple(csv_row(row)) == CSV_FIELDS for row in rows)
    # Every row is what the model (and so the API document) says, value by value.
    for row in rows:
        assert AggregateRow.model_validate(row).model_dump(mode="json") == row


def test_the_api_schema_has_exactly_the_fields():
    schemas = openapi_document()["components"]["schemas"]
    schema = schemas["AggregateRow"]
    assert tuple(schema["properties"]) == ROW_FIELDS
    assert tuple(schema["required"]) == ROW_FIELDS
    assert schema["additionalProperties"] is False
    assert tuple(schemas["Bands"]["properties"]) == BANDS
    assert tuple(schemas["Coverage"]["properties"]) == COVERAGE_FIELDS


def test_the_csv_spreads_the_nested_fields_and_keeps_the_rest_in_order():
    nested = {
        "bands": [f"band_{band}" for band in BANDS],
        "coverage": list(COVERAGE_FIELDS),
        "flags": ["flags", "flag_reasons"],
    }
    expected = [c for name in ROW_FIELDS for c in nested.get(name, [name])]
    assert list(CSV_FIELDS) == expected
