"""The grouped figures of every level, in one columnar pass over the term's values.

Step 2 of a run (see ``sql.py`` for the others), the same on SQLite and PostgreSQL:

1. Two streamed queries read the term's records (id, kind, observer, unit at each
   level: ~100,000 rows at university scale) and their per-dimension values
   (record, dimension, value: ~600,000 rows), computed by the database exactly as
   before (``sql.TERM_VALUES``), into NumPy arrays — a few plain arrays of numbers,
   never a Python object per record. (On PostgreSQL one query reads the records and
   their scores, each packed by the database into one ``bytea``, and the values are
   computed here with the database's own arithmetic and rounding, bit for bit:
   :func:`pg_values`.)
2. For each level, and each value once under its own kind and once under "all
   kinds": the group key (unit, kind, dimension) and the value as an exact integer
   (value × 10⁶) are packed into one 64-bit integer and sorted — (group, value)
   order — and every group's figures are read off the sorted array at once:
   ``np.add.reduceat`` for sums, the first / last / middle elements for min, max and
   median, ``np.bincount`` for bands; distinct observers from a second sort, of
   packed (group, observer) integers. (Where a key does not fit, a lexsort.)
3. Each group is compared with its parent unit's group of the same kind and dimension
   and with the previous term's (:func:`compare`: lookups in sorted keys, the same
   arithmetic the SQL did), and the ~144,000 group rows go into the work table
   ``agg_stats`` in bulk, a write per pass (``executemany`` on SQLite, ``COPY`` on
   PostgreSQL); the per-level SQL that writes the result rows reads them from there.

Why NumPy and not the database: SQLite has neither ``GROUPING SETS`` nor ordered-set
aggregates, so each level sorted its 1.2 million values into a work table and
indexed it (8 of the 10.5 s of a run); PostgreSQL's ``percentile_cont`` and
``COUNT(DISTINCT)`` per group took 6.5 s. Sorting 600,000 integers in memory takes
tens of milliseconds, and one code path serves both databases (docs/benchmarks.md).

Exactness, and identical re-runs:

* Sums are exact: values are rounded to 6 decimals by the database, so ``value ×
  10⁶`` is an integer and the groups' sums are summed as 64-bit integers, in no
  particular order; the mean is that sum / (n × 10⁶), one division of two exact
  integers: the correctly rounded mean of the values, the same on both databases
  (the SQL ``SUM`` it replaces added floats in whatever order rows came, so old and
  new means may differ in the last bits, never more).
* The sd is the sample sd (n − 1) from the squared deviations from that mean,
  summed in value order; exactly 0 when all values are equal; none for n = 1. (The
  SQL formula it replaces, √((Σx² − (Σx)²/n)/(n − 1)), lost digits to cancellation:
  equal values could come out with an sd of 10⁻⁴ instead of 0.)
* The median of an even n is the mean of the two middle values, interpolated as each
  database did before: ``(a + b) / 2`` (SQLite's ``AVG``) or ``a + (b − a) × 0.5``
  (PostgreSQL's ``percentile_cont``), so medians are bit for bit those of before.
* Every step's order is fixed by the data (ties in the sort are equal values), so a
  re-run over the same feedback gives identical rows.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

import numpy as np
from numpy.typing import NDArray
from sqlalchemy import Connection, text

from evalsys.aggregation import sql
from evalsys.aggregation.models import Level
from evalsys.feedback.vocab import GRADE_BANDS

Ints = NDArray[np.int64]
Codes = NDArray[np.int32]  # ids and small codes, one per value
Floats = NDArray[np.float64]

#: Values are rounded to this many decimals by the database (``sql.TERM_VALUES``).
SCALE = 10**6
#: The band edges, lowest first: band i holds EDGES[i-1] <= value < EDGES[i].
EDGES = np.array(sorted(bound for bound, _grade in GRADE_BANDS if bound > 0), dtype=np.float64)
#: Rows fetched or written per round trip: bounds the Python objects alive at once.
CHUNK = 20_000
#: The unit columns of ``sql.TERM_RECORDS``, after id, kind and observer.
UNIT_ORDER: tuple[Level, ...] = (
    Level.SECTION,
    Level.COURSE,
    Level.DEPARTMENT,
    Level.COLLEGE,
    Level.SCHOOL,
)
#: The columns of ``agg_stats`` written here, in order.
STATS_COLUMNS = sql.STATS_COLUMNS


@dataclass(frozen=True)
class TermValues:
    """The term's values, each with its record's kind, observer and units."""

    kind: Codes
    dimension: Codes
    value: Floats
    scaled: Ints  # value × SCALE, exact
    exact: bool  # every value == scaled / SCALE
    observer: Codes
    units: dict[Level, Codes]  # 0 where the record has no unit at that level

    def __len__(self) -> int:
        return len(self.value)


@dataclass(frozen=True)
class Groups:
    """The figures of every (unit, kind, dimension) group of one level and kind pass."""

    unit: Ints
    kind: Ints
    dimension: Ints
    n: Ints
    observers: Ints
    mean: Floats
    sd: Floats  # 0 where n = 1 (the result row then has none)
    minimum: Floats
    maximum: Floats
    bands: Ints  # (groups, 5)
    median: Floats

    def __len__(self) -> int:
        return len(self.n)


@dataclass(frozen=True)
class Compared:
    """One pass's comparisons, NaN where there is none (an insufficient side, no parent,
    no previous result; ``parent_z`` also where the parent's sd is 0)."""

    parent_mean: Floats
    parent_diff: Floats
    parent_z: Floats
    prev_mean: Floats
    prev_change: Floats
    #: For the flags' words: whether the group's unit is one of the term's (has a result
    #: row), and its parent unit's level code, id, n and sd (-1 and NaN: no such group).
    known: NDArray[np.bool_]
    parent_level: Ints
    parent_id: Ints
    parent_n: Ints
    parent_sd: Floats


