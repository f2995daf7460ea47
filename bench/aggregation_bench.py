"""Benchmark: the term aggregation against DuckDB and a bare GROUP BY, at university scale.

Builds a synthetic university (30 colleges, 300 departments, 2,500 courses,
5,000 sections and 600 tutor groups per term) with two terms of feedback,
records with 10 scores each, loaded with bulk INSERTs (executemany on SQLite,
COPY on PostgreSQL). Then it times, alternately, several times:

  * the bare query: one hand-written ``GROUP BY`` of the term's scores by section;
  * the DuckDB anchor (bench-only dependency: ``pip install -e '.[bench]'``): the same
    figures — n, distinct observers, mean, sd, median, min, max, bands per level x
    kind x dimension — loaded from the database (DuckDB's SQLite / PostgreSQL
    reader), computed, and written back into a table of the database;
  * ours: :func:`evalsys.aggregation.service.aggregate_term` for the term (five
    levels, every kind and dimension, medians, coverage, comparisons, flags), in a
    fresh child process each time (its peak memory is the aggregation's alone),
    once for each evalsys checkout given with ``--code`` (before and after a change);

and prints the median times, the ratio to DuckDB with loading and writing, peak
memory, the machine's load average, and a comparison of every result, coverage and
flag row of the first two checkouts, of DuckDB's figures against ours, and of a
re-run against the first run. Not a test: nothing here asserts a time.

    .venv/bin/python bench/aggregation_bench.py                      # both databases, 3 sizes
    .venv/bin/python bench/aggregation_bench.py --db sqlite --sizes 100000 --keep
    .venv/bin/python bench/aggregation_bench.py --url sqlite:////tmp/bench-100000.sqlite3 \
        --code /tmp/evalsys-before,.     # a built database; two checkouts, alternately
    .venv/bin/python bench/aggregation_bench.py --pg-url postgresql+psycopg://postgres@127.0.0.1:5432/postgres

See docs/benchmarks.md for the figures and the machine they were taken on.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import random
import resource
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
#: Which evalsys to measure: this checkout, or another one (``--code``: before and after a
#: change, measured alternately on the same database in one run).
CODE = Path(os.environ.get("EVALSYS_BENCH_CODE", ROOT))
sys.path.insert(0, str(CODE))

from sqlalchemy import create_engine, text  # noqa: E402
from sqlalchemy.engine import Engine, make_url  # noqa: E402
from sqlmodel import Session  # noqa: E402

import evalsys.models  # noqa: E402,F401
from evalsys import migrate  # noqa: E402
from evalsys.db import make_engine  # noqa: E402
from evalsys.feedback import rubrics  # noqa: E402
from evalsys.org import hierarchy  # noqa: E402

COLLEGES = 30
DEPARTMENTS_PER_COLLEGE = 10
COURSES = 2_500
SECTIONS = 5_000
GROUPS = 600
TEACHERS = 3_000
OBSERVERS = 600
SCORES_PER_RECORD = 10
TERMS = (
    ("2025-2026-2", date(2026, 2, 23), date(2026, 7, 5)),
    ("2026-2027-1", date(2026, 9, 7), date(2027, 1, 17)),
)
BENCH_TERM = TERMS[-1][0]

BARE_QUERY = """
SELECT f.section_id, COUNT(*), AVG(fs.value)
FROM feedback_score fs JOIN feedback f ON f.id = fs.feedback_id
WHERE f.term_id = :term_id AND f.status = 'submitted'
GROUP BY f.section_id
"""

# A second version of the spot-check and tutor-group rubrics: other item codes, another
# scale, the same dimensions. Half of the spot checks use it; every tutor report does.
SPOT_V2 = {
    "kind": "spot_check",
    "title": "Spot check v2",
    "scale_min": 1,
    "scale_max": 5,
    "items": [
        {"code": f"s2_{dim}_{i}", "label": f"{dim} {i}", "dimension": dim, "weight": w}
        for dim, i, w in (
            ("attitude", 1, 10),
            ("attitude", 2, 5),
            ("content", 1, 15),
            ("content", 2, 10),
            ("method", 1, 10),
            ("method", 2, 10),
            ("organisation", 1, 10),
            ("organisation", 2, 5),
            ("effect", 1, 15),
            ("effect", 2, 10),
        )
    ],
}
TUTOR_V2 = {
    "kind": "tutor_group",
    "title": "Tutor group v2",
    "scale_min": 1,
    "scale_max": 5,
    "items": [
        {"code": f"t2_{dim}_{i}", "label": f"{dim} {i}", "dimension": dim, "weight": 10}
        for dim in ("plan_fit", "practice", "guidance", "workload", "support")
        for i in (1, 2)
    ],
}


# --- building the data -----------------------------------------------------------------


def build(engine: Engine, records: int, seed: int = 2026) -> dict[str, float]:
    """Schema, university, two terms of ``records`` feedback records each. Returns timings."""
    timings: dict[str, float] = {}
    t0 = time.perf_counter()
    migrate.upgrade(engine)
    rng = random.Random(seed)
    with Session(engine) as session:
        rubrics.ensure_default_rubrics(session)
        spot_v1 = rubrics.current_rubric(session, "spot_check")
        open_v1 = rubrics.current_rubric(session, "open_class")
        tutor_v1 = rubrics.current_rubric(session, "tutor_group")
        assert spot_v1 and open_v1 and tutor_v1
        rubric_ids = {"spot_v1": spot_v1.id, "open": open_v1.id, "tutor_v1": tutor_v1.id}
        spot_v2 = rubrics.create_rubric(session, rubrics.parse_rubric(SPOT_V2), publish=True)
        tutor_v2 = rubrics.create_rubric(session, rubrics.parse_rubric(TUTOR_V2), publish=True)
        rubric_ids |= {"spot_v2": spot_v2.id, "tutor_v2": tutor_v2.id}
        items = {
            name: [
                (i.id, i.scale_min, i.scale_max, i.weight)
                for i in rubrics.rubric_items(session, rid)  # type: ignore[arg-type]
            ]
            for name, rid in rubric_ids.items()
        }
        session.commit()
    # Every record gets 10 scores: the 8-item tutor v1 is not used.
    assert all(len(items[k]) == SCORES_PER_RECORD for k in ("spot_v1", "spot_v2", "open"))
    assert len(items["tutor_v2"]) == SCORES_PER_RECORD

    now = datetime(2026, 11, 1, tzinfo=UTC)
    with engine.begin() as conn:
        users = [
            {"id": i, "username": f"u{i}", "name": f"User {i}", "active": True, "created_at": now}
            for i in range(1, TEACHERS + OBSERVERS + 1)
        ]
        conn.execute(
            text(
                "INSERT INTO user_account (id, username, name, active, created_at)"
                " VALUES (:id, :username, :name, :active, :created_at)"
            ),
            users,
        )
        units = [{"id": 1, "code": "U", "name": "University", "kind": "school", "parent_id": None}]
        departments = []
        for c in range(COLLEGES):
            cid = 2 + c
            units.append(
                {
                    "id": cid,
                    "code": f"C{c:02d}",
                    "name": f"College {c}",
                    "kind": "college",
                    "parent_id": 1,
                }
            )
        next_id = 2 + COLLEGES
        for c in range(COLLEGES):
            for d in range(DEPARTMENTS_PER_COLLEGE):
                units.append(
                    {
                        "id": next_id,
                        "code": f"C{c:02d}-D{d}",
                        "name": f"Department {c}.{d}",
                        "kind": "department",
                        "parent_id": 2 + c,
                    }
                )
                departments.append(next_id)
                next_id += 1
        conn.execute(
            text(
                "INSERT INTO org_unit (id, code, name, kind, parent_id)"
                " VALUES (:id, :code, :name, :kind, :parent_id)"
            ),
            units,
        )
        courses = [
            {
                "id": i + 1,
                "code": f"K{i:04d}",
                "title": f"Course {i}",
                "department_id": departments[i % len(departments)],
            }
            for i in range(COURSES)
        ]
        conn.execute(
            text(
                "INSERT INTO course (id, code, title, department_id)"
                " VALUES (:id, :code, :title, :department_id)"
            ),
            courses,
        )
        for t, (code, start, end) in enumerate(TERMS, start=1):
            conn.execute(
                text(
                    "INSERT INTO term (id, code, name, start_date, end_date)"
                    " VALUES (:id, :code, :code, :start, :end)"
                ),
                {"id": t, "code": code, "start": start, "end": end},
            )
    with Session(engine) as session:
        hierarchy.rebuild_closure(session)
        session.commit()

    course_dept = {c["id"]: c["department_id"] for c in courses}
    feedback_id = 0
    for t, (code, start, _end) in enumerate(TERMS, start=1):
        sections = []
        for s in range(SECTIONS):
            course_id = s % COURSES + 1
            sections.append(
                {
                    "id": (t - 1) * SECTIONS + s + 1,
                    "code": f"{code}-S{s:05d}",
                    "course_id": course_id,
                    "term_id": t,
                    "teacher_id": rng.randint(1, TEACHERS),
                    "enrolled": 40,
                }
            )
        groups = [
            {
                "id": (t - 1) * GROUPS + g + 1,
                "code": f"{code}-G{g:04d}",
                "name": f"Group {g}",
                "department_id": departments[g % len(departments)],
                "term_id": t,
                "tutor_id": rng.randint(1, TEACHERS),
                "size": 10,
            }
            for g in range(GROUPS)
        ]
        with engine.begin() as conn:
            conn.execute(
                text(
                    "INSERT INTO section (id, code, course_id, term_id, teacher_id, enrolled)"
                    " VALUES (:id, :code, :course_id, :term_id, :teacher_id, :enrolled)"
                ),
                sections,
            )
            conn.execute(
                text(
                    "INSERT INTO tutor_group (id, code, name, department_id, term_id, tutor_id,"
                    " size) VALUES (:id, :code, :name, :department_id, :term_id, :tutor_id,"
                    " :size)"
                ),
                groups,
            )
        # A quality per section and group, so units really differ.
        quality = {("s", s["id"]): rng.gauss(80, 7) for s in sections}
        quality |= {("g", g["id"]): rng.gauss(78, 8) for g in groups}
        t1 = time.perf_counter()
        feedback_id = _load_feedback(
            engine,
            rng,
            records,
            t,
            start,
            sections,
            groups,
            course_dept,
            items,
            rubric_ids,
            quality,
            feedback_id,
            now,
        )
        timings[f"load {code}"] = time.perf_counter() - t1
    if engine.dialect.name == "postgresql":
        with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            conn.execute(text("VACUUM ANALYZE"))
    else:
        with engine.begin() as conn:
            conn.execute(text("ANALYZE"))
    timings["build"] = time.perf_counter() - t0
    return timings


def _load_feedback(
    engine,
    rng,
    records,
    term_id,
    start,
    sections,
    groups,
    course_dept,
    items,
    rubric_ids,
    quality,
    first_id,
    now,
) -> int:
    """Insert ``records`` submitted records (plus 2 % drafts) of a term, in chunks."""
    total = records + records // 50
    chunk = 20_000
    fid = first_id
    made = 0
    while made < total:
        feedback_rows = []
        score_rows = []
        for _ in range(min(chunk, total - made)):
            fid += 1
            made += 1
            draw = rng.random()
            if draw < 0.05:
                kind, rubric = "tutor_group", "tutor_v2"
                group = groups[rng.randrange(len(groups))]
                target = {"section_id": None, "group_id": group["id"]}
                dept = group["department_id"]
                q = quality[("g", group["id"])]
            else:
                section = sections[rng.randrange(len(sections))]
                if draw < 0.25:
                    kind, rubric = "open_class", "open"
                else:
                    kind = "spot_check"
                    rubric = "spot_v1" if rng.random() < 0.5 else "spot_v2"
                target = {"section_id": section["id"], "group_id": None}
                dept = course_dept[section["course_id"]]
                q = quality[("s", section["id"])]
            record_q = q + rng.gauss(0, 6)
            total_w = weighted = 0.0
            for item_id, lo, hi, weight in items[rubric]:
                share = min(1.0, max(0.0, (record_q + rng.gauss(0, 8)) / 100))
                value = float(round(lo + share * (hi - lo)))
                score_rows.append((fid, item_id, value))
                total_w += weight
                weighted += weight * (value - lo) / (hi - lo)
            status = "draft" if made > records else "submitted"
            feedback_rows.append(
                (
                    fid,
                    kind,
                    rubric_ids[rubric],
                    term_id,
                    target["section_id"],
                    target["group_id"],
                    dept,
                    TEACHERS + 1 + rng.randrange(OBSERVERS),
                    status,
                    start + timedelta(days=rng.randrange(100)),
                    100.0 * weighted / total_w,
                    now,
                    now,
                    now if status == "submitted" else None,
                )
            )
        _bulk(engine, feedback_rows, score_rows)
    return fid


_FEEDBACK_COLUMNS = (
    "id, kind, rubric_id, term_id, section_id, group_id, department_id, observer_id, status,"
    " visit_date, overall_score, created_at, updated_at, submitted_at"
)


def _bulk(engine: Engine, feedback_rows: list[tuple], score_rows: list[tuple]) -> None:
    raw = engine.raw_connection()
    try:
        cur = raw.cursor()
        if engine.dialect.name == "postgresql":
            with cur.copy(f"COPY feedback ({_FEEDBACK_COLUMNS}) FROM STDIN") as copy:
                for row in feedback_rows:
                    copy.write_row(row)
            with cur.copy("COPY feedback_score (feedback_id, item_id, value) FROM STDIN") as copy:
                for row in score_rows:
                    copy.write_row(row)
        else:
            cur.execute("BEGIN")
            cur.executemany(
                f"INSERT INTO feedback ({_FEEDBACK_COLUMNS}) VALUES ({', '.join('?' * 14)})",
                [_sqlite_row(r) for r in feedback_rows],
            )
            cur.executemany(
                "INSERT INTO feedback_score (feedback_id, item_id, value) VALUES (?, ?, ?)",
                score_rows,
            )
        raw.commit()
    finally:
        raw.close()


def _sqlite_row(row: tuple) -> tuple:
    # SQLite stores dates and datetimes as the ISO text SQLAlchemy would write.
    out = []
    for value in row:
        if isinstance(value, datetime):
            out.append(value.strftime("%Y-%m-%d %H:%M:%S.%f"))
        elif isinstance(value, date):
            out.append(value.isoformat())
        else:
            out.append(value)
    return tuple(out)


# --- one aggregation (in a child process) ----------------------------------------------


def _term_id(engine: Engine) -> int:
    with engine.connect() as conn:
        return conn.execute(
            text("SELECT id FROM term WHERE code = :c"), {"c": BENCH_TERM}
        ).scalar_one()


def once(url: str) -> dict:
    """One aggregation of the benchmark term, in this (fresh) process: its time, the
    time of each step, and the process's peak memory (interpreter and imports included)."""
    from evalsys.aggregation.flags import Settings
    from evalsys.aggregation.service import aggregate_term

    engine = make_engine(url)
    phases: dict[str, float] = {}
    t = time.perf_counter()
    last = [t]

    def progress(step: str, _detail: str) -> None:
        now = time.perf_counter()
        phases[step] = now - last[0]
        last[0] = now

    with Session(engine, expire_on_commit=False) as session:
        run = aggregate_term(session, term=BENCH_TERM, settings=Settings(), progress=progress)
    phases["commit"] = time.perf_counter() - last[0]
    elapsed = time.perf_counter() - t
    engine.dispose()
    return {
        "elapsed": elapsed,
        "phases": phases,
        "records": run.record_count,
        "results": run.result_count,
        "flags": run.flag_count,
        "maxrss_mb": _peak_rss_mb(),
    }


