"""PostgreSQL's values computed in NumPy (``figures.pg_values``, ``figures.pg_round6``).

On PostgreSQL a run reads the records' scores and computes each record's value per
dimension itself; these must be the very doubles ``sql.TERM_VALUES`` gave, rounding
included. Checked against a model of the database's rounding (its 15 significant
digits, then half away from zero) and, where the tests run on PostgreSQL, against the
database itself, on halves, near-halves and values far out of the 0-100 range.
"""

from __future__ import annotations

import random
from decimal import ROUND_HALF_UP, Decimal

import numpy as np
import pytest
from sqlalchemy import text

from evalsys.aggregation import figures


def _tricky() -> np.ndarray:
    rng = random.Random(18)
    halves = [(k + 0.5) / 1e6 for k in rng.sample(range(100_000_000), 300)]
    near = [h + d for h in halves[:100] for d in (1e-13, -1e-13, 3e-12, -3e-12)]
    plain = [rng.uniform(0, 100) for _ in range(500)]
    other = [
        0.0,
        100.0,
        60.0,
        59.9999995,
        2.5e-7,
        -5e-7,
        -1.2345675,
        1234.5678905,
        1e9 + 0.5e-6,
        7e-12,
    ]
    return np.array(halves + near + plain + other + [-v for v in plain[:50]])


def _scores(record, item, value) -> list[np.ndarray]:
    scores = np.zeros(len(record), dtype=figures.SCORE)
    scores["record"], scores["item"], scores["value"] = record, item, value
    return [scores]


def _model(value: float) -> int:
    return int(Decimal(f"{value:.15g}").scaleb(6).quantize(Decimal(1), ROUND_HALF_UP))


@pytest.mark.once("pure NumPy: no database")
def test_rounding_is_the_databases_model():
    values = _tricky()
    assert figures.pg_round6(values).tolist() == [_model(v) for v in values.tolist()]


def test_rounding_is_the_databases_own(session):
    if session.connection().dialect.name != "postgresql":
        pytest.skip("PostgreSQL's own rounding")
    values = _tricky()
    rows = session.execute(
        text(
            "SELECT CAST(ROUND(CAST(x AS NUMERIC), 6) AS DOUBLE PRECISION)"
            " FROM UNNEST(CAST(:xs AS DOUBLE PRECISION[])) WITH ORDINALITY AS t(x, i) ORDER BY i"
        ),
        {"xs": values.tolist()},
    ).scalars()
    mine = figures.pg_round6(values) / figures.SCALE
    assert mine.view(np.int64).tolist() == np.array(list(rows)).view(np.int64).tolist()


@pytest.mark.once("pure NumPy: no database")
def test_values_are_summed_left_to_right_in_item_order():
    # items: id, dimension code, weight, scale minimum, span
    items = np.array([[1, 1, 10, 0, 10], [2, 1, 5, 0, 10], [3, 1, 15, 0, 10], [4, 2, 1, 1, 4]])
    record = np.array([7, 7, 7, 7, 8])
    item = np.array([3, 1, 4, 2, 4])
    score = np.array([7.0, 3.0, 5.0, 9.0, 2.0])
    rec, dim, value = figures.pg_values(_scores(record, item, score), items.astype(np.float64))
    assert rec.tolist() == [7, 7, 8] and dim.tolist() == [1, 2, 2]
    first = 100.0 * ((10 * 3.0 / 10 + 5 * 9.0 / 10) + 15 * 7.0 / 10) / ((10.0 + 5) + 15)
    assert value.tolist() == [_model(first) / 1e6, 100.0, 25.0]


@pytest.mark.once("pure NumPy: no database")
def test_a_dimension_of_weight_zero_is_an_error():
    items = np.array([[1, 1, 0, 0, 10]], dtype=np.float64)
    with pytest.raises(ValueError, match="could not be computed"):
        figures.pg_values(_scores([1], [1], [5.0]), items)
