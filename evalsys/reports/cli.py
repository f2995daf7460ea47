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
@with_appcontext
def report_cmd(
    term_code: str,
    unit_code: str | None,
    out_dir: Path | None,
    jobs: int | None,
    force: bool,
    langs: tuple[str, ...],
) -> None:
    """Render the term's PDF reports (skipping those whose inputs did not change)."""
    # Ignored below: werkzeug's proxy method, untyped.
    app = current_app._get_current_object()  # type: ignore[attr-defined]
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
    click.echo(
        f"Rendering {len(codes)} report{'s' if len(codes) != 1 else ''} of {term_code} into "
        f"{target} with {workers} process{'es' if workers != 1 else ''} ..."
    )
    started = time.perf_counter()
    width = max(len(c) for c in codes)

    def progress(outcome: render.Outcome, done: int, total: int) -> None:
        head = f"[{done:>{len(str(total))}}/{total}] {outcome.unit:<{width}} {outcome.locale}"
        if outcome.status == "rendered":
            click.echo(f"{head}  rendered   {outcome.pages:>3} pages  {outcome.seconds:5.1f} s")
        elif outcome.status == "unchanged":
            click.echo(f"{head}  unchanged  (inputs as at the last rendering)")
        else:
            click.echo(f"{head}  FAILED     {outcome.error}", err=True)

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
    )
    counts = {
        s: sum(1 for o in outcomes if o.status == s) for s in ("rendered", "unchanged", "failed")
    }
    click.echo(
        f"Done in {time.perf_counter() - started:.1f} s: {counts['rendered']} rendered, "
        f"{counts['unchanged']} unchanged, {counts['failed']} failed."
    )
    if counts["failed"]:
        sys.exit(1)


COMMANDS = [report_cmd]