def _peak_rss_mb() -> float:
    """This process's peak resident memory. Not ``ru_maxrss``: Linux keeps it across
    ``exec``, so a child started by a big parent would report the parent's."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _ours(url: str, code: Path) -> dict:
    """:func:`once` in a child process running the evalsys at ``code``."""
    env = os.environ | {"EVALSYS_BENCH_CODE": str(code)}
    child = subprocess.run(
        [sys.executable, __file__, "--once", url],
        capture_output=True,
        text=True,
        check=False,
        env=env,
    )
    if child.returncode != 0:
        raise RuntimeError(child.stderr)
    return json.loads(child.stdout.strip().splitlines()[-1])


# --- the DuckDB anchor -----------------------------------------------------------------------

#: The same figures as the aggregation's statistics step (n, distinct observers, mean, sd,
#: median, min, max, bands per level x kind x dimension, each value under its own kind and
#: under 'all'), from the same rows, in DuckDB: the columnar engine the target is set
#: against (issue 18). Loading = copying the term's rows out of the database into DuckDB;
#: writing = the result rows into a table of the database.
DUCK_LOAD = (
    """CREATE TEMP TABLE rec AS
    SELECT f.id, f.kind, f.observer_id, f.section_id, s.course_id, f.department_id,
           f.overall_score
    FROM db.feedback f LEFT JOIN db.section s ON s.id = f.section_id
    WHERE f.term_id = {term_id} AND f.status = 'submitted'""",
    """CREATE TEMP TABLE sc AS
    SELECT fs.feedback_id, fs.item_id, fs.value
    FROM db.feedback_score fs JOIN db.feedback f ON f.id = fs.feedback_id
    WHERE f.term_id = {term_id} AND f.status = 'submitted'""",
    """CREATE TEMP TABLE item AS
    SELECT id, dimension, weight, scale_min, scale_max - scale_min AS span FROM db.rubric_item""",
    "CREATE TEMP TABLE org AS SELECT id, kind FROM db.org_unit",
    "CREATE TEMP TABLE clo AS SELECT ancestor_id, descendant_id FROM db.org_unit_closure",
)
_DUCK_UNITS = ("school", "college", "department", "course_id", "section_id")
DUCK_FIGURES = f"""
CREATE TEMP TABLE res AS
WITH map AS (
    SELECT c.descendant_id AS org_id,
           max(CASE WHEN a.kind = 'department' THEN a.id END) AS department,
           max(CASE WHEN a.kind = 'college' THEN a.id END) AS college,
           max(CASE WHEN a.kind = 'school' THEN a.id END) AS school
    FROM clo c JOIN org a ON a.id = c.ancestor_id GROUP BY c.descendant_id
), vals AS (
    SELECT sc.feedback_id, i.dimension,
           round(100.0 * sum(i.weight * (sc.value - i.scale_min) / i.span) / sum(i.weight), 6)
               AS value
    FROM sc JOIN item i ON i.id = sc.item_id GROUP BY sc.feedback_id, i.dimension
    UNION ALL
    SELECT id, 'overall', round(overall_score, 6) FROM rec WHERE overall_score IS NOT NULL
), v AS (
    SELECT r.kind, x.dimension, x.value, r.observer_id, r.section_id, r.course_id,
           m.department, m.college, m.school
    FROM vals x JOIN rec r ON r.id = x.feedback_id LEFT JOIN map m ON m.org_id = r.department_id
), both_kinds AS (
    SELECT * FROM v
    UNION ALL
    SELECT 'all', dimension, value, observer_id, section_id, course_id, department, college, school
    FROM v
)
SELECT * FROM (
    SELECT CASE {
    " ".join(f"WHEN grouping({c}) = 0 THEN '{c.removesuffix('_id')}'" for c in _DUCK_UNITS)
} END AS level,
           CASE {" ".join(f"WHEN grouping({c}) = 0 THEN {c}" for c in _DUCK_UNITS)} END
               AS unit_id,
           kind, dimension, count(*) AS n, count(DISTINCT observer_id) AS observers,
           avg(value) AS mean, stddev_samp(value) AS sd, median(value) AS median,
           min(value) AS minimum, max(value) AS maximum,
           count_if(value < 60) AS band_fail, count_if(value >= 60 AND value < 70) AS band_pass,
           count_if(value >= 70 AND value < 80) AS band_fair,
           count_if(value >= 80 AND value < 90) AS band_good,
           count_if(value >= 90) AS band_excellent
    FROM both_kinds
    GROUP BY kind, dimension, GROUPING SETS ({", ".join(f"({c})" for c in _DUCK_UNITS)})
) g
WHERE unit_id IS NOT NULL
"""
DUCK_COLUMNS = (
    "level, unit_id, kind, dimension, n, observers, mean, sd, median, minimum, maximum,"
    " band_fail, band_pass, band_fair, band_good, band_excellent"
)


def duck_anchor(url: str, term_id: int) -> tuple[dict[str, float], list[tuple]]:
    """DuckDB's times (load, figures, write back) and its figures, in key order."""
    import duckdb  # bench-only dependency: pip install -e '.[bench]'

    kind = make_url(url).get_backend_name()
    con = duckdb.connect(config={"threads": 2})
    extension = "sqlite_scanner" if kind == "sqlite" else "postgres_scanner"
    package = __import__(f"duckdb_extension_{extension}")
    [path] = Path(package.__file__).parent.glob(f"extensions/*/{extension}.duckdb_extension")
    con.load_extension(str(path))
    if kind == "sqlite":
        # Read only: DuckDB's own SQLite writing into a WAL database that evalsys has open
        # corrupted it here; results are written back through Python's sqlite3 instead.
        con.execute(f"ATTACH '{make_url(url).database}' AS db (TYPE sqlite, READ_ONLY)")
    else:
        u = make_url(url)
        dsn = f"dbname={u.database} host={u.host} port={u.port or 5432} user={u.username}"
        if u.password:
            dsn += f" password={u.password}"
        con.execute(f"ATTACH '{dsn}' AS db (TYPE postgres)")
    times: dict[str, float] = {}
    t = time.perf_counter()
    for statement in DUCK_LOAD:
        con.execute(statement.format(term_id=term_id))
    times["load"] = time.perf_counter() - t
    t = time.perf_counter()
    con.execute(DUCK_FIGURES)
    times["figures"] = time.perf_counter() - t
    t = time.perf_counter()
    if kind == "sqlite":
        _duck_write_sqlite(con, make_url(url).database)
    else:
        con.execute("DROP TABLE IF EXISTS db.bench_duck_result")
        con.execute("CREATE TABLE db.bench_duck_result AS SELECT * FROM res")
    times["write"] = time.perf_counter() - t
    rows = con.execute(f"SELECT {DUCK_COLUMNS} FROM res ORDER BY level, unit_id, kind, dimension")
    figures = rows.fetchall()
    if kind != "sqlite":
        con.execute("DROP TABLE db.bench_duck_result")
    con.close()
    if kind == "sqlite":
        with sqlite3.connect(make_url(url).database) as db:
            db.execute("DROP TABLE bench_duck_result")
    return times, figures


