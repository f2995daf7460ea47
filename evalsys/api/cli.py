"""``evalsys token create|list|revoke`` (and ``evalsys create-token``): API tokens."""

from __future__ import annotations

from datetime import datetime

import click
from flask.cli import AppGroup, with_appcontext

from evalsys.api import tokens
from evalsys.clock import utcnow
from evalsys.db import session_scope

token_cli = AppGroup("token", help="Manage API tokens (Authorization: Bearer TOKEN).")


def _create(username: str, name: str) -> None:
    from evalsys.accounts.service import get_user

    try:
        with session_scope() as session:
            user = get_user(session, username)
            if user is None:
                raise tokens.TokenError(f"no user '{username}'")
            token, raw = tokens.create_token(session, user=user, name=name)
    except tokens.TokenError as err:
        raise click.ClickException(str(err)) from err
    click.echo(raw)
    click.echo(
        f"Token {token.id} ({token.prefix}…) for {username} created. It is shown only now: "
        "store it safely. Send it as 'Authorization: Bearer TOKEN'.",
        err=True,
    )


_NAME = click.option("--name", default="", help="A label: what or who the token is for.")


@token_cli.command("create")
@click.argument("username")
@_NAME
def create_cmd(username: str, name: str) -> None:
    """Create a token for USERNAME and print it (once; only its hash is kept)."""
    _create(username, name)


@click.command("create-token")
@with_appcontext
@click.argument("username")
@_NAME
def create_token_cmd(username: str, name: str) -> None:
    """Create an API token for USERNAME (the same as `evalsys token create`)."""
    _create(username, name)


@token_cli.command("list")
@click.argument("username", required=False)
def list_cmd(username: str | None) -> None:
    """List tokens (of USERNAME, or everyone's): prefix, owner, name, created, last used."""
    with session_scope() as session:
        rows = tokens.list_tokens(session, username)
    if not rows:
        click.echo("No tokens." if username is None else f"No tokens for {username}.")
        return
    click.echo("id\tprefix\tuser\tname\tcreated\tlast used\trevoked")
    for token, owner in rows:
        cells = [
            str(token.id),
            token.prefix,
            owner,
            token.name or "-",
            _when(token.created_at),
            _when(token.last_used_at) or "never",
            _when(token.revoked_at) or "-",
        ]
        click.echo("\t".join(cells))


@token_cli.command("revoke")
@click.argument("ref", metavar="PREFIX_OR_ID")
def revoke_cmd(ref: str) -> None:
    """Revoke a token, named by its id or prefix as `token list` shows them."""
    now = utcnow()
    try:
        with session_scope() as session:
            token = tokens.revoke_token(session, ref, now=now)
    except tokens.TokenError as err:
        raise click.ClickException(str(err)) from err
    if token.revoked_at == now:
        click.echo(f"Token {token.id} ({token.prefix}…) revoked.")
    else:
        click.echo(
            f"Token {token.id} ({token.prefix}…) was already revoked at {_when(token.revoked_at)}."
        )


def _when(value: datetime | None) -> str:
    return value.strftime("%Y-%m-%d %H:%M UTC") if value is not None else ""
