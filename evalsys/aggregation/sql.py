"""The SQL of a term's aggregation: work tables, grouped figures, result rows.

Everything here runs inside the one transaction of a run (see ``service.py``),
on SQLite and PostgreSQL alike; the grouping of step 2 is ``figures.py``'s (NumPy).

1. Work tables (temporary, dropped at the end of the run). Kinds and dimensions
   are small integer codes in them (``k``, ``dn``): sorting and grouping on
   integers is about twice as fast as on text.

   ``agg_kind``    the kind codes: 0 = all kinds, 1.. = each feedback kind;
   ``agg_dim``     the dimension codes (every dimension of every rubric, and 'overall');
   ``agg_item``    every rubric item: its dimension code, weight and scale;
   ``agg_map``     every org unit -> its department, college and school (from the
                   closure table: the tree is resolved once, by joins);
   ``agg_unit``    every unit of every level this term, with its code, the org unit
                   it lies in and its parent (a unit without records still gets a row);
   ``agg_record``  the term's submitted records with their unit at every level;
   ``agg_section`` / ``agg_group``  the term's sections and tutor groups, with
                   whether they got a spot check, an open class, a report (coverage).

2. ``agg_stats``: per (level, unit, kind, dimension) — each value counted under its
   own kind and again under "all kinds" — n, distinct observers, mean, sd, min, max,
   band counts and the median, and the comparisons with the parent unit's figures and
   the previous term's (:data:`UNIT_PARENTS`, :func:`prev_means`). The values they are
   computed from are read by
   :data:`TERM_VALUES` (one row per record and dimension: the weighted mean of the
   record's item scores in that dimension, each normalised by its item's scale, on
   0-100; 'overall' is the record's own overall score; items of any rubric version
   meet through their dimension, never their position) together with
   :data:`TERM_RECORDS`, and grouped in NumPy (``figures.py``), the same way on
   both databases. (PostgreSQL reads the records' scores instead,
   :data:`TERM_RECORDS_SCORES`, and NumPy computes the same values from them.)

3. Per level, top first (:func:`level_results`): the result rows, ``agg_stats`` with
   the units' codes and parents and the kinds' and dimensions' names. Then units
   without any record get an ``n = 0`` row (:func:`level_empty_rows`) and coverage is
   counted (:func:`level_coverage`).
"""

from __future__ import annotations

from evalsys.aggregation.models import ALL_KINDS, OVERALL, Level
from evalsys.feedback.vocab import FeedbackKind, FeedbackStatus

#: The column of the work tables holding a record's unit at each level.
UNIT_COLUMN: dict[Level, str] = {level: f"{level.value}_id" for level in Level}
#: Integer codes of the kinds in the work tables; 0 is "all kinds together".
KIND_CODES: dict[str, int] = {ALL_KINDS: 0} | {k.value: i for i, k in enumerate(FeedbackKind, 1)}

SUBMITTED = FeedbackStatus.SUBMITTED.value
SPOT = FeedbackKind.SPOT_CHECK.value
OPEN = FeedbackKind.OPEN_CLASS.value
TUTOR = FeedbackKind.TUTOR_GROUP.value

WORK_TABLES = (
    "agg_stats",
    "agg_record",
    "agg_section",
    "agg_group",
    "agg_unit",
    "agg_map",
    "agg_item",
    "agg_dim",
    "agg_kind",
)

# --- work tables -------------------------------------------------------------------------