def _duck_write_sqlite(con, path: str) -> None:
    """DuckDB's result rows into a table of the SQLite database, in one transaction."""
    rows = con.execute(f"SELECT {DUCK_COLUMNS} FROM res").fetchall()
    db = sqlite3.connect(path)
    try:
        db.execute("DROP TABLE IF EXISTS bench_duck_result")
        db.execute(f"CREATE TABLE bench_duck_result ({DUCK_COLUMNS})")
        marks = ", ".join("?" * len(DUCK_COLUMNS.split(",")))
        db.executemany(f"INSERT INTO bench_duck_result VALUES ({marks})", rows)
        db.commit()
    finally:
        db.close()


# --- comparing every row -----------------------------------------------------------------------

#: Columns computed in floating point from sums: equal within a relative 1e-9 (the sums
#: are added in another order); every other column must be identical, bit for bit.
FLOAT_COLUMNS = {"mean", "sd", "parent_mean", "parent_diff", "parent_z", "prev_mean", "prev_change"}
TABLES = {
    "aggregate_result": "level, unit_id, kind, dimension",
    "aggregate_coverage": "level, unit_id",
    "aggregate_flag": "level, unit_id, kind, dimension, flag",
}


def snapshot(engine: Engine, term_id: int) -> dict[str, tuple[list[str], list[tuple]]]:
    """Every row of the term's results, coverage and flags, in key order."""
    out = {}
    with engine.connect() as conn:
        for table, key in TABLES.items():
            result = conn.execute(
                text(f"SELECT * FROM {table} WHERE term_id = :t ORDER BY {key}"), {"t": term_id}
            )
            out[table] = (list(result.keys()), [tuple(r) for r in result])
    return out


