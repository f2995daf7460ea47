"""The ``evalsys`` command: database, accounts, import, demo, and Flask's ``run`` and ``shell``."""

from __future__ import annotations

import os
import secrets
import sys
import time
from collections.abc import Callable
from pathlib import Path

import click
from flask import Flask, current_app
from flask.cli import FlaskGroup, ScriptInfo, routes_command, run_command, shell_command

from evalsys import create_app, refuse_default_secret
from evalsys.db import get_engine, session_scope
from evalsys.validation import printable, text_problem


def _cli_app() -> Flask:
    return create_app(serving=False)


class _Evalsys(FlaskGroup):
    """The command group, refusing arguments no database can store before any command runs.

    A code typed with a control character (``--term $'A\\x00'``) would otherwise reach
    PostgreSQL, which refuses NUL in text with a traceback; the same rule as the web's
    (:mod:`evalsys.validation`) answers with a usage error naming the argument.
    """

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        for position, arg in enumerate(args, start=1):
            if (problem := text_problem(arg)) is not None:
                # No app context yet, so the message is the (English) msgid, as the CLI speaks.
                raise click.UsageError(
                    f"argument {position} ('{printable(arg)[:40]}') {problem}", ctx
                )
        return super().parse_args(ctx, args)

    def invoke(self, ctx: click.Context):
        from sqlalchemy.exc import OperationalError, ProgrammingError

        try:
            return super().invoke(ctx)
        except (OperationalError, ProgrammingError) as err:
            from evalsys import migrate

            app = ctx.ensure_object(ScriptInfo).load_app()
            if (problem := migrate.schema_problem(get_engine(app))) is None:
                raise
            raise click.ClickException(problem) from err


@click.group(cls=_Evalsys, create_app=_cli_app, add_default_commands=False)
def main() -> None:
    """evalsys: teaching-quality evaluation feedback."""


class _CheckedRun(click.Command):
    """Flask's ``run``, refusing the default secret key like ``flask --app evalsys run`` does."""

    def invoke(self, ctx: click.Context):
        refuse_default_secret(ctx.ensure_object(ScriptInfo).load_app())
        return super().invoke(ctx)


main.add_command(
    _CheckedRun(
        "run", params=run_command.params, callback=run_command.callback, help=run_command.help
    )
)
main.add_command(shell_command)
main.add_command(routes_command)


def _add_area_commands() -> None:
    """Each area keeps its commands beside its code; they are gathered here."""
    from evalsys.accounts import cli as accounts_cli
    from evalsys.accounts import cli_sso
    from evalsys.aggregation import cli as aggregation_cli
    from evalsys.api.cli import create_token_cmd, token_cli
    from evalsys.feedback.cli import export_feedback_cmd, rubric_cli

    main.add_command(rubric_cli)
    main.add_command(token_cli)
    main.add_command(create_token_cmd)
    for command in getattr(aggregation_cli, "COMMANDS", []):
        main.add_command(command)
    aggregation_cli.export_cli.add_command(export_feedback_cmd)
    from evalsys.reports import cli as reports_cli

    for command in reports_cli.COMMANDS:
        main.add_command(command)
    from evalsys.bulletins import cli as bulletins_cli

    main.add_command(bulletins_cli.bulletin_cmd)
    from evalsys.i18n import cli as i18n_cli
    from evalsys.loop import cli as loop_cli
    from evalsys.ops import cli as ops_cli
    from evalsys.planner import cli as planner_cli

    for command in (
        *accounts_cli.COMMANDS,
        *cli_sso.COMMANDS,
        *i18n_cli.COMMANDS,
        *loop_cli.COMMANDS,
        *planner_cli.COMMANDS,
        *ops_cli.COMMANDS,
    ):
        main.add_command(command)


_add_area_commands()


def _instance_path() -> Path:
    # Computed without create_app, which would refuse to start with no secret key yet;
    # honours EVALSYS_INSTANCE_PATH as create_app does, so the config lands where it is read.
    if os.environ.get("EVALSYS_INSTANCE_PATH"):
        return Path(os.environ["EVALSYS_INSTANCE_PATH"])
    return Path(Flask("evalsys", instance_relative_config=True).instance_path)