CREATE_WORK_TABLES = (
    "CREATE TEMPORARY TABLE agg_kind (k INTEGER PRIMARY KEY, kind VARCHAR(20) NOT NULL)",
    "CREATE TEMPORARY TABLE agg_dim (dn INTEGER PRIMARY KEY, dimension VARCHAR(40) NOT NULL)",
    """
    CREATE TEMPORARY TABLE agg_item (
        item_id INTEGER PRIMARY KEY, dn INTEGER NOT NULL, weight DOUBLE PRECISION NOT NULL,
        scale_min DOUBLE PRECISION NOT NULL, span DOUBLE PRECISION NOT NULL
    )
    """,
    """
    CREATE TEMPORARY TABLE agg_map (
        org_unit_id INTEGER PRIMARY KEY,
        department_id INTEGER, college_id INTEGER, school_id INTEGER
    )
    """,
    """
    CREATE TEMPORARY TABLE agg_unit (
        level VARCHAR(20) NOT NULL, unit_id INTEGER NOT NULL, unit_code VARCHAR(60) NOT NULL,
        org_unit_id INTEGER NOT NULL, parent_level VARCHAR(20), parent_id INTEGER,
        PRIMARY KEY (level, unit_id)
    )
    """,
    # agg_record's id: a key on SQLite, none on PostgreSQL (see work_tables).
    """
    CREATE TEMPORARY TABLE agg_record (
        feedback_id {RECORD_KEY}, k INTEGER NOT NULL, observer_id INTEGER NOT NULL,
        section_id INTEGER, course_id INTEGER,
        department_id INTEGER, college_id INTEGER, school_id INTEGER,
        overall DOUBLE PRECISION
    )
    """,
    """
    CREATE TEMPORARY TABLE agg_section (
        section_id INTEGER PRIMARY KEY, course_id INTEGER NOT NULL, teacher_id INTEGER,
        department_id INTEGER, college_id INTEGER, school_id INTEGER,
        has_spot INTEGER NOT NULL, has_open INTEGER NOT NULL
    )
    """,
    """
    CREATE TEMPORARY TABLE agg_group (
        group_id INTEGER PRIMARY KEY,
        department_id INTEGER, college_id INTEGER, school_id INTEGER,
        reported INTEGER NOT NULL
    )
    """,
    # The grouped figures of each (level, unit, kind, dimension), computed in NumPy
    # (``figures.py``): n, distinct observers, mean, sd (0 for n = 1), min, max, band
    # counts, median, and the comparisons (NaN where there is none: a binary COPY row
    # keeps one width). The result rows are read from here. No key: the groups are
    # distinct by construction, and an index kept up to date row by row cost ~0.3 s.
    """
    CREATE TEMPORARY TABLE agg_stats (
        level VARCHAR(20) NOT NULL, unit_id INTEGER NOT NULL, k INTEGER NOT NULL,
        dn INTEGER NOT NULL, n INTEGER NOT NULL, observers INTEGER NOT NULL,
        mean DOUBLE PRECISION NOT NULL, sd DOUBLE PRECISION NOT NULL,
        minimum DOUBLE PRECISION NOT NULL, maximum DOUBLE PRECISION NOT NULL,
        b0 INTEGER NOT NULL, b1 INTEGER NOT NULL, b2 INTEGER NOT NULL, b3 INTEGER NOT NULL,
        b4 INTEGER NOT NULL, median DOUBLE PRECISION NOT NULL,
        parent_mean DOUBLE PRECISION, parent_diff DOUBLE PRECISION,
        parent_z DOUBLE PRECISION, prev_mean DOUBLE PRECISION, prev_change DOUBLE PRECISION
    )
    """,
)

FILL_KINDS = "INSERT INTO agg_kind (k, kind) VALUES " + ", ".join(
    f"({code}, '{kind}')" for kind, code in KIND_CODES.items()
)

FILL_DIMS = f"""
INSERT INTO agg_dim (dn, dimension)
SELECT ROW_NUMBER() OVER (ORDER BY dimension), dimension
FROM (SELECT DISTINCT dimension FROM rubric_item WHERE dimension <> '{OVERALL}'
      UNION SELECT '{OVERALL}') d
"""

FILL_ITEMS = """
INSERT INTO agg_item (item_id, dn, weight, scale_min, span)
SELECT ri.id, d.dn, ri.weight, ri.scale_min, ri.scale_max - ri.scale_min
FROM rubric_item ri JOIN agg_dim d ON d.dimension = ri.dimension
"""

