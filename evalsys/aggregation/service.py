"""Running a term's aggregation: one recorded run, one transaction, in the database.

:func:`aggregate_term` is what the CLI, the scheduler jobs and the tests call.
It records the run (committed at once, so a run that dies is still visible),
then computes the whole term in ONE transaction — delete the term's results,
insert them again level by level (``sql.py``), write the flags, mark the run
succeeded — and commits. A run that fails or is killed changes nothing: the
previous results stay as they were, and a failed run is recorded as such in a
transaction of its own after the rollback. Running it again over the same
feedback gives identical rows.
"""

from __future__ import annotations

import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date
from typing import Any

import numpy as np
from sqlalchemy import Connection, insert, text, update
from sqlalchemy.orm.attributes import flag_modified
from sqlmodel import Session, col, select

from evalsys.aggregation import figures, sql
from evalsys.aggregation.flags import Settings, flags_for
from evalsys.aggregation.freshness import feedback_state
from evalsys.aggregation.models import (
    LEVELS_TOP_DOWN,
    AggregateFlag,
    AggregationRun,
    Level,
    RunStatus,
)
from evalsys.clock import utcnow
from evalsys.org.models import Term
from evalsys.org.terms import previous_term

Progress = Callable[[str, str], None]
#: The columns of a flag row, as :func:`_insert_flags` builds it.
FLAG_COLUMNS = (
    "term_id",
    "level",
    "unit_id",
    "kind",
    "dimension",
    "flag",
    "value",
    "threshold",
    "reason",
)


class AggregationError(Exception):
    """An aggregation that could not run or failed; ``run`` is its record, if one was made."""

    def __init__(self, message: str, run: AggregationRun | None = None) -> None:
        super().__init__(message)
        self.run = run


@dataclass(frozen=True)
class Counts:
    records: int
    values: int
    results: int
    coverage: int
    flags: int


# --- terms -------------------------------------------------------------------------------


def find_term(session: Session, code: str) -> Term:
    term = session.exec(select(Term).where(Term.code == code)).first()
    if term is None:
        raise AggregationError(f"no term '{code}'")
    return term


def open_terms(session: Session, today: date) -> list[Term]:
    """Terms whose end date is not past: re-aggregated every night."""
    stmt = select(Term).where(Term.end_date >= today).order_by(col(Term.start_date))
    return list(session.exec(stmt).all())


def terms_to_finalise(session: Session, today: date) -> list[Term]:
    """Ended terms without a successful final run yet, oldest first."""
    done = select(AggregationRun.term_id).where(
        AggregationRun.final == True,  # noqa: E712  (SQL, not Python truthiness)
        AggregationRun.status == RunStatus.SUCCEEDED.value,
    )
    stmt = (
        select(Term)
        .where(Term.end_date < today, col(Term.id).not_in(done))
        .order_by(col(Term.start_date))
    )
    return list(session.exec(stmt).all())


def last_run(session: Session, term_id: int, *, succeeded: bool = False) -> AggregationRun | None:
    stmt = select(AggregationRun).where(AggregationRun.term_id == term_id)
    if succeeded:
        stmt = stmt.where(AggregationRun.status == RunStatus.SUCCEEDED.value)
    return session.exec(stmt.order_by(col(AggregationRun.id).desc()).limit(1)).first()


def recent_runs(session: Session, *, limit: int = 20) -> list[dict[str, Any]]:
    """The latest aggregation runs of every term, newest first, for the admins' page."""
    stmt = (
        select(AggregationRun, Term.code)
        .join(Term, col(Term.id) == AggregationRun.term_id)
        .order_by(col(AggregationRun.id).desc())
        .limit(limit)
    )
    return [
        {
            "id": run.id,
            "term": code,
            "status": run.status,
            "final": run.final,
            "trigger": run.trigger,
            "started_at": run.started_at,
            "finished_at": run.finished_at,
            "records": run.record_count,
            "values": run.value_count,
            "results": run.result_count,
            "coverage": run.coverage_count,
            "flags": run.flag_count,
            "error": run.error,
        }
        for run, code in session.exec(stmt).all()
    ]


def delete_term_aggregates(session: Session, term_id: int) -> None:
    """Remove a term's results, coverage and flags (they have no foreign key to cascade)."""
    for statement in sql.DELETE_TERM:
        session.execute(text(statement), {"term_id": term_id})


# --- the run -------------------------------------------------------------------------------