@main.command("make-config", with_appcontext=False)
@click.option("--force", is_flag=True, help="Overwrite an existing instance/config.py.")
def make_config(force: bool) -> None:
    """Write instance/config.py with a random SECRET_KEY (once)."""
    path = _instance_path() / "config.py"
    if path.exists() and not force:
        click.echo(f"{path} exists; left as it is.")
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    example = Path(__file__).resolve().parent.parent / "instance" / "config.example.py"
    body = example.read_text(encoding="utf-8") if example.exists() else ""
    key = secrets.token_urlsafe(48)
    path.write_text(f"SECRET_KEY = {key!r}\n\n{body}", encoding="utf-8")
    path.chmod(0o600)
    click.echo(f"Wrote {path} with a new random SECRET_KEY.")


@main.command("init-db")
def init_db() -> None:
    """Create the database or bring it to the newest schema (safe to run again)."""
    from evalsys import migrate
    from evalsys.feedback.rubrics import ensure_default_rubrics

    engine = get_engine()
    before = migrate.current_revision(engine)
    migrate.upgrade(engine)
    after = migrate.current_revision(engine)
    with session_scope() as session:
        ensure_default_rubrics(session)
    url = engine.url.render_as_string(hide_password=True)
    if before == after:
        click.echo(f"Database {url} is at the newest schema ({after}).")
    else:
        click.echo(f"Database {url} upgraded from {before or 'empty'} to {after}.")


@main.command("db-revision")
@click.argument("message")
def db_revision(message: str) -> None:
    """Autogenerate a migration from the models (for developers)."""
    from evalsys import migrate

    migrate.revision(get_engine(), message)


@main.command("create-user")
@click.argument("username")
@click.option("--name", required=True, help="Full name, e.g. 张伟 or Zhang Wei.")
@click.option("--email", default=None)
@click.option(
    "--role",
    "roles",
    multiple=True,
    metavar="ROLE@UNITCODE",
    help="A role on a unit, e.g. dean@CS; repeat for more.",
)
def create_user_cmd(username: str, name: str, email: str | None, roles: tuple[str, ...]) -> None:
    """Create a user. Set the password afterwards with `evalsys set-password`."""
    from evalsys.accounts import service

    try:
        specs = [service.parse_role_spec(r) for r in roles]
        with session_scope() as session:
            service.create_user(session, username=username, name=name, email=email, roles=specs)
    except service.AccountError as err:
        raise click.ClickException(str(err)) from err
    click.echo(f"Created user {username} with roles: {', '.join(roles) or 'none'}.")


@main.command("set-password")
@click.argument("username")
def set_password_cmd(username: str) -> None:
    """Set a password, read from standard input (never from an argument or the history).

    The password policy applies: at least 10 characters, not one of the 10,000 most
    common passwords, not containing the username, name or email address.
    """
    from evalsys.accounts import service

    if sys.stdin.isatty():
        password = click.prompt("New password", hide_input=True, confirmation_prompt=True)
    else:
        password = sys.stdin.readline().rstrip("\r\n")
    from evalsys.i18n import in_locale

    try:
        # The CLI speaks English: the policy's refusal too.
        with in_locale("en"), session_scope() as session:
            user = service.get_user(session, username)
            if user is None:
                raise service.AccountError(f"no user '{username}'")
            service.audit(session, "user.set_password", user_id=None, target=username)
            ended = service.set_password(session, user, password)
    except service.AccountError as err:
        raise click.ClickException(str(err)) from err
    click.echo(f"Password set for {username}; {_sessions_ended(ended)}.")


def _sessions_ended(count: int) -> str:
    return f"{count} session{'' if count == 1 else 's'} ended"


@main.command("deactivate-user")
@click.argument("username")
def deactivate_user_cmd(username: str) -> None:
    """Switch an account off: it cannot log in, and its sessions end at once."""
    _set_active(username, False)


@main.command("activate-user")
@click.argument("username")
def activate_user_cmd(username: str) -> None:
    """Switch an account on again (its old sessions stay ended)."""
    _set_active(username, True)


def _set_active(username: str, active: bool) -> None:
    from evalsys.accounts import service

    try:
        with session_scope() as session:
            user = service.get_user(session, username)
            if user is None:
                raise service.AccountError(f"no user '{username}'")
            ended = service.set_active(session, user, active)
    except service.AccountError as err:
        raise click.ClickException(str(err)) from err
    if active:
        click.echo(f"User {username} activated.")
    else:
        click.echo(f"User {username} deactivated; {_sessions_ended(ended)}.")


