"""The columnar grouping (``figures.group``) against plain Python, on made-up values.

The oracle tests (test_statistics.py) check the stored rows of whole runs; this checks
the grouping itself, including the paths real data rarely takes: values that are not
the double of their 6 decimals, and keys too wide to pack into one integer.
"""

from __future__ import annotations

import random
import statistics
from collections import defaultdict

import numpy as np
import pytest

from evalsys.aggregation import figures
from evalsys.aggregation.models import Level

pytestmark = pytest.mark.once("pure NumPy over made-up arrays: no database")


def _values(rng: random.Random, count: int, *, exact: bool = True, wide: bool = False):
    units = rng.choices([1, 2, 3, 7, 2**40 if wide else 9], k=count)
    value = np.array(
        [
            round(rng.choice([60.0, 72.5, 100 / 3, 0.0, 100.0, rng.uniform(0, 100)]), 6)
            for _ in range(count)
        ]
    )
    if not exact:
        value[::7] += 1e-9  # not the double of 6 decimals any more
    scaled = np.rint(value * figures.SCALE).astype(np.int64)
    return figures.TermValues(
        kind=np.array(rng.choices([1, 2, 3], k=count), dtype=np.int32),
        dimension=np.array(rng.choices([1, 2, 5], k=count), dtype=np.int32),
        value=value,
        scaled=scaled,
        exact=bool(np.array_equal(scaled / figures.SCALE, value)),
        observer=np.array(rng.choices(range(100, 110), k=count), dtype=np.int32),
        units={level: np.array(units, dtype=np.int64) for level in figures.UNIT_ORDER},
    )


def _expected(values, *, all_kinds: bool):
    groups = defaultdict(list)
    for i in range(len(values)):
        kind = 0 if all_kinds else int(values.kind[i])
        key = (int(values.units[Level.COURSE][i]), kind, int(values.dimension[i]))
        groups[key].append((float(values.value[i]), int(values.observer[i])))
    return groups


@pytest.mark.parametrize(
    ("exact", "wide"),
    [(True, False), (False, False), (True, True)],
    ids=["packed", "inexact", "wide"],
)
@pytest.mark.parametrize("all_kinds", [False, True])
def test_every_figure_matches_plain_python(exact, wide, all_kinds):
    values = _values(random.Random(18), 3000, exact=exact, wide=wide)
    assert values.exact is exact
    got = figures.group(values, Level.COURSE, all_kinds=all_kinds, postgres=False)
    want = _expected(values, all_kinds=all_kinds)
    keys = list(zip(got.unit.tolist(), got.kind.tolist(), got.dimension.tolist(), strict=True))
    assert keys == sorted(want)
    for i, key in enumerate(keys):
        vals = [v for v, _ in want[key]]
        assert got.n[i] == len(vals)
        assert got.observers[i] == len({o for _, o in want[key]})
        assert got.median[i] == statistics.median(vals)  # (a + b) / 2, bit for bit
        assert (got.minimum[i], got.maximum[i]) == (min(vals), max(vals))
        assert got.mean[i] == pytest.approx(statistics.fmean(vals), rel=1e-12)
        want_sd = statistics.stdev(vals) if len(vals) > 1 else 0.0
        assert got.sd[i] == pytest.approx(want_sd, rel=1e-9, abs=1e-12)
        bands = [
            sum(lo <= v < hi for v in vals)
            for lo, hi in [(-1, 60), (60, 70), (70, 80), (80, 90), (90, 101)]
        ]
        assert got.bands[i].tolist() == bands


def test_postgres_medians_interpolate_as_percentile_cont():
    values = _values(random.Random(7), 500)
    sqlite = figures.group(values, Level.SECTION, all_kinds=True, postgres=False)
    pg = figures.group(values, Level.SECTION, all_kinds=True, postgres=True)
    even = sqlite.n % 2 == 0
    assert even.any()
    # Same middle values; only the even-n interpolation formula differs.
    assert np.allclose(sqlite.median, pg.median, rtol=1e-15, atol=0)
    assert (sqlite.median[~even] == pg.median[~even]).all()


def test_equal_values_have_an_sd_of_exactly_zero():
    count = 9
    values = figures.TermValues(
        kind=np.ones(count, dtype=np.int32),
        dimension=np.ones(count, dtype=np.int32),
        value=np.full(count, 73.333333),
        scaled=np.full(count, 73_333_333, dtype=np.int64),
        exact=True,
        observer=np.arange(count, dtype=np.int32),
        units={level: np.ones(count, dtype=np.int32) for level in figures.UNIT_ORDER},
    )
    got = figures.group(values, Level.SCHOOL, all_kinds=False, postgres=True)
    assert got.sd.tolist() == [0.0] and got.observers.tolist() == [count]
    assert got.median.tolist() == [73.333333]


def test_a_level_without_values_has_no_groups():
    values = _values(random.Random(1), 20)
    values.units[Level.SECTION][:] = 0  # tutor-group reports only: no section
    got = figures.group(values, Level.SECTION, all_kinds=False, postgres=False)
    assert len(got) == 0