def compare(before: dict, after: dict) -> dict[str, dict]:
    """Row by row: how many rows, which differ beyond the rules above, the largest
    relative difference of each floating-point column, and how many are bit-identical."""
    report: dict[str, dict] = {}
    for table, (columns, rows_a) in before.items():
        columns_b, rows_b = after[table]
        assert columns == columns_b, table
        keys = TABLES[table].split(", ")
        key_at = [columns.index(k) for k in keys]
        a = {tuple(r[i] for i in key_at): r for r in rows_a}
        b = {tuple(r[i] for i in key_at): r for r in rows_b}
        entry: dict = {
            "rows": [len(a), len(b)],
            "only_before": len(a.keys() - b.keys()),
            "only_after": len(b.keys() - a.keys()),
            "differing_rows": 0,
            "differing_columns": {},
            "float_max_rel": {},
            "float_identical": {},
            "examples": [],
        }
        for key in a.keys() & b.keys():
            ra, rb = a[key], b[key]
            bad = False
            for i, name in enumerate(columns):
                x, y = ra[i], rb[i]
                if name in FLOAT_COLUMNS or (table == "aggregate_flag" and name == "value"):
                    same = x == y
                    entry["float_identical"][name] = entry["float_identical"].get(name, 0) + same
                    if x is None or y is None:
                        ok = x is None and y is None
                    else:
                        rel = abs(x - y) / max(abs(x), abs(y), 1e-300) if not same else 0.0
                        worst = entry["float_max_rel"].get(name, 0.0)
                        entry["float_max_rel"][name] = max(worst, rel)
                        ok = rel <= 1e-9 or abs(x - y) <= 1e-9
                else:
                    ok = x == y
                if not ok:
                    bad = True
                    entry["differing_columns"][name] = entry["differing_columns"].get(name, 0) + 1
            entry["differing_rows"] += bad
            if bad and len(entry["examples"]) < 4:
                entry["examples"].append({"before": ra, "after": rb})
        report[table] = entry
    return report


