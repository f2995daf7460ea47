"""``evalsys rubric ...``: load, publish, list and show rubric versions.

Register with ``main.add_command(rubric_cli)`` in :mod:`evalsys.cli`.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import click
from flask.cli import AppGroup, with_appcontext
from sqlmodel import select

from evalsys.accounts.service import audit
from evalsys.db import session_scope
from evalsys.feedback import rubrics
from evalsys.feedback.export import export_feedback
from evalsys.feedback.reads import FeedbackFilters
from evalsys.feedback.vocab import DIMENSIONS, FeedbackKind, RubricStatus, values
from evalsys.org.models import OrgUnit, Term
from evalsys.tabular import FORMATS, write_csv, write_file

rubric_cli = AppGroup("rubric", help="Rubrics: the versioned form templates of each kind.")

_KIND = click.Choice(values(FeedbackKind))


@rubric_cli.command("load")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--draft", is_flag=True, help="Store as a draft; publish later with `publish`.")
def load_cmd(file: Path, draft: bool) -> None:
    """Load a rubric file (TOML or JSON) as the next version of its kind, and publish it."""
    try:
        with session_scope() as session:
            rubric = rubrics.load_rubric_file(session, file, publish=not draft)
            # Ignored below: a stored row's id, never None.
            count = len(rubrics.rubric_items(session, rubric.id))  # type: ignore[arg-type]
    except rubrics.RubricError as err:
        raise click.ClickException(str(err)) from err
    state = "stored as a draft" if draft else f"published: now the current {rubric.kind} rubric"
    click.echo(f"Loaded {rubric.kind} v{rubric.version} ({count} items), {state}.")


@rubric_cli.command("publish")
@click.argument("kind", type=_KIND)
@click.option("--version", "version", type=int, required=True, help="The draft version.")
def publish_cmd(kind: str, version: int) -> None:
    """Publish a draft version; the version it replaces is retired."""
    try:
        with session_scope() as session:
            rubric = rubrics.get_rubric(session, kind, version)
            if rubric is None:
                raise rubrics.RubricError(f"there is no {kind} rubric v{version}")
            rubrics.publish_rubric(session, rubric)
    except rubrics.RubricError as err:
        raise click.ClickException(str(err)) from err
    click.echo(f"Published {kind} v{version}: now the current {kind} rubric.")


@rubric_cli.command("defaults")
def defaults_cmd() -> None:
    """Publish the shipped default rubric of each kind that has none yet (safe to rerun)."""
    with session_scope() as session:
        created = rubrics.ensure_default_rubrics(session)
        names = [f"{r.kind} v{r.version}" for r in created]
    click.echo(f"Published {', '.join(names)}." if names else "Every kind has a rubric already.")


@rubric_cli.command("list")
@click.option("--kind", type=_KIND, default=None, help="Only this kind.")
def list_cmd(kind: str | None) -> None:
    """Every rubric version: kind, version, status, items, and which one is current."""
    with session_scope() as session:
        rows = rubrics.list_rubrics(session, kind)
        current = {
            k: r.id for k in values(FeedbackKind) if (r := rubrics.current_rubric(session, k))
        }
    if not rows:
        click.echo("No rubrics yet. `evalsys rubric defaults` publishes the shipped ones.")
        return
    click.echo(f"{'kind':<12} {'version':>7}  {'status':<9} {'items':>5}  current  title")
    for rubric, count in rows:
        mark = "*" if current.get(rubric.kind) == rubric.id else ""
        click.echo(
            f"{rubric.kind:<12} {rubric.version:>7}  {rubric.status:<9} {count:>5}  "
            f"{mark:<7}  {rubric.title}"
        )


@rubric_cli.command("show")
@click.argument("kind", type=_KIND)
@click.option("--version", "version", type=int, default=None, help="Default: the current one.")
@click.option("--json", "as_json", is_flag=True, help="Print it in the rubric file format.")
def show_cmd(kind: str, version: int | None, as_json: bool) -> None:
    """Show one rubric version and its items."""
    with session_scope() as session:
        rubric = rubrics.get_rubric(session, kind, version)
        if rubric is None:
            which = f"v{version}" if version is not None else "rubric"
            raise click.ClickException(f"there is no {kind} {which}")
        if as_json:
            data = rubrics.rubric_as_dict(session, rubric)
            click.echo(json.dumps(data, ensure_ascii=False, indent=2))
            return
        # Ignored below: a stored row's id, never None.
        items = rubrics.rubric_items(session, rubric.id)  # type: ignore[arg-type]
        current = rubrics.current_rubric(session, kind)
    is_current = current is not None and current.id == rubric.id
    published = f", published {rubric.published_at:%Y-%m-%d}" if rubric.published_at else ""
    click.echo(
        f"{rubric.kind} v{rubric.version} ({rubric.status}{published}"
        f"{', current' if is_current else ''})"
    )
    click.echo(f"{rubric.title}" + (f" / {rubric.title_en}" if rubric.title_en else ""))
    dims = DIMENSIONS[kind]
    click.echo(f"{'#':>2}  {'code':<26} {'dimension':<13} {'scale':<6} {'weight':>6}  req  label")
    for item in items:
        scale = f"{item.scale_min}-{item.scale_max}"
        label = item.label + (f" / {item.label_en}" if item.label_en else "")
        dim = item.dimension if item.dimension in dims else f"{item.dimension}?"
        click.echo(
            f"{item.position:>2}  {item.code:<26} {dim:<13} {scale:<6} {item.weight:>6g}  "
            f"{'yes' if item.required else 'no':<3}  {label}"
        )
    click.echo(f"    total weight {sum(i.weight for i in items):g}")
    if rubric.status == RubricStatus.DRAFT:
        command = f"evalsys rubric publish {kind} --version {rubric.version}"
        click.echo(f"Draft: publish it with `{command}`.")


@click.command("feedback")
@with_appcontext
@click.option("--term", "term_code", metavar="CODE", help="Only this term.")
@click.option("--unit", "unit_code", metavar="CODE", help="That unit and everything below it.")
@click.option("--kind", type=_KIND, default=None, help="Only this kind.")
@click.option("--format", "fmt", type=click.Choice(FORMATS), default="csv")
@click.option(
    "--output",
    type=click.Path(dir_okay=False, writable=True, path_type=Path),
    help="Write to this file, whole or not at all (without it, CSV goes to standard output).",
)
def export_feedback_cmd(
    term_code: str | None, unit_code: str | None, kind: str | None, fmt: str, output: Path | None
) -> None:
    """Submitted feedback records, one row each with a column per rubric item.

    The first columns are those `evalsys import` reads from feedback.csv.
    """
    if fmt == "xlsx" and output is None:
        raise click.UsageError("an Excel workbook needs --output FILE.xlsx")
    with session_scope() as session:
        if (
            term_code
            and session.exec(select(Term.id).where(Term.code == term_code)).first() is None
        ):
            raise click.ClickException(f"no term '{term_code}'")
        if (
            unit_code
            and session.exec(select(OrgUnit.id).where(OrgUnit.code == unit_code)).first() is None
        ):
            raise click.ClickException(f"no unit '{unit_code}'")
        filters = FeedbackFilters(term=term_code, unit=unit_code, kind=kind)
        table = export_feedback(session, user=None, filters=filters)
        if output is None:
            count = write_csv(table.columns, table.rows, sys.stdout)
        else:
            count = write_file(output, fmt, table.columns, table.rows, title="feedback")
        where = f"{term_code or 'all terms'}" + (f" {unit_code}" if unit_code else "")
        audit(
            session,
            "feedback.export",
            user_id=None,
            target=where,
            detail=f"{fmt}, {count} records, to {output or 'standard output'}",
        )
    if output is not None:
        click.echo(f"Wrote {count} records to {output}.", err=True)