FILL_MAP = """
INSERT INTO agg_map (org_unit_id, department_id, college_id, school_id)
SELECT cl.descendant_id,
       MAX(CASE WHEN a.kind = 'department' THEN a.id END),
       MAX(CASE WHEN a.kind = 'college' THEN a.id END),
       MAX(CASE WHEN a.kind = 'school' THEN a.id END)
FROM org_unit_closure cl JOIN org_unit a ON a.id = cl.ancestor_id
GROUP BY cl.descendant_id
"""

FILL_UNITS = (
    # Sections of the term; they lie in their course's department.
    """
    INSERT INTO agg_unit (level, unit_id, unit_code, org_unit_id, parent_level, parent_id)
    SELECT 'section', s.id, s.code, c.department_id, 'course', s.course_id
    FROM section s JOIN course c ON c.id = s.course_id
    WHERE s.term_id = :term_id
    """,
    # Courses taught this term.
    """
    INSERT INTO agg_unit (level, unit_id, unit_code, org_unit_id, parent_level, parent_id)
    SELECT 'course', c.id, c.code, c.department_id, d.kind, c.department_id
    FROM course c JOIN org_unit d ON d.id = c.department_id
    WHERE c.id IN (SELECT s.course_id FROM section s WHERE s.term_id = :term_id)
    """,
    # Every org unit, whether or not anything happened in it.
    """
    INSERT INTO agg_unit (level, unit_id, unit_code, org_unit_id, parent_level, parent_id)
    SELECT u.kind, u.id, u.code, u.id, p.kind, u.parent_id
    FROM org_unit u LEFT JOIN org_unit p ON p.id = u.parent_id
    """,
)

FILL_RECORDS = f"""
INSERT INTO agg_record (feedback_id, k, observer_id, section_id, course_id,
                        department_id, college_id, school_id, overall)
SELECT f.id, ak.k, f.observer_id, f.section_id, s.course_id,
       m.department_id, m.college_id, m.school_id, f.overall_score
FROM feedback f
JOIN agg_kind ak ON ak.kind = f.kind
LEFT JOIN section s ON s.id = f.section_id
LEFT JOIN agg_map m ON m.org_unit_id = f.department_id
WHERE f.term_id = :term_id AND f.status = '{SUBMITTED}'
"""

#: The term's records with their kind, observer and unit at each level (0: none), in id
#: order, for the grouping in NumPy (``figures.py``; its ``UNIT_ORDER`` is this order).
TERM_RECORDS = """
SELECT feedback_id, k, observer_id, COALESCE(section_id, 0), COALESCE(course_id, 0),
       COALESCE(department_id, 0), COALESCE(college_id, 0), COALESCE(school_id, 0)
FROM agg_record ORDER BY feedback_id
"""

#: A record's value in a dimension: the weighted mean of its item scores there, each put
#: on 0..1 by the item's own scale, times 100; 'overall' is the record's overall score.
#: Values are rounded to 6 decimals, so that 6/10 on every item is 60 (a pass), not the
#: 59.99999999999999 that floating point may make of it in one order of summing or another.
#: (The rounding is the database's own: NUMERIC on PostgreSQL, then the double it was
#: stored as before; read straight into NumPy, never into a work table.)
TERM_VALUES = f"""
SELECT fs.feedback_id, ai.dn,
       CAST(ROUND(CAST(100.0 * SUM(ai.weight * (fs.value - ai.scale_min) / ai.span)
                       / SUM(ai.weight) AS NUMERIC), 6) AS DOUBLE PRECISION)
FROM agg_record r0
JOIN feedback_score fs ON fs.feedback_id = r0.feedback_id
JOIN agg_item ai ON ai.item_id = fs.item_id
GROUP BY fs.feedback_id, ai.dn
UNION ALL
SELECT r.feedback_id, od.dn, CAST(ROUND(CAST(r.overall AS NUMERIC), 6) AS DOUBLE PRECISION)
FROM agg_record r JOIN agg_dim od ON od.dimension = '{OVERALL}'
WHERE r.overall IS NOT NULL
"""