def compare_anchor(anchor: list[tuple], ours: dict) -> dict:
    """DuckDB's figures against ours (the rows with n > 0): the same check as issue 18's."""
    columns, rows = ours["aggregate_result"]
    names = DUCK_COLUMNS.split(", ")
    at = [columns.index(c) for c in names]
    mine = {tuple(r[at[i]] for i in range(4)): [r[i] for i in at] for r in rows if r[9] > 0}
    theirs = {tuple(r[:4]): list(r) for r in anchor}
    out: dict = {"rows": [len(theirs), len(mine)], "missing": len(theirs.keys() ^ mine.keys())}
    out["differing"] = {}
    out["max_abs"] = {}
    for key in theirs.keys() & mine.keys():
        for i, name in enumerate(names[4:], start=4):
            x, y = theirs[key][i], mine[key][i]
            if name in ("mean", "sd"):
                if (x is None) != (y is None):
                    out["differing"][name] = out["differing"].get(name, 0) + 1
                elif x is not None:
                    out["max_abs"][name] = max(out["max_abs"].get(name, 0.0), abs(x - y))
            elif x != y:
                out["differing"][name] = out["differing"].get(name, 0) + 1
    return out


# --- measuring -------------------------------------------------------------------------------


def measure(url: str, repeat: int, codes: list[Path]) -> dict:
    """Alternately, ``repeat`` times: the bare query, DuckDB, and the aggregation of each
    evalsys in ``codes`` (each in a fresh child process); then the row comparisons."""
    engine = make_engine(url)
    term_id = _term_id(engine)
    with engine.connect() as conn:
        counts = conn.execute(
            text(
                "SELECT COUNT(*), (SELECT COUNT(*) FROM feedback_score fs JOIN feedback f"
                " ON f.id = fs.feedback_id WHERE f.term_id = :t AND f.status = 'submitted')"
                " FROM feedback WHERE term_id = :t AND status = 'submitted'"
            ),
            {"t": term_id},
        ).one()

    def bare() -> float:
        t = time.perf_counter()
        with engine.connect() as conn:
            rows = conn.execute(text(BARE_QUERY), {"term_id": term_id}).all()
        assert len(rows) > 0
        return time.perf_counter() - t

    def vacuum() -> None:
        # What autovacuum does between two nightly runs: each run deletes and rewrites
        # the term's ~144k result rows; back to back, the dead rows would pile up.
        if engine.dialect.name == "postgresql":
            with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
                conn.execute(text("VACUUM ANALYZE aggregate_result, aggregate_coverage"))

    try:
        import duckdb  # noqa: F401
    except ImportError:
        duck = False
        print("  (no duckdb: pip install -e '.[bench]' for the anchor)", file=sys.stderr)
    else:
        duck = True
    bare()  # warm the caches
    out: dict = {"records": counts[0], "scores": counts[1], "bare": [], "duck": [], "ours": {}}
    snapshots: dict[str, dict] = {}
    anchor: list[tuple] = []
    loads: list[str] = []
    for _ in range(repeat):
        out["bare"].append(bare())
        if duck:
            times, anchor = duck_anchor(url, term_id)
            out["duck"].append(times)
        for code in codes:
            loads.append(os.getloadavg()[0])
            one = _ours(url, code)
            out["ours"].setdefault(str(code), []).append(one)
            if str(code) not in snapshots:
                snapshots[str(code)] = snapshot(engine, term_id)
            vacuum()
    out["load_average"] = loads
    names = [str(c) for c in codes]
    if len(names) == 2:
        out["before_after"] = compare(snapshots[names[0]], snapshots[names[1]])
    # A re-run gives identical rows: the last run of the last code against its first.
    out["rerun_identical"] = snapshots[names[-1]] == snapshot(engine, term_id)
    if anchor:
        out["anchor_vs_ours"] = compare_anchor(anchor, snapshots[names[-1]])
    engine.dispose()
    return out