def load(conn: Connection) -> TermValues:
    """The term's records and values from the work tables, streamed into arrays."""
    if conn.dialect.name == "postgresql":
        records, values = _load_scores(conn)
    else:
        records = fetch(conn, sql.TERM_RECORDS, 3 + len(UNIT_ORDER), np.int64)
        values = fetch(conn, sql.TERM_VALUES, 3, np.float64)
    record_ids = records[:, 0]  # ordered by id
    value = values[:, 2]
    if np.isnan(value).any():  # a dimension whose items all weigh 0
        raise ValueError("a record's value in a dimension could not be computed")
    row = np.searchsorted(record_ids, values[:, 0].astype(np.int64))
    dimension = values[:, 1].astype(np.int32)
    value = value.copy()
    scaled = np.rint(value * SCALE).astype(np.int64)
    del values
    # Per value: its record's kind, observer and units (ids and codes: int32 is plenty).
    codes = np.ascontiguousarray(records[:, 1:].astype(np.int32)[row].T)
    return TermValues(
        kind=codes[0],
        dimension=dimension,
        value=value,
        scaled=scaled,
        # Each value is the double nearest its 6 decimals, so scaled / SCALE gives it back
        # exactly and sorting can carry the integers alone (checked, not assumed).
        exact=bool(np.array_equal(scaled / SCALE, value)),
        observer=codes[1],
        units={level: codes[2 + i] for i, level in enumerate(UNIT_ORDER)},
    )


def _load_scores(conn: Connection) -> tuple[NDArray[np.int64], Floats]:
    """PostgreSQL: the records as :data:`sql.TERM_RECORDS` gives them and the values as
    :data:`sql.TERM_VALUES` does (record, dimension code, value), computed here from the
    records' scores (:data:`sql.TERM_RECORDS_SCORES`, :func:`pg_values`)."""
    raw: Any = conn.connection.dbapi_connection
    with raw.cursor(binary=True) as cursor:
        cursor.execute(sql.TERM_RECORDS_SCORES)
        packed_records, packed_scores = cursor.fetchone()
    found = np.frombuffer(packed_records or b"", dtype=_RECORD)
    records = np.empty((len(found), 3 + len(UNIT_ORDER)), np.int64)
    for i in range(records.shape[1]):
        records[:, i] = found[f"c{i}"]
    overall = found["overall"].astype(np.float64)
    del found, packed_records
    items = np.array(conn.execute(text(sql.TERM_ITEMS)).all(), dtype=np.float64).reshape(-1, 5)
    overall_dn = conn.execute(text(sql.OVERALL_DIM)).scalar_one()
    # Only pg_values holds the scores (16 MB at university scale), and lets them go early.
    held = [np.frombuffer(packed_scores or b"", dtype=SCORE)]
    del packed_scores
    record, dimension, value = pg_values(held, items)
    has = ~np.isnan(overall)  # NaN: no overall score
    values = np.empty((len(record) + int(has.sum()), 3))
    values[: len(record), 0] = record
    values[: len(record), 1] = dimension
    values[: len(record), 2] = value
    values[len(record) :, 0] = records[has, 0]
    values[len(record) :, 1] = overall_dn
    values[len(record) :, 2] = pg_round6(overall[has]) / SCALE
    return records, values