#: PostgreSQL: the term's records (as :data:`TERM_RECORDS`, then the overall score, NaN for
#: none: the CHECK of ``overall_score`` keeps NaN out) and their item scores (record,
#: item, value), each packed by the database into one ``bytea`` of fixed-width big-endian
#: rows (``int4send``, ``float8send``): two values cross instead of ~700,000 rows, and no
#: Python object per row is made. The values of :data:`TERM_VALUES` are computed from the
#: scores in NumPy with PostgreSQL's own arithmetic and rounding (``figures.pg_values``):
#: the GROUP BY per record and dimension, its NUMERIC rounding and the rows it returned
#: cost ~2 s of backend CPU more. (16 bytes a score: a ``bytea`` holds up to 1 GB.)
TERM_RECORDS_SCORES = """
SELECT (SELECT STRING_AGG(INT4SEND(feedback_id) || INT4SEND(k) || INT4SEND(observer_id)
                          || INT4SEND(COALESCE(section_id, 0)) || INT4SEND(COALESCE(course_id, 0))
                          || INT4SEND(COALESCE(department_id, 0))
                          || INT4SEND(COALESCE(college_id, 0)) || INT4SEND(COALESCE(school_id, 0))
                          || FLOAT8SEND(COALESCE(overall, 'NaN')), ''::BYTEA ORDER BY feedback_id)
        FROM agg_record),
       (SELECT STRING_AGG(INT4SEND(fs.feedback_id) || INT4SEND(fs.item_id)
                          || FLOAT8SEND(fs.value), ''::BYTEA)
        FROM agg_record r JOIN feedback_score fs ON fs.feedback_id = r.feedback_id)
"""

#: Every rubric item with its dimension code, weight, scale minimum and span (PostgreSQL:
#: the values are computed from the scores in NumPy, ``figures.pg_values``).
TERM_ITEMS = "SELECT item_id, dn, weight, scale_min, span FROM agg_item ORDER BY item_id"

#: The code of the 'overall' dimension.
OVERALL_DIM = f"SELECT dn FROM agg_dim WHERE dimension = '{OVERALL}'"

FILL_SECTIONS = f"""
INSERT INTO agg_section (section_id, course_id, teacher_id, department_id, college_id,
                         school_id, has_spot, has_open)
SELECT s.id, s.course_id, s.teacher_id, m.department_id, m.college_id, m.school_id,
       CASE WHEN EXISTS (SELECT 1 FROM agg_record r WHERE r.section_id = s.id
                         AND r.k = {KIND_CODES[SPOT]}) THEN 1 ELSE 0 END,
       CASE WHEN EXISTS (SELECT 1 FROM agg_record r WHERE r.section_id = s.id
                         AND r.k = {KIND_CODES[OPEN]}) THEN 1 ELSE 0 END
FROM section s
JOIN course c ON c.id = s.course_id
LEFT JOIN agg_map m ON m.org_unit_id = c.department_id
WHERE s.term_id = :term_id
"""

FILL_GROUPS = f"""
INSERT INTO agg_group (group_id, department_id, college_id, school_id, reported)
SELECT g.id, m.department_id, m.college_id, m.school_id,
       CASE WHEN EXISTS (SELECT 1 FROM feedback f WHERE f.group_id = g.id
                         AND f.term_id = :term_id AND f.status = '{SUBMITTED}'
                         AND f.kind = '{TUTOR}') THEN 1 ELSE 0 END
FROM tutor_group g
LEFT JOIN agg_map m ON m.org_unit_id = g.department_id
WHERE g.term_id = :term_id
"""

#: Indexes the per-level statements look records up by (built once the tables are full).
INDEX_WORK_TABLES = ("CREATE INDEX agg_record_section ON agg_record (section_id, k)",)


