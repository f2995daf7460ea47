"""``evalsys invite``: email each selected user without a password a set-password link."""

from __future__ import annotations

import sys

import click
from flask import current_app
from flask.cli import with_appcontext

from evalsys.accounts.models import ROLE_VALUES, AccountMail, MailStatus


def _plural(count: int, noun: str) -> str:
    return f"{count} {noun}{'' if count == 1 else 's'}"


@click.command("invite")
@click.option("--unit", metavar="CODE", help="Only users with a role on this unit or below it.")
@click.option(
    "--role",
    type=click.Choice(ROLE_VALUES, case_sensitive=False),
    help="Only users with this role (on --unit or below, if given).",
)
@click.option("--dry-run", is_flag=True, help="Say who would be invited; send nothing.")
@with_appcontext
def invite_cmd(unit: str | None, role: str | None, dry_run: bool) -> None:
    """Email a set-password link to each selected user who has no password yet.

    Users with a password, without an email address, switched off, or who may not use a
    password (PASSWORD_LOGIN "admins" or "off") are counted and left alone. Safe to run
    again: a second email goes to whoever still has no password, and their first link
    keeps working until one is used or expires (INVITATION_MAX_AGE_DAYS). An email that
    fails is retried by the account-mail job.
    """
    from evalsys import refuse_default_secret
    from evalsys.accounts import invitations, mails
    from evalsys.accounts.service import AccountError
    from evalsys.db import session_scope

    app = current_app._get_current_object()  # type: ignore[attr-defined]  # werkzeug proxy
    if not dry_run:
        refuse_default_secret(app)  # links signed with the public key could be forged
        missing = mails.missing_settings(app.config)
        if missing:
            raise click.ClickException(
                f"{' and '.join(missing)} not set: no invitation can be sent (see docs/accounts.md)"
            )
    try:
        with session_scope() as session:
            selection = invitations.select_users(
                session, unit_code=unit, role=role, config=app.config
            )
            ids = [] if dry_run else invitations.queue_invitations(session, selection.invite)
            invited = [(u.username, u.email) for u in selection.invite]
    except AccountError as err:
        raise click.ClickException(str(err)) from err
    skipped = (
        f"skipped: {len(selection.has_password)} with a password already, "
        f"{len(selection.no_email)} without an email address, "
        f"{len(selection.inactive)} switched off"
    )
    if selection.password_not_allowed:
        # Only where PASSWORD_LOGIN is "admins" or "off" (people sign in another way).
        skipped += (
            f", {len(selection.password_not_allowed)} who may not use a password (PASSWORD_LOGIN)"
        )
    if dry_run:
        for username, email in invited:
            click.echo(f"  would invite {username} <{email}>")
        click.echo(
            f"Dry run: {_plural(len(invited), 'invitation')} would be sent; {skipped}. "
            "Nothing sent."
        )
        return

    def progress(row: AccountMail) -> None:
        if row.status != MailStatus.SENT.value:
            click.echo(f"  {row.email}: {row.status} ({row.last_error})", err=True)

    with session_scope() as session:
        counts = mails.send_pending(session, app.config, ids=ids, progress=progress)
    click.echo(
        f"Invitations: {counts['sent']} sent, {counts['failed']} failed"
        + (" (the account-mail job retries them)" if counts["failed"] else "")
        + (f", {counts['dropped']} dropped" if counts["dropped"] else "")
        + f"; {skipped}."
    )
    if counts["failed"]:
        sys.exit(1)


COMMANDS = [invite_cmd]