def aggregate_term(
    session: Session,
    *,
    term: Term | str,
    settings: Settings | None = None,
    final: bool = False,
    trigger: str = "manual",
    progress: Progress | None = None,
) -> AggregationRun:
    """Aggregate one term now and return its (succeeded) run; raise AggregationError if not.

    Commits: first whatever the session holds together with the new run record,
    then the computation as one transaction.
    """
    settings = settings or Settings()
    if isinstance(term, str):
        term = find_term(session, term)
    prev = previous_term(session, term)
    term_id, term_code = term.id, term.code
    assert term_id is not None
    # Read before the data, so the state recorded is never newer than what the run saw:
    # a record sent meanwhile makes the next look differ and run again, never the reverse.
    state = feedback_state(session, term_id)
    run = AggregationRun(
        term_id=term_id,
        final=final,
        trigger=trigger,
        settings=settings.recorded(),
        source_state=state,
    )
    session.add(run)
    session.commit()
    run_id = run.id
    assert run_id is not None
    try:
        counts = _compute(
            session,
            term_id=term_id,
            prev_term=prev,
            run_id=run_id,
            settings=settings,
            progress=progress or (lambda step, detail: None),
        )
        run.status = RunStatus.SUCCEEDED.value
        run.finished_at = utcnow()
        run.record_count = counts.records
        run.value_count = counts.values
        run.result_count = counts.results
        run.coverage_count = counts.coverage
        run.flag_count = counts.flags
        # A run that waited for another's lock may have been taken for dead by it.
        run.error = None
        flag_modified(run, "error")
        session.add(run)
        session.commit()  # the results and the run's success, together
    except BaseException as err:
        session.rollback()
        _record_failure(session, run_id, err)
        if not isinstance(err, Exception):
            raise
        failed = session.get(AggregationRun, run_id)
        raise AggregationError(f"aggregation of {term_code} failed: {err}", failed) from err
    return run


def _record_failure(session: Session, run_id: int, err: BaseException) -> None:
    """In a transaction of its own, after the rollback: the run failed, and why."""
    try:
        run = session.get(AggregationRun, run_id)
        if run is None:  # pragma: no cover - the run row is committed before the work
            return
        run.status = RunStatus.FAILED.value
        run.finished_at = utcnow()
        detail = "".join(traceback.format_exception_only(type(err), err)).strip()
        run.error = (detail or type(err).__name__)[:4000]
        session.add(run)
        session.commit()
    except Exception:  # pragma: no cover - the database itself is gone
        session.rollback()