@main.command("import")
@click.argument("directory", type=click.Path(exists=True, file_okay=False, path_type=Path))
@click.option("--dry-run", is_flag=True, help="Check everything and report, write nothing.")
def import_cmd(directory: Path, dry_run: bool) -> None:
    """Import units, people, terms, courses, sections and tutor groups from CSV files."""
    from evalsys.i18n import in_locale
    from evalsys.importer.service import import_directory

    started = time.perf_counter()
    verbs = {"read": "read", "check": "checked", "write": "wrote"}

    def progress(stage: str, file: str, done: int, total: int) -> None:
        """Long files report on standard error; the summary alone goes to standard output."""
        seconds = time.perf_counter() - started
        click.echo(
            f"  {file}: {verbs.get(stage, stage)} {done:,}/{total:,} rows ({seconds:.1f} s)",
            err=True,
        )

    with in_locale("en"), session_scope() as session:  # the CLI speaks English
        result = import_directory(session, directory, dry_run=dry_run, progress=progress)
        if result.errors or dry_run:
            session.rollback()
        lines = result.report_lines()
    for line in lines:
        click.echo(line, err=bool(result.errors))
    if result.errors:
        sys.exit(1)


@main.command("scheduler")
@click.option("--wait", is_flag=True, help="If another scheduler runs, wait to take over.")
@click.option(
    "--stop-after", type=float, default=None, metavar="SECONDS", help="Stop by itself (tests)."
)
def scheduler_cmd(wait: bool, stop_after: float | None) -> None:
    """Run the job scheduler in this process (run exactly one per database)."""
    from evalsys.scheduler import runner

    # Ignored below: werkzeug's proxy method, untyped.
    app = current_app._get_current_object()  # type: ignore[attr-defined]
    sys.exit(runner.run(app, wait=wait, echo=click.echo, stop_after=stop_after))


@main.command("run-job")
@click.argument("job_id")
def run_job_cmd(job_id: str) -> None:
    """Run one scheduled job now, recorded like a scheduled run."""
    from evalsys.scheduler import jobs, lease

    # Ignored below: werkzeug's proxy method, untyped.
    app = current_app._get_current_object()  # type: ignore[attr-defined]
    jobs.load_job_modules(app)
    try:
        run = jobs.run_job(app, job_id, owner=lease.new_owner(), trigger="manual")
    except KeyError as err:
        raise click.ClickException(err.args[0]) from err
    click.echo(f"{job_id}: {run.status}" + (f" - {run.detail}" if run.detail else ""))
    if run.status != "succeeded":
        sys.exit(1)


@main.command("demo")
@click.option(
    "--render",
    is_flag=True,
    help="Then render the ended terms' reports in the background, as the scheduler would have.",
)
def demo_cmd(render: bool) -> None:
    """Fill the database with a demo university and print the demo logins (idempotent)."""
    from evalsys import migrate
    from evalsys.demo import load_demo
    from evalsys.feedback.rubrics import ensure_default_rubrics

    migrate.upgrade(get_engine())
    with session_scope() as session:
        ensure_default_rubrics(session)
    with session_scope() as session:
        logins = load_demo(session, echo=click.echo)
    from evalsys.demo import TERMS
    from evalsys.demo_feedback import load_demo_feedback

    with session_scope() as session:
        load_demo_feedback(session, terms=[code for code, *_ in TERMS], echo=click.echo)
    from evalsys.programmes.demo import load_demo_plan_change

    with session_scope() as session:
        load_demo_plan_change(session, before=TERMS[0][0], after=TERMS[1][0], echo=click.echo)
    click.echo("")
    click.echo("Demo logins:")
    for line in logins:
        click.echo(f"  {line}")
    url = current_app.config["DATABASE_URL"]
    click.echo(f"Database: {url}. Serve it with `evalsys run`, then log in at /login.")
    if render:
        _render_demo_reports(click.echo)


def _render_demo_reports(echo: Callable[[str], None]) -> None:
    """The ended terms' reports, in a process of their own: on a real site the scheduler
    renders them the night after a term ends; the demo's terms ended before it existed."""
    from evalsys.clock import local_today
    from evalsys.demo import TERMS
    from evalsys.scheduler.spawn import spawn_cli

    today = local_today(current_app.config)
    ended = [code for code, _name, _start, end, _en in TERMS if end < today]
    for code in ended:
        spawn_cli(["report", "--term", code], f"demo-report-{code}")
    if ended:
        echo(
            f"Rendering the reports of {', '.join(ended)} in the background: "
            "they appear on the unit pages and at /reports/ within a minute or two."
        )


if __name__ == "__main__":  # `python -m evalsys.cli`, used to start jobs from the admin page
    main()