#: A record and a score as ``sql.TERM_RECORDS_SCORES`` packs them, big-endian.
_RECORD = np.dtype([(f"c{i}", ">i4") for i in range(3 + len(UNIT_ORDER))] + [("overall", ">f8")])
SCORE = np.dtype([("record", ">i4"), ("item", ">i4"), ("value", ">f8")])


def pg_values(held: list[NDArray[Any]], items: Floats) -> tuple[Ints, Ints, Floats]:
    """Each record's value in each dimension, exactly as :data:`sql.TERM_VALUES` computes
    it on PostgreSQL: ``100.0 * SUM(weight * (value - scale_min) / span) / SUM(weight)``
    in doubles (each product, difference and quotient the same IEEE operation), then
    ``CAST(ROUND(CAST(.. AS NUMERIC), 6) AS DOUBLE PRECISION)`` (:func:`pg_round6`).
    ``held`` holds the scores (a :data:`SCORE` array: record, item, value), taken out of
    it here; ``items`` is :data:`sql.TERM_ITEMS`. Returns (record, dimension code,
    value), by record and dimension.

    The sums are added in item id order. (PostgreSQL added them in whatever order its
    plan gave the rows: for a dimension of three or more items that may differ in the
    last bit of the sum, which the rounding to 15 significant digits and then 6
    decimals hides unless the sum lies on a rounding boundary: on the benchmark's
    500,000 values, every one was bit for bit the query's.)
    """
    # (Memory: ~1,000,000 scores at university scale; the temporaries are freed early.)
    scores = held.pop()
    record = scores["record"].astype(np.int64)
    item = scores["item"].astype(np.int64)
    score = scores["value"].astype(np.float64)
    del scores
    at = np.zeros(int(items[:, 0].max()) + 1 if len(items) else 1, np.int32)
    at[items[:, 0].astype(np.int64)] = np.arange(len(items), dtype=np.int32)
    row = at[item]
    dims = int(items[:, 1].max()) + 1 if len(items) else 1
    key = record * dims
    key += items[row, 1].astype(np.int64)
    # (record, dimension, item) order: one argsort of packed keys (distinct: a record has
    # one score per item; ``row`` is the item's rank in id order), a lexsort where they
    # do not fit in 63 bits.
    span = len(items)
    if len(key) and int(key.max()).bit_length() + span.bit_length() <= 62:
        packed = key * span
        packed += row
        order = np.argsort(packed)
        del packed
    else:
        order = np.lexsort((item, key))
    del item, record
    key, row, score = key[order], row[order], score[order]
    del order
    weight = items[row, 2]
    term = weight * (score - items[row, 3]) / items[row, 4]
    del row, score
    starts = np.flatnonzero(np.r_[True, key[1:] != key[:-1]]) if len(key) else np.zeros(0, int)
    size = np.diff(np.r_[starts, len(key)])
    total, weights = term[starts].copy(), weight[starts].copy()
    for j in range(1, int(size.max()) if len(size) else 0):  # left to right, as SUM adds
        more = size > j
        total[more] += term[starts[more] + j]
        weights[more] += weight[starts[more] + j]
    with np.errstate(divide="ignore", invalid="ignore"):
        value = 100.0 * total / weights
    if not np.isfinite(value).all():  # a dimension whose items all weigh 0
        raise ValueError("a record's value in a dimension could not be computed")
    return key[starts] // dims, key[starts] % dims, pg_round6(value) / SCALE


