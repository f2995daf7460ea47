"""``evalsys aggregate`` and ``evalsys export aggregates``.

:data:`COMMANDS` is what :mod:`evalsys.cli` registers. ``export`` is a group:
other areas add their exports to :data:`export_cli` with ``export_cli.add_command``.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

import click
from flask import current_app
from flask.cli import AppGroup, with_appcontext

from evalsys.accounts.service import audit
from evalsys.aggregation import export, read, service
from evalsys.aggregation.flags import Settings, SettingsError
from evalsys.clock import local_today
from evalsys.db import session_scope
from evalsys.tabular import write_file


def settings_from_app() -> Settings:
    try:
        return Settings.from_config(current_app.config)
    except SettingsError as err:
        raise click.ClickException(f"configuration: {err}") from err


@click.command("aggregate")
@click.option("--term", "term_code", metavar="CODE", help="The term to aggregate.")
@click.option("--all-open", is_flag=True, help="Every term whose end date is not past.")
# How the run is recorded: 'manual' when the admins' page starts it in a process of its own.
@click.option("--trigger", type=click.Choice(["cli", "manual"]), default="cli", hidden=True)
@with_appcontext
def aggregate_cmd(term_code: str | None, all_open: bool, trigger: str) -> None:
    """Compute a term's statistics now (one transaction; safe to run again)."""
    if bool(term_code) == all_open:
        raise click.UsageError("give either --term CODE or --all-open")
    settings = settings_from_app()
    with session_scope() as session:
        if all_open:
            today = local_today(current_app.config)
            codes = [t.code for t in service.open_terms(session, today)]
            if not codes:
                click.echo("No open term to aggregate.")
                return
        else:
            codes = [term_code or ""]
    failed = 0
    for code in codes:
        failed += not _aggregate_one(code, settings, trigger)
    if failed:
        sys.exit(1)


def _aggregate_one(code: str, settings: Settings, trigger: str = "cli") -> bool:
    click.echo(f"Aggregating {code} ...")
    started = time.perf_counter()

    def progress(step: str, detail: str) -> None:
        click.echo(f"  {step:<10} {detail}  ({time.perf_counter() - started:.1f} s)")

    try:
        with session_scope() as session:
            run = service.aggregate_term(
                session, term=code, settings=settings, trigger=trigger, progress=progress
            )
    except service.AggregationError as err:
        click.echo(f"Error: {err}", err=True)
        return False
    click.echo(
        f"Aggregated {code}: {run.record_count} records, {run.value_count} values, "
        f"{run.result_count} results, {run.coverage_count} coverage rows, "
        f"{run.flag_count} flags (run {run.id}, {time.perf_counter() - started:.1f} s)."
    )
    return True


export_cli = AppGroup("export", help="Write data out of evalsys (standard output by default).")


@export_cli.command("aggregates")
@click.option("--term", "term_code", required=True, metavar="CODE")
@click.option("--format", "fmt", type=click.Choice(["json", "csv", "xlsx"]), default="json")
@click.option("--unit", "unit_code", metavar="CODE", help="That unit and everything below it.")
@click.option(
    "--output",
    type=click.Path(dir_okay=False, writable=True, path_type=Path),
    help="Write to this file instead of standard output.",
)
def export_aggregates_cmd(
    term_code: str, fmt: str, unit_code: str | None, output: Path | None
) -> None:
    """A term's results: one row per (level, unit, kind, dimension)."""
    if fmt == "xlsx" and output is None:
        raise click.UsageError("an Excel workbook needs --output FILE.xlsx")
    with session_scope() as session:
        try:
            term = service.find_term(session, term_code)
            unit = read.find_unit(session, unit_code) if unit_code else None
        except service.AggregationError as err:
            raise click.ClickException(str(err)) from err
        # Ignored below: a stored row's id, never None.
        run = service.last_run(session, term.id, succeeded=True)  # type: ignore[arg-type]
        if run is None:
            raise click.ClickException(
                f"term {term.code} has not been aggregated; run `evalsys aggregate --term "
                f"{term.code}` first"
            )
        rows = read.result_rows(session, term=term, unit=unit)
        audit(
            session,
            "aggregates.export",
            user_id=None,
            target=f"{term.code}" + (f" {unit.code}" if unit else ""),
            detail=f"{fmt}, {len(rows)} rows, to {output or 'standard output'}",
        )
        meta = export.run_meta(term.code, unit.code if unit else None, run)
    if output is None:
        _write(fmt, rows, meta, sys.stdout)
    elif fmt == "xlsx":
        write_file(output, fmt, export.CSV_FIELDS, export.sheet_rows(rows), title=meta["term"])
        click.echo(f"Wrote {len(rows)} rows to {output}.", err=True)
    else:
        with output.open("w", encoding="utf-8", newline="") as out:
            _write(fmt, rows, meta, out)
        click.echo(f"Wrote {len(rows)} rows to {output}.", err=True)


def _write(fmt: str, rows: list, meta: dict, out) -> None:
    if fmt == "csv":
        export.write_csv(rows, out)
    else:
        export.write_json(rows, out, meta=meta)


COMMANDS = [aggregate_cmd, export_cli]
