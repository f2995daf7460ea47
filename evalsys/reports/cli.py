"""``evalsys report``: render a term's PDF reports, one unit or the whole tree."""

from __future__ import annotations

import sys
import time
from pathlib import Path

import click
from flask import current_app
from flask.cli import with_appcontext

from evalsys.db import session_scope
from evalsys.i18n import LOCALES
from evalsys.reports import render
from evalsys.reports.data import ReportError


@click.command("report")
@click.option("--term", "term_code", required=True, metavar="CODE", help="The term.")
@click.option(
    "--unit",
    "unit_code",
    metavar="CODE",
    help="Only this unit (the school, a college or a department); default: the whole tree.",
)
@click.option(
    "--out",
    "out_dir",
    type=click.Path(file_okay=False, path_type=Path),
    help="Directory for TERM/UNITCODE.LANG.pdf (default: instance/reports, or REPORT_DIR).",
)
@click.option(
    "--jobs", type=click.IntRange(min=1), default=None, help="Worker processes (REPORT_JOBS)."
)
@click.option("--force", is_flag=True, help="Render even the reports whose inputs did not change.")
@click.option(
    "--lang",
    "langs",
    multiple=True,
    type=click.Choice(list(LOCALES)),
    help="Render in this language (repeatable); default: DEFAULT_LOCALE and the languages "
    "chosen by the people each report is for.",
)
@click.option(
    "--queue",
    "use_queue",
    is_flag=True,
    help="Put one job per report on the report queue (REPORT_QUEUE_URL) for `evalsys worker`"
    " processes to render, and follow them.",
)
@click.option("--no-wait", is_flag=True, help="With --queue: put the jobs on the queue and return.")
@with_appcontext
def report_cmd(
    term_code: str,
    unit_code: str | None,
    out_dir: Path | None,
    jobs: int | None,
    force: bool,
    langs: tuple[str, ...],
    use_queue: bool,
    no_wait: bool,
) -> None:
    """Render the term's PDF reports (skipping those whose inputs did not change)."""
    # Ignored below: werkzeug's proxy method, untyped.
    app = current_app._get_current_object()  # type: ignore[attr-defined]
    if no_wait and not use_queue:
        raise click.UsageError("--no-wait goes with --queue")
    if use_queue and not app.config.get("REPORT_QUEUE_URL"):
        raise click.UsageError(
            "--queue needs REPORT_QUEUE_URL (e.g. redis://127.0.0.1:6379/0) in the config"
        )
    try:
        with session_scope() as session:
            from evalsys.reports.data import report_data

            codes = render.tree_units(session, unit_code)
            if not codes:
                raise click.ClickException("there is no unit to report on; import the units first")
            # Fail early, in this process, on what would fail every unit alike.
            report_data(session, term_code=term_code, unit_code=codes[0], config=app.config)
    except ReportError as err:
        raise click.ClickException(str(err)) from err
    workers = render.worker_count(app, jobs)
    target = out_dir.resolve() if out_dir else render.reports_dir(app)
    how = (
        "on the report queue"
        if use_queue
        else f"with {workers} process{'es' if workers != 1 else ''}"
    )
    click.echo(
        f"Rendering {len(codes)} report{'s' if len(codes) != 1 else ''} of {term_code} into "
        f"{target} {how} ..."
    )
    started = time.perf_counter()
    width = max(len(c) for c in codes)

    def progress(outcome: render.Outcome, done: int, total: int) -> None:
        head = f"[{done:>{len(str(total))}}/{total}] {outcome.unit:<{width}} {outcome.locale}"
        if outcome.status == "rendered":
            click.echo(f"{head}  rendered   {outcome.pages:>3} pages  {outcome.seconds:5.1f} s")
        elif outcome.status == "unchanged":
            click.echo(f"{head}  unchanged  (inputs as at the last rendering)")
        elif outcome.status == "queued":
            click.echo(f"{head}  queued")
        elif outcome.status == "skipped":
            click.echo(f"{head}  skipped    ({outcome.error})")
        else:
            click.echo(f"{head}  FAILED     {outcome.error}", err=True)

    from evalsys.reports.queue import QueueUnavailable

    try:
        outcomes = render.render_units(
            app,
            term_code=term_code,
            unit_codes=codes,
            jobs=workers,
            out_dir=out_dir.resolve() if out_dir else None,
            force=force,
            progress=progress,
            # One job renders here, unless a time limit needs a worker it can kill.
            in_process=workers == 1 and render.report_timeout(app) is None,
            locales=list(langs) or None,
            queue=use_queue,
            wait=not no_wait,
        )
    except QueueUnavailable as err:
        raise click.ClickException(str(err)) from err
    counts = {
        s: sum(1 for o in outcomes if o.status == s)
        for s in ("rendered", "unchanged", "failed", "queued", "skipped")
    }
    queued = f", {counts['queued']} queued" if counts["queued"] else ""
    queued += f", {counts['skipped']} skipped" if counts["skipped"] else ""
    click.echo(
        f"Done in {time.perf_counter() - started:.1f} s: {counts['rendered']} rendered, "
        f"{counts['unchanged']} unchanged, {counts['failed']} failed{queued}."
    )
    if counts["failed"]:
        sys.exit(1)


@click.command("worker")
@click.option(
    "--burst", is_flag=True, help="Stop when the queue is empty (else run until stopped)."
)
@click.option("--name", default=None, help="The worker's name in the queue (default: host.pid).")
@with_appcontext
def worker_cmd(burst: bool, name: str | None) -> None:
    """Render reports from the report queue (REPORT_QUEUE_URL); run any number, anywhere
    that reaches the database, the report storage and Redis."""
    from evalsys.reports.queue import QueueUnavailable
    from evalsys.reports.queue_worker import run_worker

    app = current_app._get_current_object()  # type: ignore[attr-defined]
    if not app.config.get("REPORT_QUEUE_URL"):
        raise click.UsageError(
            "REPORT_QUEUE_URL is not set: there is no queue to serve (reports render in local"
            " processes without one)"
        )
    try:
        run_worker(app, burst=burst, name=name)
    except QueueUnavailable as err:
        raise click.ClickException(str(err)) from err


COMMANDS = [report_cmd, worker_cmd]