def _compute(
    session: Session,
    *,
    term_id: int,
    prev_term: Term | None,
    run_id: int,
    settings: Settings,
    progress: Progress,
) -> Counts:
    conn = session.connection()
    postgres = conn.dialect.name == "postgresql"
    params: dict[str, Any] = {
        "term_id": term_id,
        "prev_term_id": prev_term.id if prev_term else None,
        "min_n": settings.min_n,
    }

    def run(statement: str, **extra: Any) -> int:
        result = conn.execute(text(statement), {**params, **extra} if extra else params)
        return max(result.rowcount, 0)

    if postgres:
        # Two runs of one term queue here rather than interleave their deletes and inserts.
        run("SELECT id FROM term WHERE id = :term_id FOR UPDATE")
        # Joins and sorts of the per-level statements stay in memory at university scale.
        run("SET LOCAL work_mem = '64MB'")
        # No parallel workers: partial sums combined in a varying order could differ in
        # the last bit from run to run, and two runs over the same data must be identical.
        run("SET LOCAL max_parallel_workers_per_gather = 0")
        # No JIT: compiling the few large statements cost more than it saved (~0.1 s a run);
        # none of them evaluates expressions over enough rows for compiled code to pay.
        run("SET LOCAL jit = off")
    # The first write also takes SQLite's write lock for the whole run.
    conn.execute(
        update(AggregationRun)
        .where(
            col(AggregationRun.term_id) == term_id,
            col(AggregationRun.status) == RunStatus.RUNNING.value,
            col(AggregationRun.id) < run_id,
        )
        .values(
            status=RunStatus.INTERRUPTED.value,
            finished_at=utcnow(),
            error="found unfinished by a later run: its process stopped before the end",
        )
    )
    for statement in sql.DELETE_TERM:
        run(statement)

    for table in sql.WORK_TABLES:
        run(f"DROP TABLE IF EXISTS {table}")
    create, index = sql.work_tables(postgres=postgres)
    for statement in create:
        run(statement)
    for statement in (sql.FILL_KINDS, sql.FILL_DIMS, sql.FILL_ITEMS, sql.FILL_MAP):
        run(statement)
    for statement in sql.FILL_UNITS:
        run(statement)
    records = run(sql.FILL_RECORDS)
    for statement in index:
        run(statement)
    run(sql.FILL_SECTIONS)
    run(sql.FILL_GROUPS)
    # The previous term's means, read before any of this term's rows is written.
    dims = {name: dn for dn, name in conn.execute(text("SELECT dn, dimension FROM agg_dim")).all()}
    prev = (
        figures.fetch(conn, sql.prev_means(prev_term.id, settings.min_n, dims), 5, np.float64)
        if prev_term is not None and prev_term.id is not None
        else np.zeros((0, 5))
    )
    progress("prepare", f"{records} records")
    # The grouped figures of every level: one columnar pass, the same on both databases;
    # then each group's comparisons with its parent's and the previous term's.
    term_values = figures.load(conn)
    values = len(term_values)
    passes = [
        (level, figures.group(term_values, level, all_kinds=all_kinds, postgres=postgres))
        for level in LEVELS_TOP_DOWN
        for all_kinds in (False, True)
    ]
    del term_values
    units = figures.fetch(conn, sql.UNIT_PARENTS, 4, np.int64)
    compared = figures.compare(passes, units, prev, settings.min_n)
    groups = sum(
        figures.write(conn, level, found, comparisons)
        for (level, found), comparisons in zip(passes, compared, strict=True)
    )
    if postgres:
        # Statistics for the plans of what follows, of the columns they join and filter
        # on: the per-level result rows join agg_stats and agg_unit, coverage reads
        # agg_section and agg_group. (agg_record is read no more. aggregate_result is not
        # analysed: the flags are picked in memory, and the empty rows' NOT EXISTS finds
        # this term's rows by the primary key whatever the statistics say; its ANALYZE
        # took 0.4 s. Autovacuum keeps its statistics for the readers.)
        for table in ("agg_unit", "agg_section", "agg_group"):
            run(f"ANALYZE {table}")
        run("ANALYZE agg_stats (level, unit_id, k, dn)")
    progress("statistics", f"{values} values read, {groups} groups of all levels")

    results = coverage = 0
    for level in LEVELS_TOP_DOWN:
        made = run(sql.level_results(level))
        empty = run(sql.level_empty_rows(level))
        covered = run(sql.level_coverage(level))
        results += made + empty
        coverage += covered
        progress(level.value, f"{made + empty} results ({empty} units without records)")
        if settings.pause:
            time.sleep(settings.pause)

    flags = _insert_flags(conn, term_id, passes, compared, settings, prev_term)
    del passes, compared
    progress("flags", f"{flags} flags")
    for table in sql.WORK_TABLES:
        run(f"DROP TABLE {table}")
    return Counts(records=records, values=values, results=results, coverage=coverage, flags=flags)


def _insert_flags(
    conn: Connection,
    term_id: int,
    passes: list[tuple[Level, figures.Groups]],
    compared: list[figures.Compared],
    settings: Settings,
    prev_term: Term | None,
) -> int:
    """Flags are decided from the groups and comparisons in memory (the candidates:
    ``figures.flag_candidates``, the same rows the SQL query over the written results
    gave) and worded here, on those few rows."""
    kind_names = {code: kind for kind, code in sql.KIND_CODES.items()}
    limits = figures.FlagLimits(
        min_n=settings.min_n,
        highest_threshold=settings.highest_threshold,
        drop=settings.drop,
        parent_sd=settings.parent_sd,
        kind_thresholds={
            code: settings.threshold_for(kind) for code, kind in kind_names.items() if code
        },
    )
    names = {
        "kind": kind_names,
        "dimension": {
            dn: name for dn, name in conn.execute(text("SELECT dn, dimension FROM agg_dim")).all()
        },
    }
    unit_codes = {
        (code, unit): unit_code
        for code, unit, unit_code in conn.execute(text(sql.UNIT_CODES)).all()
    }
    candidates = figures.flag_candidates(passes, compared, limits, names, unit_codes)
    rows: list[dict[str, Any]] = []
    prev_code = prev_term.code if prev_term else None
    for row in candidates:
        key = {
            "term_id": term_id,
            "level": row["level"],
            "unit_id": row["unit_id"],
            "kind": row["kind"],
            "dimension": row["dimension"],
        }
        rows.extend(key | flag for flag in flags_for(row, settings, prev_code))
    if rows and conn.dialect.name == "postgresql":
        # COPY: ~15,000 flags at university scale; an executemany of dicts took ~0.5 s.
        raw: Any = conn.connection.dbapi_connection
        copying = f"COPY aggregate_flag ({', '.join(FLAG_COLUMNS)}) FROM STDIN"
        with raw.cursor() as cursor, cursor.copy(copying) as copy:
            for flag_row in rows:
                copy.write_row([flag_row[c] for c in FLAG_COLUMNS])
    elif rows:
        conn.execute(insert(AggregateFlag), rows)
    return len(rows)
