"""``evalsys loop-propose``: propose a term's problems for a unit and everything below it.

The same proposals a head or dean gets from the "Propose" button, for the whole
tree at once (for example after a term's final aggregation); idempotent, so it is
safe to run again after a re-aggregation.
"""

from __future__ import annotations

import click
from flask.cli import with_appcontext
from sqlmodel import col, select

from evalsys.db import session_scope
from evalsys.loop.proposals import propose_tree
from evalsys.org.models import OrgUnit, Term


@click.command("loop-propose")
@click.option("--term", "term_code", required=True, metavar="CODE", help="The term.")
@click.option(
    "--unit", "unit_code", metavar="CODE", help="This unit and those below it (default: school)."
)
@with_appcontext
def propose_cmd(term_code: str, unit_code: str | None) -> None:
    """Propose problems from the term's flags and observers' written problems."""
    with session_scope() as session:
        term = session.exec(select(Term).where(Term.code == term_code)).first()
        if term is None:
            raise click.ClickException(f"no term '{term_code}'")
        if unit_code:
            root = session.exec(select(OrgUnit).where(OrgUnit.code == unit_code)).first()
        else:
            root = session.exec(select(OrgUnit).where(col(OrgUnit.parent_id).is_(None))).first()
        if root is None:
            raise click.ClickException(f"no unit '{unit_code or 'school'}'")
        result = propose_tree(session, term=term, root=root)
    click.echo(
        f"{term.code} {root.code}: {result.created} problems proposed, "
        f"{result.evidence_added} evidence added to existing ones, {result.unchanged} unchanged"
    )


COMMANDS = [propose_cmd]