def work_tables(*, postgres: bool) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """The statements creating the work tables, and those indexing them once full.

    ``agg_record`` differs: on SQLite its id is the rowid (a key for free) and the index
    serves FILL_SECTIONS' correlated EXISTS; PostgreSQL hashes the table in every
    statement that reads it (and sorts it once), so there a B-tree of 100,000 ids kept up
    to date row by row and an index built after were ~0.2 s of work nothing used.
    """
    key = "INTEGER NOT NULL" if postgres else "INTEGER PRIMARY KEY"
    created = tuple(s.replace("{RECORD_KEY}", key) for s in CREATE_WORK_TABLES)
    return created, () if postgres else INDEX_WORK_TABLES


COUNT_RECORDS = "SELECT COUNT(*) FROM agg_record"

# --- results per level -----------------------------------------------------------------

RESULT_COLUMNS = (
    "term_id, level, unit_id, kind, dimension, unit_code, org_unit_id, parent_level, parent_id,"
    " n, observers, mean, sd, median, minimum, maximum,"
    " band_fail, band_pass, band_fair, band_good, band_excellent, insufficient,"
    " parent_mean, parent_diff, parent_z, prev_mean, prev_change"
)
STATS_COLUMNS = (
    "level, unit_id, k, dn, n, observers, mean, sd, minimum, maximum, b0, b1, b2, b3, b4, median,"
    " parent_mean, parent_diff, parent_z, prev_mean, prev_change"
)

#: Integer codes of the levels in the comparisons' lookups (``figures.compare``); 0: none.
LEVEL_CODES: dict[str, int] = {level.value: i for i, level in enumerate(Level, 1)}


def _level_code(column: str) -> str:
    cases = " ".join(f"WHEN '{name}' THEN {code}" for name, code in LEVEL_CODES.items())
    return f"CASE {column} {cases} ELSE 0 END"


#: Every unit's code, by level code and id: the flags' words name a result's parent by it.
UNIT_CODES = f"SELECT {_level_code('level')}, unit_id, unit_code FROM agg_unit"

#: Every unit of the term with its parent, as codes: what a result is compared with.
UNIT_PARENTS = f"""
SELECT {_level_code("level")}, unit_id, {_level_code("parent_level")}, COALESCE(parent_id, 0)
FROM agg_unit
"""


def prev_means(prev_term_id: int, min_n: int, dims: dict[str, int]) -> str:
    """The previous term's sufficient means, by the integer codes (read before any of this
    term's rows is written). The two numbers are ours, never a user's: inlined.

    The kinds' and dimensions' codes (``dims``: ``agg_dim``'s) are CASE expressions, not
    joins with ``agg_kind`` and ``agg_dim``: on SQLite the joins were a third of the
    query (0.49 -> 0.34 s for ~125,000 means). A result of a kind or dimension without a
    code is left out, as the joins left it.
    """
    kinds = _codes("r.kind", KIND_CODES)
    dimensions = _codes("r.dimension", dims)
    return f"""
SELECT {_level_code("r.level")}, r.unit_id, {kinds}, {dimensions}, r.mean
FROM aggregate_result r
WHERE r.term_id = {int(prev_term_id)} AND r.n >= {int(min_n)}
  AND {kinds} IS NOT NULL AND {dimensions} IS NOT NULL
"""


def _codes(column: str, codes: dict[str, int]) -> str:
    """A CASE giving each name its integer code (NULL for none); names quoted as SQL
    strings."""
    cases = " ".join(
        "WHEN '{}' THEN {}".format(name.replace("'", "''"), int(code))
        for name, code in codes.items()
    )
    return f"CASE {column} {cases} END"


