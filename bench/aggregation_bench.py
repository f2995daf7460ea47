"""Benchmark: the term aggregation against a bare GROUP BY, at university scale.

Builds a synthetic university (30 colleges, 300 departments, 2,500 courses,
5,000 sections and 600 tutor groups per term) with two terms of feedback,
records with 10 scores each, loaded with bulk INSERTs (executemany on SQLite,
COPY on PostgreSQL). Then, in a fresh child process (so that its peak memory
is the aggregation's, not the generator's), it times

  * the bare query: one hand-written ``GROUP BY`` of the term's scores by section;
  * ours: :func:`evalsys.aggregation.service.aggregate_term` for the term
    (five levels, every kind and dimension, medians, coverage, comparisons, flags)

alternately, several times, and prints the median times, their ratio and the
peak memory. Not a test: nothing here asserts a time.

    .venv/bin/python bench/aggregation_bench.py                      # both databases, 3 sizes
    .venv/bin/python bench/aggregation_bench.py --db sqlite --sizes 100000
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
import statistics
import subprocess
import sys
import tempfile
import time
import tracemalloc
import uuid
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

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


# --- measuring (in a child process) ------------------------------------------------------


def measure(url: str, repeat: int) -> dict:
    """Time the bare query and the aggregation alternately; then peak memory of one more run."""
    from evalsys.aggregation.flags import Settings
    from evalsys.aggregation.service import aggregate_term

    engine = make_engine(url)
    with engine.connect() as conn:
        term_id = conn.execute(
            text("SELECT id FROM term WHERE code = :c"), {"c": BENCH_TERM}
        ).scalar_one()
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

    phases: dict[str, float] = {}

    def ours() -> tuple[float, object]:
        t = time.perf_counter()
        last = [t]

        def progress(step: str, _detail: str) -> None:
            now = time.perf_counter()
            phases[step] = now - last[0]
            last[0] = now

        with Session(engine, expire_on_commit=False) as session:
            run = aggregate_term(session, term=BENCH_TERM, settings=Settings(), progress=progress)
        phases["commit"] = time.perf_counter() - last[0]
        return time.perf_counter() - t, run

    def vacuum() -> None:
        # What autovacuum does between two nightly runs: each run deletes and rewrites
        # the term's ~144k result rows; back to back, the dead rows would pile up.
        if engine.dialect.name == "postgresql":
            with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
                conn.execute(text("VACUUM ANALYZE aggregate_result, aggregate_coverage"))

    bare()  # warm the caches for both
    bare_times, our_times = [], []
    run = None
    for _ in range(repeat):
        bare_times.append(bare())
        elapsed, run = ours()
        our_times.append(elapsed)
        vacuum()
    timed_phases = dict(phases)
    tracemalloc.start()
    ours()
    _current, py_peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    maxrss_kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    engine.dispose()
    return {
        "records": counts[0],
        "scores": counts[1],
        "results": run.result_count,  # type: ignore[union-attr]
        "flags": run.flag_count,  # type: ignore[union-attr]
        "bare": bare_times,
        "ours": our_times,
        "phases": timed_phases,
        "python_peak_mb": py_peak / 2**20,
        "maxrss_mb": maxrss_kb / 1024,
    }


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


def run_one(db: str, records: int, args, tmp: Path) -> dict:
    drop = None
    if db == "sqlite":
        url = _sqlite_url(tmp, records)
    else:
        url, drop = _pg_database(args.pg_url)
    try:
        engine = make_engine(url)
        timings = build(engine, records)
        # The previous term's results exist, as they would in real life (comparisons).
        from evalsys.aggregation.service import aggregate_term

        t = time.perf_counter()
        with Session(engine) as session:
            aggregate_term(session, term=TERMS[0][0])
        timings["aggregate previous term"] = time.perf_counter() - t
        engine.dispose()
        child = subprocess.run(
            [sys.executable, __file__, "--measure", url, "--repeat", str(args.repeat)],
            capture_output=True,
            text=True,
            check=False,
        )
        if child.returncode != 0:
            raise RuntimeError(child.stderr)
        result = json.loads(child.stdout.strip().splitlines()[-1])
        result |= {"db": db, "size": records, "timings": timings}
        return result
    finally:
        if db == "sqlite" and not args.keep:
            for suffix in ("", "-wal", "-shm"):
                Path(url.removeprefix("sqlite:///") + suffix).unlink(missing_ok=True)
        if drop is not None:
            drop()


def report(results: list[dict]) -> str:
    out = io.StringIO()
    out.write(
        "| database | records | score rows | result rows | bare GROUP BY (s) | aggregation (s)"
        " | ratio | per 10k records (s) | Python peak (MB) | process max RSS (MB) |\n"
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n"
    )
    for r in results:
        bare = statistics.median(r["bare"])
        ours = statistics.median(r["ours"])
        out.write(
            f"| {r['db']} | {r['records']:,} | {r['scores']:,} | {r['results']:,} | {bare:.3f}"
            f" | {ours:.2f} | {ours / bare:.1f} | {ours / r['records'] * 10_000:.3f}"
            f" | {r['python_peak_mb']:.1f} | {r['maxrss_mb']:.0f} |\n"
        )
    out.write("\nWhere the time goes (seconds, last timed run):\n\n")
    steps: list[str] = []
    for r in results:
        steps += [step for step in r["phases"] if step not in steps]
    order = ["prepare", "statistics", "school", "college", "department", "course", "section"]
    steps.sort(key=lambda step: order.index(step) if step in order else len(order))
    out.write("| database | records | " + " | ".join(steps) + " |\n")
    out.write("|---|---:|" + "---:|" * len(steps) + "\n")
    for r in results:
        cells = " | ".join(f"{r['phases'].get(step, 0):.2f}" for step in steps)
        out.write(f"| {r['db']} | {r['records']:,} | {cells} |\n")
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
    parser.add_argument("--keep", action="store_true", help="keep the SQLite files")
    parser.add_argument("--measure", metavar="URL", help=argparse.SUPPRESS)
    parser.add_argument("--json", metavar="FILE", help="also write the raw figures here")
    args = parser.parse_args()
    if args.measure:
        print(json.dumps(measure(args.measure, args.repeat)))
        return
    dbs = ["sqlite", "postgresql"] if args.db == "both" else [args.db]
    sizes = [int(s) for s in args.sizes.split(",")]
    results = []
    with tempfile.TemporaryDirectory(prefix="evalsys-bench-") as tmpdir:
        for db in dbs:
            for size in sizes:
                print(f"{db}, {size:,} records per term: building ...", flush=True)
                result = run_one(db, size, args, Path(tmpdir))
                print(
                    f"  built in {result['timings']['build']:.1f} s; bare "
                    f"{', '.join(f'{t:.3f}' for t in result['bare'])} s; aggregation "
                    f"{', '.join(f'{t:.2f}' for t in result['ours'])} s",
                    flush=True,
                )
                results.append(result)
    print()
    print(report(results))
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=1), encoding="utf-8")


if __name__ == "__main__":
    main()