def pg_round6(value: Floats) -> Ints:
    """``ROUND(CAST(value AS NUMERIC), 6)`` on PostgreSQL, as integers of 10⁻⁶.

    PostgreSQL turns a double into a NUMERIC through its 15 significant digits
    (``%.15g``), then rounds half away from zero. For |value| < 1000 that decimal is
    within 5 × 10⁻¹³ of the double, so value × 10⁶ (itself within 10⁻⁷) rounds to the
    same integer unless it lies within 10⁻⁵ of a half: those few, and any larger value,
    are rounded the database's way in ``Decimal``.
    """
    scaled = value * SCALE
    out = np.floor(scaled + 0.5)
    unsure = ~(np.abs(value) < 1000) | (np.abs(scaled - np.floor(scaled) - 0.5) < 1e-5)
    result = np.where(unsure, 0.0, out).astype(np.int64)
    for i in np.flatnonzero(unsure):
        if not abs(value[i]) < 2**62 / SCALE:  # NaN, infinite, or no 64-bit integer
            raise ValueError("a record's value in a dimension could not be computed")
        exact = Decimal(f"{value[i]:.15g}").scaleb(6).quantize(Decimal(1), ROUND_HALF_UP)
        result[i] = int(exact)
    return result


def group(values: TermValues, level: Level, *, all_kinds: bool, postgres: bool) -> Groups:
    """One level's figures, each value under its own kind, or all under kind code 0."""
    units = values.units[level]
    present = units > 0
    unit = units[present].astype(np.int64)
    if len(unit) == 0:
        return _no_groups()
    kind = np.zeros_like(unit) if all_kinds else values.kind[present].astype(np.int64)
    dimension = values.dimension[present].astype(np.int64)
    kinds = max(sql.KIND_CODES.values()) + 1
    dims = int(values.dimension.max()) + 1
    key = (unit * kinds + kind) * dims + dimension
    # (unit, kind, dimension, value) order, and the distinct (group, observer) pairs.
    key_sorted, scaled, value = _in_order(key, values, present)
    pair_keys = _distinct_pairs(key, values.observer[present].astype(np.int64))

    starts = np.flatnonzero(np.r_[True, key_sorted[1:] != key_sorted[:-1]])
    n = np.diff(np.r_[starts, len(key_sorted)])
    first = key_sorted[starts]
    member = np.repeat(np.arange(len(starts)), n)

    if values.exact:
        # One division of two exact integers: the correctly rounded mean (for equal
        # values, the value itself).
        mean = np.add.reduceat(scaled, starts) / (n * SCALE)
    else:  # values with more than 6 decimals: no exact integer sum to be had
        mean = np.add.reduceat(value, starts) / n
    deviation = value - mean[member]
    squares = np.add.reduceat(deviation * deviation, starts)
    sd = np.sqrt(squares / np.maximum(n - 1, 1))
    minimum, maximum = value[starts], value[starts + n - 1]
    # Equal values have no spread: exactly 0, not the last-bit residue of mean - value.
    sd[(n == 1) | (minimum == maximum)] = 0.0
    low, high = value[starts + (n - 1) // 2], value[starts + n // 2]
    median = low + (high - low) * 0.5 if postgres else (low + high) / 2

    band = np.searchsorted(EDGES, value, side="right")
    bands = np.bincount(member * 5 + band, minlength=len(starts) * 5).reshape(-1, 5)
    # The pairs' keys are the same groups in the same (ascending) order: count per key.
    pair_starts = np.flatnonzero(np.r_[True, pair_keys[1:] != pair_keys[:-1]])
    observers = np.diff(np.r_[pair_starts, len(pair_keys)])
    return Groups(
        unit=first // (kinds * dims),
        kind=first // dims % kinds,
        dimension=first % dims,
        n=n,
        observers=observers,
        mean=mean,
        sd=sd,
        minimum=minimum,
        maximum=maximum,
        bands=bands,
        median=median,
    )


def compare(
    passes: list[tuple[Level, Groups]], units: NDArray[Any], prev: NDArray[Any], min_n: int
) -> list[Compared]:
    """Each pass's comparisons with the parent unit's figures and the previous term's.

    ``units`` is :data:`sql.UNIT_PARENTS` (level code, unit, parent's level code, parent),
    ``prev`` :func:`sql.prev_means` (level code, unit, kind, dimension, mean). A group is
    compared only when both sides have at least ``min_n`` values, as the SQL joins did:
    ``mean - parent mean``, that over the parent's sd (none for an sd of 0), ``mean -
    previous mean``: the same IEEE operations on the same doubles, so the same bits.
    """
    codes = sql.LEVEL_CODES
    kinds = max(sql.KIND_CODES.values()) + 1
    all_groups = [g for _, g in passes if len(g)]
    ids = [units[:, 1], units[:, 3], prev[:, 1], *(g.unit for g in all_groups)]
    span = max((int(a.max()) for a in ids if len(a)), default=0) + 1
    dims = (
        max(
            [
                int(prev[:, 3].max()) if len(prev) else 0,
                *(int(g.dimension.max()) for g in all_groups),
            ]
        )
        + 1
    )
    if (len(codes) + 1) * span * kinds * dims >= 2**62:  # pragma: no cover - ids beyond 10^15
        raise ValueError("unit ids too large to key the comparisons")

    def key(level: Ints, unit: Ints, kind: Ints, dimension: Ints) -> Ints:
        return ((level * span + unit) * kinds + kind) * dims + dimension

    # Every group of every level, by key: the parents are among them.
    level_of = [np.full(len(g), codes[level.value], np.int64) for level, g in passes]
    keys = np.concatenate(
        [np.zeros(0, np.int64)]
        + [
            key(lv, g.unit, g.kind, g.dimension)
            for lv, (_, g) in zip(level_of, passes, strict=True)
        ]
    )
    order = np.argsort(keys, kind="stable")
    keys = keys[order]
    n_all = np.concatenate([np.zeros(0, np.int64)] + [g.n for _, g in passes])[order]
    mean_all = np.concatenate([np.zeros(0)] + [g.mean for _, g in passes])[order]
    sd_all = np.concatenate([np.zeros(0)] + [g.sd for _, g in passes])[order]
    # The units and their parents, by (level, unit).
    unit_keys = units[:, 0].astype(np.int64) * span + units[:, 1].astype(np.int64)
    unit_order = np.argsort(unit_keys, kind="stable")
    unit_keys = unit_keys[unit_order]
    parent_level = units[unit_order, 2].astype(np.int64)
    parent_id = units[unit_order, 3].astype(np.int64)
    # The previous term's sufficient means, by key.
    prev_keys = key(*(prev[:, i].astype(np.int64) for i in range(4)))
    prev_order = np.argsort(prev_keys, kind="stable")
    prev_keys, prev_mean_all = prev_keys[prev_order], prev[prev_order, 4].astype(np.float64)

    out = []
    for lv, (_, g) in zip(level_of, passes, strict=True):
        nan = np.full(len(g), np.nan)
        sufficient = g.n >= min_n
        # The unit's parent (none where the unit is not one of the term's: no result row).
        known, at = _lookup(unit_keys, lv * span + g.unit)
        p_level = np.where(known, parent_level[at] if len(unit_keys) else 0, 0)
        p_id = np.where(known, parent_id[at] if len(unit_keys) else 0, 0)
        has_parent, p = _lookup(keys, key(p_level, p_id, g.kind, g.dimension))
        has_parent &= p_level > 0
        with_parent = has_parent & sufficient
        with_parent[with_parent] &= n_all[p[with_parent]] >= min_n
        parent_mean = nan.copy()
        parent_mean[with_parent] = mean_all[p[with_parent]]
        parent_diff = g.mean - parent_mean  # NaN where there is no parent
        parent_sd = np.where(with_parent, sd_all[p], 0.0)
        parent_z = nan.copy()
        divisible = with_parent & (parent_sd != 0)
        parent_z[divisible] = parent_diff[divisible] / parent_sd[divisible]
        found, q = _lookup(prev_keys, key(lv, g.unit, g.kind, g.dimension))
        with_prev = found & sufficient
        prev_mean = nan.copy()
        prev_mean[with_prev] = prev_mean_all[q[with_prev]]
        out.append(
            Compared(
                parent_mean=parent_mean,
                parent_diff=parent_diff,
                parent_z=parent_z,
                prev_mean=prev_mean,
                prev_change=g.mean - prev_mean,
                known=known,
                parent_level=p_level,
                parent_id=p_id,
                parent_n=np.where(has_parent, n_all[p] if len(keys) else -1, -1),
                parent_sd=np.where(has_parent, sd_all[p] if len(keys) else np.nan, np.nan),
            )
        )
    return out


@dataclass(frozen=True)
class FlagLimits:
    """What makes a sufficient result a flag candidate (``flags.Settings``, as codes)."""

    min_n: int
    highest_threshold: float
    drop: float
    parent_sd: float
    #: The threshold of each kind code (1..), for the "all kinds" results' thresholds.
    kind_thresholds: dict[int, float]


def flag_candidates(
    passes: list[tuple[Level, Groups]],
    compared: list[Compared],
    limits: FlagLimits,
    names: dict[str, dict[int, str]],
    unit_codes: dict[tuple[int, int], str],
) -> Iterator[dict[str, Any]]:
    """The results that cross a limit, as the rows ``flags.flags_for`` words, without
    reading the result rows back: the same figures, from the groups and comparisons.

    A result of all kinds together also gets ``threshold_sum``: its kinds' n times their
    thresholds, summed in the order of the kinds' names as the SQL did (the primary key's
    order), so it is the same double. ``names`` maps the kind and dimension codes to
    names (``"kind"``, ``"dimension"``); ``unit_codes`` (level code, unit) to unit codes.
    """
    codes = sql.LEVEL_CODES
    kind_order = sorted(limits.kind_thresholds, key=lambda k: names["kind"][k])
    for (level, g), c in zip(passes, compared, strict=True):
        lv = codes[level.value]
        pick = (
            c.known
            & (g.n >= limits.min_n)
            & (
                (g.mean < limits.highest_threshold)
                | (c.prev_change <= -limits.drop)
                | (c.parent_z <= -limits.parent_sd)
            )
        )
        if not pick.any():
            continue
        idx = np.flatnonzero(pick)
        threshold_sum = np.full(len(idx), np.nan)
        other = next((o for lev, o in passes if lev is level and o is not g), g)
        if (g.kind == 0).all() and len(other):  # all kinds: the kinds' groups are the other pass
            width = int(max(g.dimension.max(), other.dimension.max() if len(other) else 0)) + 1
            other_keys = (other.unit * len(sql.KIND_CODES) + other.kind) * width + other.dimension
            order = np.argsort(other_keys, kind="stable")
            other_keys, other_n = other_keys[order], other.n[order]
            for k in kind_order:  # n x threshold, summed in the kinds' name order
                wanted = (g.unit[idx] * len(sql.KIND_CODES) + k) * width + g.dimension[idx]
                found, at = _lookup(other_keys, wanted)
                part = other_n[at] * limits.kind_thresholds[k]
                first = found & np.isnan(threshold_sum)
                threshold_sum[first] = part[first]
                more = found & ~first
                threshold_sum[more] = threshold_sum[more] + part[more]
        columns = {
            "unit_id": g.unit[idx],
            "kind": g.kind[idx],
            "dimension": g.dimension[idx],
            "n": g.n[idx],
            "mean": g.mean[idx],
            "parent_mean": c.parent_mean[idx],
            "parent_z": c.parent_z[idx],
            "prev_mean": c.prev_mean[idx],
            "prev_change": c.prev_change[idx],
            "parent_level": c.parent_level[idx],
            "parent_id": c.parent_id[idx],
            "parent_n": c.parent_n[idx],
            "parent_sd": c.parent_sd[idx],
            "threshold_sum": threshold_sum,
        }
        lists = {name: col.tolist() for name, col in columns.items()}
        for i in range(len(idx)):
            row = {name: col[i] for name, col in lists.items()}
            unit, kind, dim = row["unit_id"], row["kind"], row["dimension"]
            for name in (
                "parent_mean",
                "parent_z",
                "prev_mean",
                "prev_change",
                "parent_sd",
                "threshold_sum",
            ):
                if math.isnan(row[name]):
                    row[name] = None
            parent = (row.pop("parent_level"), row.pop("parent_id"))
            if row["parent_n"] < 0 or parent not in unit_codes:  # no parent row
                row["parent_n"] = row["parent_sd"] = None
                row["parent_code"] = None
            else:
                row["parent_code"] = unit_codes[parent]
                if row["parent_n"] <= 1:  # the stored sd: none for n = 1
                    row["parent_sd"] = None
            row |= {
                "level": level.value,
                "kind": names["kind"][kind],
                "dimension": names["dimension"][dim],
                "unit_code": unit_codes[(lv, unit)],
            }
            yield row


def _lookup(keys: Ints, wanted: Ints) -> tuple[NDArray[np.bool_], Ints]:
    """Where each wanted key is in the sorted ``keys``, and whether it is there at all."""
    if len(keys) == 0:
        return np.zeros(len(wanted), bool), np.zeros(len(wanted), np.int64)
    at = np.minimum(np.searchsorted(keys, wanted), len(keys) - 1)
    return keys[at] == wanted, at


def _in_order(
    key: Ints, values: TermValues, present: NDArray[np.bool_]
) -> tuple[Ints, Ints, Floats]:
    """Keys, scaled values and values in (key, value) order.

    Key and scaled value packed into one 64-bit integer and sorted as such (a plain
    sort, about twice as fast as an argsort and the gathers after it); a lexsort where
    they do not fit, or where a value is not the double of its 6 decimals.
    """
    scaled = values.scaled[present]
    low = int(scaled.min())
    offset = scaled - low
    bits = int(offset.max()).bit_length()
    if values.exact and int(key.max()).bit_length() + bits <= 62:
        packed = np.sort((key << bits) | offset)
        scaled = (packed & ((1 << bits) - 1)) + low
        return packed >> bits, scaled, scaled / SCALE
    order = np.lexsort((values.value[present], key))
    return key[order], scaled[order], values.value[present][order]


def _distinct_pairs(key: Ints, observer: Ints) -> Ints:
    """The key of each distinct (key, observer) pair, ascending."""
    bits = int(observer.max()).bit_length()
    if int(key.max()).bit_length() + bits <= 62:
        pairs = np.sort((key << bits) | observer)
        return pairs[np.r_[True, pairs[1:] != pairs[:-1]]] >> bits
    order = np.lexsort((observer, key))
    key, observer = key[order], observer[order]
    new = np.r_[True, (key[1:] != key[:-1]) | (observer[1:] != observer[:-1])]
    return key[new]


def _no_groups() -> Groups:
    i, f = np.zeros(0, np.int64), np.zeros(0, np.float64)
    return Groups(
        unit=i,
        kind=i,
        dimension=i,
        n=i,
        observers=i,
        mean=f,
        sd=f,
        minimum=f,
        maximum=f,
        bands=np.zeros((0, 5), np.int64),
        median=f,
    )


def write(conn: Connection, level: Level, groups: Groups, compared: Compared) -> int:
    """Append one pass's groups to ``agg_stats`` in one bulk write; the number written."""
    if conn.dialect.name == "postgresql":
        raw: Any = conn.connection.dbapi_connection
        copying = f"COPY agg_stats ({STATS_COLUMNS}) FROM STDIN (FORMAT BINARY)"
        with raw.cursor() as cursor, cursor.copy(copying) as copy:
            copy.write(_binary_rows(level, groups, compared))
    else:  # SQLite stores a NaN as NULL
        marks = ", ".join("?" * len(STATS_COLUMNS.split(",")))
        for chunk in _rows(level, groups, compared):
            conn.exec_driver_sql(f"INSERT INTO agg_stats ({STATS_COLUMNS}) VALUES ({marks})", chunk)
    return len(groups)


def _columns(g: Groups, c: Compared, part: slice = slice(None)) -> list[NDArray[Any]]:
    """The groups' columns in ``agg_stats`` order, after the level."""
    return [
        g.unit[part],
        g.kind[part],
        g.dimension[part],
        g.n[part],
        g.observers[part],
        g.mean[part],
        g.sd[part],
        g.minimum[part],
        g.maximum[part],
        *(g.bands[part, i] for i in range(5)),
        g.median[part],
        c.parent_mean[part],
        c.parent_diff[part],
        c.parent_z[part],
        c.prev_mean[part],
        c.prev_change[part],
    ]


def _rows(level: Level, g: Groups, c: Compared) -> Iterator[list[tuple[Any, ...]]]:
    """The groups as rows of ``agg_stats``, a chunk at a time (Python numbers, not NumPy's)."""
    name = level.value
    for lo in range(0, len(g), CHUNK):
        lists = [col.tolist() for col in _columns(g, c, slice(lo, lo + CHUNK))]
        yield [(name, *row) for row in zip(*lists, strict=True)]


# --- PostgreSQL's binary COPY: rows of fixed width, straight from arrays ----------------------

#: The signature, flags and header extension length of a binary COPY; then rows; then -1.
_COPY_HEADER = b"PGCOPY\n\xff\r\n\x00" + bytes(8)
_COPY_TRAILER = b"\xff\xff"
#: Binary sizes and big-endian NumPy types of the columns written: INTEGER, DOUBLE.
_WIRE = {"i": (4, ">i4"), "f": (8, ">f8")}


def _binary_rows(level: Level, g: Groups, c: Compared) -> bytes:
    """The groups as one binary COPY stream for ``agg_stats``: built as a NumPy record
    array (each field preceded by its length), never as Python objects per row."""
    name = level.value.encode()
    # unit_id, k, dn, n, observers, mean .. maximum, b0-b4, median, the five comparisons
    kinds = "iiiiiffffiiiiif" + "fffff"
    fields: list[tuple[str, Any]] = [
        ("count", ">i2"),
        ("len_level", ">i4"),
        ("level", f"S{len(name)}"),
    ]
    for i, kind in enumerate(kinds):
        fields += [(f"len{i}", ">i4"), (f"v{i}", _WIRE[kind][1])]
    out = np.empty(len(g), dtype=np.dtype(fields))
    out["count"] = 1 + len(kinds)
    out["len_level"] = len(name)
    out["level"] = name
    for i, (kind, column) in enumerate(zip(kinds, _columns(g, c), strict=True)):
        out[f"len{i}"] = _WIRE[kind][0]
        out[f"v{i}"] = column
    return _COPY_HEADER + out.tobytes() + _COPY_TRAILER


def fetch(conn: Connection, query: str, width: int, dtype: type) -> NDArray[Any]:
    """One query's rows as a (rows, width) array.

    On SQLite fetched CHUNK rows at a time. On PostgreSQL packed by the database into one
    ``bytea`` of big-endian 8-byte numbers (:func:`_packed`) and read with
    ``np.frombuffer``: no Python tuple per row (the previous term's ~140,000 means took
    ~0.15 s of client CPU as tuples). NULL is NaN in a float array, as ``np.array``
    makes it of None; in an integer array it is an error, as there.
    """
    raw: Any = conn.connection.dbapi_connection
    if conn.dialect.name == "postgresql":
        floats = np.dtype(dtype).kind == "f"
        with raw.cursor(binary=True) as cursor:
            cursor.execute(_packed(query, width, floats=floats))
            rows, packed = cursor.fetchone()
        out = np.frombuffer(packed or b"", dtype=">f8" if floats else ">i8")
        if len(out) != rows * width:
            raise ValueError("a NULL where a number was expected")
        return out.astype(dtype).reshape(-1, width)
    cursor = raw.cursor()
    try:
        cursor.execute(query)
        parts: list[NDArray[Any]] = []
        while rows := cursor.fetchmany(CHUNK):
            parts.append(np.array(rows, dtype=dtype).reshape(-1, width))
    finally:
        cursor.close()
    return np.concatenate(parts) if parts else np.zeros((0, width), dtype=dtype)


def _packed(query: str, width: int, *, floats: bool) -> str:
    """PostgreSQL: the query's row count, and its rows as one ``bytea`` of 8-byte numbers
    (doubles, NULL as NaN; or 64-bit integers, where a NULL drops its row: counted)."""
    names = [f"c{i}" for i in range(width)]
    if floats:
        parts = [f"FLOAT8SEND(COALESCE(CAST({c} AS DOUBLE PRECISION), 'NaN'))" for c in names]
    else:
        parts = [f"INT8SEND(CAST({c} AS BIGINT))" for c in names]
    return (
        f"SELECT COUNT(*), STRING_AGG({' || '.join(parts)}, ''::BYTEA)"
        f" FROM ({query}) AS q({', '.join(names)})"
    )