def level_results(level: Level) -> str:
    """Insert one level's results from ``agg_stats``, with the comparisons computed there
    (``figures.compare``: only when both sides have at least MIN_N records; NaN for none)."""
    compared = ", ".join(
        f"NULLIF(g.{c}, 'NaN')"
        for c in ("parent_mean", "parent_diff", "parent_z", "prev_mean", "prev_change")
    )
    return f"""
INSERT INTO aggregate_result ({RESULT_COLUMNS})
SELECT :term_id, g.level, g.unit_id, ak.kind, ad.dimension,
       u.unit_code, u.org_unit_id, u.parent_level, u.parent_id,
       g.n, g.observers, g.mean, CASE WHEN g.n > 1 THEN g.sd END, g.median, g.minimum, g.maximum,
       g.b0, g.b1, g.b2, g.b3, g.b4, g.n < :min_n,
       {compared}
FROM agg_stats g
JOIN agg_unit u ON u.level = g.level AND u.unit_id = g.unit_id
JOIN agg_kind ak ON ak.k = g.k
JOIN agg_dim ad ON ad.dn = g.dn
WHERE g.level = '{level.value}'
"""


def level_empty_rows(level: Level) -> str:
    """An ``n = 0`` row (all kinds, overall) for each unit of the level without any record."""
    return f"""
INSERT INTO aggregate_result ({RESULT_COLUMNS})
SELECT :term_id, u.level, u.unit_id, '{ALL_KINDS}', '{OVERALL}',
       u.unit_code, u.org_unit_id, u.parent_level, u.parent_id,
       0, 0, NULL, NULL, NULL, NULL, NULL, 0, 0, 0, 0, 0, 1 = 1,
       NULL, NULL, NULL, NULL, NULL
FROM agg_unit u
WHERE u.level = '{level.value}'
  AND NOT EXISTS (SELECT 1 FROM aggregate_result r
                  WHERE r.term_id = :term_id AND r.level = u.level AND r.unit_id = u.unit_id)
"""


def level_coverage(level: Level) -> str:
    """Sections (and their teachers) visited, tutor groups reported, per unit of the level."""
    col = UNIT_COLUMN[level]
    if level in (Level.SECTION, Level.COURSE):
        groups = "\nLEFT JOIN (SELECT 0 AS unit_id, 0 AS total, 0 AS reported) gc ON 1 = 0"
    else:
        groups = f"""
LEFT JOIN (
    SELECT {col} AS unit_id, COUNT(*) AS total, SUM(reported) AS reported
    FROM agg_group WHERE {col} IS NOT NULL GROUP BY {col}
) gc ON gc.unit_id = u.unit_id"""
    return f"""
INSERT INTO aggregate_coverage (term_id, level, unit_id, unit_code, org_unit_id, parent_level,
    parent_id, sections, sections_spot, sections_open, teachers, teachers_spot, teachers_open,
    tutor_groups, tutor_groups_reported)
SELECT :term_id, u.level, u.unit_id, u.unit_code, u.org_unit_id, u.parent_level, u.parent_id,
       COALESCE(sc.sections, 0), COALESCE(sc.sections_spot, 0), COALESCE(sc.sections_open, 0),
       COALESCE(sc.teachers, 0), COALESCE(sc.teachers_spot, 0), COALESCE(sc.teachers_open, 0),
       COALESCE(gc.total, 0), COALESCE(gc.reported, 0)
FROM agg_unit u
LEFT JOIN (
    SELECT {col} AS unit_id, COUNT(*) AS sections,
           SUM(has_spot) AS sections_spot, SUM(has_open) AS sections_open,
           COUNT(DISTINCT teacher_id) AS teachers,
           COUNT(DISTINCT CASE WHEN has_spot = 1 THEN teacher_id END) AS teachers_spot,
           COUNT(DISTINCT CASE WHEN has_open = 1 THEN teacher_id END) AS teachers_open
    FROM agg_section WHERE {col} IS NOT NULL GROUP BY {col}
) sc ON sc.unit_id = u.unit_id{groups}
WHERE u.level = '{level.value}'
"""


# --- deleting a term's results -----------------------------------------------------------

DELETE_TERM = (
    "DELETE FROM aggregate_flag WHERE term_id = :term_id",
    "DELETE FROM aggregate_result WHERE term_id = :term_id",
    "DELETE FROM aggregate_coverage WHERE term_id = :term_id",
)
