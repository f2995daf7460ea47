"""``evalsys bulletin``: render a week's bulletin by hand (the scheduler does it on Mondays)."""

from __future__ import annotations

import click
from flask import current_app
from flask.cli import with_appcontext

from evalsys.bulletins.data import BulletinError, bulletin_units
from evalsys.bulletins.render import render_bulletin, unit_by_code
from evalsys.bulletins.weeks import IsoWeek, parse_week
from evalsys.db import session_scope
from evalsys.i18n import LOCALES, default_locale


def _week(_ctx: click.Context, _param: click.Parameter, value: str) -> IsoWeek:
    try:
        return parse_week(value)
    except ValueError as err:
        raise click.BadParameter(str(err)) from err


@click.command("bulletin")
@click.option(
    "--week", required=True, callback=_week, metavar="YYYY-Www", help="The ISO week (2026-W45)."
)
@click.option(
    "--unit",
    "unit_code",
    metavar="CODE",
    help="The school or a college; default: the school and every college.",
)
@click.option(
    "--lang",
    "lang",
    type=click.Choice(list(LOCALES)),
    default=None,
    help="The bulletin's language; default: the site's (DEFAULT_LOCALE).",
)
@with_appcontext
def bulletin_cmd(week: IsoWeek, unit_code: str | None, lang: str | None) -> None:
    """Render the weekly supervision bulletin of the school or a college into the report
    storage (bulletins/WEEK/UNIT.LANG.pdf), listed at /reports/bulletins/."""
    # Ignored below: werkzeug's proxy method, untyped.
    app = current_app._get_current_object()  # type: ignore[attr-defined]
    locale = lang or default_locale()
    with session_scope() as session:
        try:
            codes = (
                [unit_by_code(session, unit_code).code]
                if unit_code
                else [u.code for u in bulletin_units(session)]
            )
        except BulletinError as err:
            raise click.ClickException(str(err)) from err
        if not codes:
            raise click.ClickException("there is no school or college yet; import the units first")
        for code in codes:
            row = render_bulletin(session, app, unit_code=code, week=week, locale=locale)
            click.echo(
                f"{week.label} {code} ({locale}): {row.pages} page{'s' if row.pages != 1 else ''}"
                f"{', nothing to report' if row.empty else ''} -> {row.path}"
            )


COMMANDS = [bulletin_cmd]
