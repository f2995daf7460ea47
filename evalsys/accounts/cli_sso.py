"""``evalsys sso-check``: is single sign-on set up right, before anyone tries it?"""

from __future__ import annotations

import sys

import click
from flask import current_app, url_for
from flask.cli import with_appcontext


@click.command("sso-check")
@with_appcontext
def sso_check_cmd() -> None:
    """Read the OpenID Connect provider's discovery document and keys, and say what to
    register with it (the redirect and post-logout addresses) and what would go wrong."""
    from evalsys.accounts import mails, oidc, signin

    app = current_app._get_current_object()  # type: ignore[attr-defined]  # werkzeug proxy
    config = app.config
    check = oidc.check_provider(config)
    base = mails.base_url(config)
    if not base:
        check.warnings.append(
            "BASE_URL is not set: the redirect address is taken from each request's host; "
            "set it to the address registered with the provider"
        )
    elif base.startswith("http://"):
        check.warnings.append("BASE_URL is plain http: a provider should send codes over https")
    with app.test_request_context(base_url=base or "https://evalsys.example.edu"):
        callback = url_for("accounts.sso_callback", _external=True)
        back = url_for("accounts.login", _external=True)
    click.echo(f"Issuer:                 {oidc.issuer(config) or '(not set)'}")
    click.echo(f"Client id:              {config.get('OIDC_CLIENT_ID') or '(not set)'}")
    click.echo(f"Register redirect URI:  {callback}")
    click.echo(f"Register logout URI:    {back}")
    click.echo(
        f"User claim:             {config['OIDC_USER_CLAIM']} "
        f"(matched to each user's {signin.match_setting(config, 'OIDC_MATCH').value})"
    )
    click.echo(f"Password login:         {signin.password_login(config).value}")
    for name, value in check.facts:
        click.echo(f"  {name}: {value}")
    for warning in check.warnings:
        click.echo(f"Warning: {warning}")
    for problem in check.problems:
        click.echo(f"Problem: {problem}", err=True)
    if check.problems:
        sys.exit(1)
    click.echo("Single sign-on is ready: try it from the login page.")


COMMANDS = [sso_check_cmd]
