"""``evalsys plan draw`` and ``evalsys plan show``: the weekly draw by hand, and its result."""

from __future__ import annotations

import click
from flask import current_app
from flask.cli import AppGroup
from sqlmodel import col, select

from evalsys.accounts.models import User
from evalsys.clock import local_today
from evalsys.db import session_scope
from evalsys.org.models import Section
from evalsys.planner import weeks
from evalsys.planner.draw import MAX_SEED, DrawError, draw_week
from evalsys.planner.models import Assignment, Draw, DrawTrigger
from evalsys.planner.service import term_by_code

plan_cli = AppGroup("plan", help="The random spot-check planner.")


@plan_cli.command("draw")
@click.option("--term", "term_code", required=True, metavar="CODE", help="The term to draw.")
@click.option("--week", type=click.IntRange(min=1), help="Week of the term (default: next week).")
@click.option(
    "--seed",
    type=click.IntRange(0, MAX_SEED),
    help="Seed of the draw (default: a fresh random one, printed and recorded).",
)
@click.option("--replace", is_flag=True, help="Draw a drawn week again (refused once visited).")
def draw_cmd(term_code: str, week: int | None, seed: int | None, replace: bool) -> None:
    """Draw one week's assignments for every supervisor, and record the seed."""
    with session_scope() as session:
        term = term_by_code(session, term_code)
        if term is None:
            raise click.ClickException(f"no term {term_code!r}")
        if week is None:
            week = weeks.next_week_to_draw(term, local_today(current_app.config))
        try:
            draw = draw_week(
                session, term=term, week=week, seed=seed, trigger=DrawTrigger.CLI, replace=replace
            )
        except DrawError as err:
            raise click.ClickException(str(err)) from err
        p = draw.parameters
        click.echo(
            f"Drew week {draw.week} of {term.code} ({draw.week_start}) with seed {draw.seed}: "
            f"{p['assignments']} assignments for {p['supervisors']} supervisors; "
            f"{p['teachers_below_target']} teachers below the coverage target."
        )
        for username, why in sorted(p["shortfalls"].items()):
            click.echo(f"  {username}: {why}")
        if p["unschedulable_sections"]:
            click.echo(
                f"  {p['unschedulable_sections']} sections have no timetable and were not drawn "
                f"(e.g. {', '.join(p['unschedulable_examples'][:5])})"
            )


@plan_cli.command("show")
@click.option("--term", "term_code", required=True, metavar="CODE")
@click.option("--week", type=click.IntRange(min=1), required=True)
def show_cmd(term_code: str, week: int) -> None:
    """List a drawn week: supervisor, date, periods, section, announced, status."""
    with session_scope() as session:
        term = term_by_code(session, term_code)
        if term is None:
            raise click.ClickException(f"no term {term_code!r}")
        draw = session.exec(select(Draw).where(Draw.term_id == term.id, Draw.week == week)).first()
        if draw is None:
            raise click.ClickException(f"week {week} of {term_code} is not drawn")
        click.echo(
            f"Week {week} of {term.code}, seed {draw.seed}, drawn {draw.created_at:%Y-%m-%d}"
        )
        rows = session.exec(
            select(User.username, Assignment, Section.code)
            .join(User, col(User.id) == Assignment.supervisor_id)
            .join(Section, col(Section.id) == Assignment.section_id)
            .where(Assignment.draw_id == draw.id)
            .order_by(User.username, col(Assignment.visit_date), col(Assignment.first_period))
        ).all()
        for username, a, code in rows:
            periods = f"{a.first_period}-{a.last_period}"
            announced = "announced" if a.announced else "unannounced"
            click.echo(
                f"{username:<16} {a.visit_date} {periods:>5}  {code:<24} {announced:<11} {a.status}"
            )


COMMANDS = [plan_cli]