# --- the driver ----------------------------------------------------------------------------


def _sqlite_url(tmp: Path, records: int) -> str:
    return f"sqlite:///{tmp / f'bench-{records}.sqlite3'}"


def _pg_database(base_url: str) -> tuple[str, callable]:
    base = make_url(base_url)
    name = f"evalsys_bench_{uuid.uuid4().hex[:10]}"
    admin = create_engine(base, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))

    def drop() -> None:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()

    return base.set(database=name).render_as_string(hide_password=False), drop


def run_one(db: str, records: int, args, tmp: Path, codes: list[Path]) -> dict:
    """Build a university of ``records`` per term (or take ``--url``'s) and measure it."""
    drop = None
    timings: dict[str, float] = {}
    if args.url:
        url = args.url
    elif db == "sqlite":
        url = _sqlite_url(tmp, records)
    else:
        url, drop = _pg_database(args.pg_url)
    try:
        if not args.url:
            engine = make_engine(url)
            timings = build(engine, records)
            # The previous term's results exist, as they would in real life (comparisons).
            from evalsys.aggregation.service import aggregate_term

            t = time.perf_counter()
            with Session(engine) as session:
                aggregate_term(session, term=TERMS[0][0])
            timings["aggregate previous term"] = time.perf_counter() - t
            engine.dispose()
        result = measure(url, args.repeat, codes)
        result |= {"db": make_url(url).get_backend_name(), "size": records, "timings": timings}
        return result
    finally:
        if db == "sqlite" and not args.keep and not args.url:
            for suffix in ("", "-wal", "-shm"):
                Path(url.removeprefix("sqlite:///") + suffix).unlink(missing_ok=True)
        if drop is not None:
            drop()


def report(results: list[dict]) -> str:
    """Markdown tables: times (medians), ratios, peak memory, where the time goes, equality."""
    out = io.StringIO()
    out.write(
        "| database | records | score rows | evalsys | aggregation (s) | bare GROUP BY (s)"
        " | DuckDB figures (s) | DuckDB + load (s) | DuckDB + load + write (s)"
        " | ratio to DuckDB + load + write | peak RSS (MB) |\n"
        "|---|---:|---:|---|---:|---:|---:|---:|---:|---:|---:|\n"
    )
    for r in results:
        bare = statistics.median(r["bare"])
        duck = r["duck"]
        figures = statistics.median(d["figures"] for d in duck) if duck else None
        loaded = statistics.median(d["load"] + d["figures"] for d in duck) if duck else None
        full = (
            statistics.median(d["load"] + d["figures"] + d["write"] for d in duck) if duck else None
        )
        for code, runs in r["ours"].items():
            ours = statistics.median(x["elapsed"] for x in runs)
            peak = max(x["maxrss_mb"] for x in runs)
            cells = (
                f"{figures:.2f} | {loaded:.2f} | {full:.2f} | {ours / full:.2f}"
                if duck
                else "— | — | — | —"
            )
            out.write(
                f"| {r['db']} | {r['records']:,} | {r['scores']:,} | {Path(code).name}"
                f" | {ours:.2f} | {bare:.3f} | {cells} | {peak:.0f} |\n"
            )
    out.write("\nWhere the time goes (seconds, medians):\n\n")
    steps: list[str] = []
    for r in results:
        for runs in r["ours"].values():
            for x in runs:
                steps += [step for step in x["phases"] if step not in steps]
    order = ["prepare", "statistics", "school", "college", "department", "course", "section"]
    steps.sort(key=lambda step: order.index(step) if step in order else len(order))
    out.write("| database | evalsys | " + " | ".join(steps) + " |\n")
    out.write("|---|---|" + "---:|" * len(steps) + "\n")
    for r in results:
        for code, runs in r["ours"].items():
            cells = " | ".join(
                f"{statistics.median(x['phases'].get(step, 0.0) for x in runs):.2f}"
                for step in steps
            )
            out.write(f"| {r['db']} | {Path(code).name} | {cells} |\n")
    for r in results:
        out.write(f"\n{r['db']}: load average (1 min) before each run of ours: ")
        out.write(", ".join(f"{x:.2f}" for x in r["load_average"]) + "\n")
        for name in ("before_after", "anchor_vs_ours", "rerun_identical"):
            if name in r:
                out.write(f"\n{r['db']} {name}:\n\n```\n{json.dumps(r[name], indent=1)}\n```\n")
    return out.getvalue()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--db", choices=["sqlite", "postgresql", "both"], default="both")
    parser.add_argument("--sizes", default="25000,50000,100000", help="records per term")
    parser.add_argument("--repeat", type=int, default=3, help="timed runs of each")
    parser.add_argument(
        "--pg-url",
        default=os.environ.get(
            "EVALSYS_BENCH_PG_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
        ),
        help="a PostgreSQL server; a throw-away database is made beside it and dropped",
    )
    parser.add_argument(
        "--url", help="measure this already built benchmark database (one --db, one size)"
    )
    parser.add_argument(
        "--code",
        default=str(ROOT),
        help="comma-separated evalsys checkouts to measure alternately (before,after)",
    )
    parser.add_argument("--keep", action="store_true", help="keep the SQLite files (path printed)")
    parser.add_argument("--once", metavar="URL", help=argparse.SUPPRESS)
    parser.add_argument("--json", metavar="FILE", help="also write the raw figures here")
    args = parser.parse_args()
    if args.once:
        print(json.dumps(once(args.once)))
        return
    codes = [Path(c).resolve() for c in args.code.split(",")]
    if args.url:
        dbs, sizes = [make_url(args.url).get_backend_name()], [0]
    else:
        dbs = ["sqlite", "postgresql"] if args.db == "both" else [args.db]
        sizes = [int(s) for s in args.sizes.split(",")]
    results = []
    with tempfile.TemporaryDirectory(prefix="evalsys-bench-") as scratch:
        # --keep: the SQLite files outlive the run (measure them again with --url).
        tmpdir = tempfile.mkdtemp(prefix="evalsys-bench-") if args.keep else scratch
        for db in dbs:
            for size in sizes:
                print(f"{db}, {size:,} records per term: building / measuring ...", flush=True)
                result = run_one(db, size, args, Path(tmpdir), codes)
                if args.keep and db == "sqlite" and not args.url:
                    print(f"  kept: {_sqlite_url(Path(tmpdir), size)}", flush=True)
                for code, runs in result["ours"].items():
                    times = ", ".join(f"{x['elapsed']:.2f}" for x in runs)
                    print(f"  {Path(code).name}: {times} s", flush=True)
                results.append(result)
    print()
    print(report(results))
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=1, default=str), encoding="utf-8")


if __name__ == "__main__":
    main()
