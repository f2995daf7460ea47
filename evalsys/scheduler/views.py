"""The admins' schedule page: jobs, next run times, last runs, and "run now"."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

from flask import Blueprint, abort, current_app, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user
from markupsafe import Markup, escape
from sqlalchemy import func
from sqlalchemy import select as sa_select
from sqlmodel import Session, col, select
from wtforms import SelectField
from wtforms.fields.choices import SelectChoice

from evalsys.accounts.access import login_required, require_school_admin
from evalsys.accounts.service import audit
from evalsys.aggregation.models import AggregationRun, RunStatus
from evalsys.aggregation.service import recent_runs
from evalsys.clock import as_utc, utcnow
from evalsys.db import get_session
from evalsys.i18n import localized
from evalsys.org.models import Term
from evalsys.reports import publishing
from evalsys.scheduler import jobs, lease
from evalsys.scheduler.models import JobRun, apscheduler_jobs
from evalsys.scheduler.spawn import spawn_cli
from evalsys.scheduler.wording import run_detail, schedule_text
from evalsys.validation import SafeForm

bp = Blueprint("schedule", __name__, url_prefix="/admin/schedule")

#: The registered jobs' titles for people (a job the list does not know shows its own title).
JOB_TITLES = {
    "aggregate-open-terms": _l("Aggregate the open terms again (nightly)"),
    "aggregate-fresh": _l("Aggregate the open terms whose feedback changed"),
    "aggregate-ended-terms": _l("Final aggregation of the terms that have ended"),
    "loop-reminders": _l("Remind action owners of what is due (daily)"),
    "loop-mail": _l("Email action owners their assignments (and retry failed sends)"),
    "plan-spot-checks": _l("Draw next week's spot-check assignments"),
    "deliver-reports": _l("Email the term reports (and retry failed sends)"),
    "weekly-bulletins": _l("Render and email the weekly supervision bulletins"),
    "deliver-bulletins": _l("Retry the weekly bulletins' failed emails"),
    "purge-sessions": _l("Delete old ended login sessions (daily)"),
    "account-mail": _l("Email invitations and password-reset links (and retry failed sends)"),
}
#: The states of job runs and aggregation runs (the codes stay in the class names).
RUN_STATUS_NAMES = {
    "running": _l("running"),
    "succeeded": _l("succeeded"),
    "failed": _l("failed"),
    "skipped": _l("skipped"),
    "interrupted": _l("interrupted"),
}
#: What started a run.
TRIGGER_NAMES = {
    "schedule": _l("scheduled"),
    "manual": _l("manual"),
    "cli": _l("command line"),
    "job": _l("scheduled job"),
}


@bp.app_template_global()
def job_title(job_id: str, default: str | None = None) -> str:
    """A job's title in the reader's language."""
    if job_id in JOB_TITLES:
        return str(JOB_TITLES[job_id])
    return default or job_id


@bp.app_template_global()
def run_status(status: str) -> Markup:
    """A run's status as a badge: the code in the class, the word in the reader's language."""
    name = RUN_STATUS_NAMES.get(status, status)
    return Markup('<span class="status status-{0}">{1}</span>').format(status, escape(str(name)))


def zone_name(zone: str) -> str:
    """A time zone as the reader's language names it ("China (Shanghai) Time", "UTC")."""
    from babel.dates import get_timezone, get_timezone_location
    from flask_babel import get_locale

    if zone.upper() in ("UTC", "ETC/UTC", "GMT"):
        return "UTC"
    try:
        return get_timezone_location(get_timezone(zone), locale=get_locale())
    except LookupError:
        return zone


bp.add_app_template_global(schedule_text, "schedule_text")
bp.add_app_template_global(run_detail, "run_detail")


@bp.app_template_global()
def run_trigger(trigger: str) -> str:
    return str(TRIGGER_NAMES.get(trigger, trigger))


class RunNowForm(SafeForm):
    """Empty: a POST with a CSRF token."""


class AggregateNowForm(SafeForm):
    """Aggregate one term now (``evalsys aggregate --term CODE`` in a process of its own)."""

    term = SelectField(_l("Term"), choices=[])


class RenderReportsForm(SafeForm):
    """Render one term's reports now (``evalsys report --term CODE`` in a process of its own)."""

    term = SelectField(_l("Term"), choices=[])


def _term_choices(session: Session) -> list[SelectChoice]:
    terms = session.exec(select(Term).order_by(col(Term.start_date).desc())).all()
    return [SelectChoice(t.code, f"{t.code} · {localized(t, 'name')}") for t in terms]


def _aggregate_form(session: Session) -> AggregateNowForm:
    form = AggregateNowForm()
    form.term.choices = _term_choices(session)
    return form


def _reports_form(session: Session) -> RenderReportsForm:
    form = RenderReportsForm(prefix="reports")
    form.term.choices = _term_choices(session)
    return form


def _report_rows(session: Session) -> list[dict[str, Any]]:
    """The terms that have figures, newest first: how far their reports have got and when
    they come out by themselves."""
    aggregated = select(AggregationRun.term_id).where(
        AggregationRun.status == RunStatus.SUCCEEDED.value
    )
    terms = session.exec(
        select(Term).where(col(Term.id).in_(aggregated)).order_by(col(Term.start_date).desc())
    ).all()
    return [
        {
            "term": term,
            "progress": publishing.progress(session, term),
            "due": publishing.publication_time(current_app.config, term),
        }
        for term in terms[:6]
    ]


@bp.route("/")
@login_required
def index():
    session = get_session()
    require_school_admin(session)
    jobs.load_job_modules(current_app)
    # next_run_time is APScheduler's own epoch-seconds column: read it without unpickling jobs.
    next_runs = {
        row.id: datetime.fromtimestamp(row.next_run_time, UTC) if row.next_run_time else None
        for row in session.execute(
            sa_select(apscheduler_jobs.c.id, apscheduler_jobs.c.next_run_time)
        )
    }
    latest_ids = select(func.max(JobRun.id)).group_by(JobRun.job_id)
    last = {
        run.job_id: run
        for run in session.exec(select(JobRun).where(col(JobRun.id).in_(latest_ids)))
    }
    recent = session.exec(select(JobRun).order_by(col(JobRun.id).desc()).limit(30)).all()
    holder = lease.holder(session.get_bind())
    ttl = timedelta(seconds=current_app.config["SCHEDULER_LEASE_SECONDS"])
    alive = holder is not None and utcnow() - as_utc(holder.heartbeat_at) < ttl
    rows = [
        {
            "spec": spec,
            "args": spec.schedule_args(current_app.config),
            "next_run": next_runs.get(spec.id),
            "last": last.get(spec.id),
        }
        for spec in jobs.JOBS
    ]
    return render_template(
        "scheduler/schedule.html",
        aggregation_runs=recent_runs(session, limit=20),
        aggregate_form=_aggregate_form(session),
        reports_form=_reports_form(session),
        report_rows=_report_rows(session),
        rows=rows,
        recent=recent,
        holder=holder,
        alive=alive,
        form=RunNowForm(),
        timezone=current_app.config["SCHEDULER_TIMEZONE"],
        zone=zone_name(current_app.config["SCHEDULER_TIMEZONE"]),
    )


@bp.route("/<job_id>/run", methods=["POST"])
@login_required
def run_now(job_id: str):
    session = get_session()
    require_school_admin(session)
    jobs.load_job_modules(current_app)
    try:
        jobs.job_spec(job_id)
    except KeyError:
        abort(404)
    if not RunNowForm().validate_on_submit():
        abort(400)
    _start_detached(job_id)
    audit(session, "job.run_requested", user_id=current_user.id, target=job_id,
          ip=request.remote_addr)  # fmt: skip
    session.commit()
    flash(
        _(
            "Started %(job)s in its own process. Reload this page to see its result below.",
            job=job_title(job_id),
        ),
        "success",
    )
    return redirect(url_for("schedule.index"))


@bp.route("/aggregate", methods=["POST"])
@login_required
def aggregate_now():
    """Start one term's aggregation in a process of its own; its run shows on the page."""
    session = get_session()
    require_school_admin(session)
    return _start_for_term(
        _aggregate_form(session),
        lambda code: ["aggregate", "--term", code, "--trigger", "manual"],
        action="aggregation.run_requested",
        missing=_("Choose a term to aggregate."),
        started=lambda code: _(
            "Started the aggregation of %(term)s in its own process. Reload this page to see "
            "its run under Aggregation runs.",
            term=code,
        ),
        anchor=None,
    )


@bp.route("/reports", methods=["POST"])
@login_required
def render_reports():
    """Render one term's reports in a process of its own; the page shows how far it got."""
    session = get_session()
    require_school_admin(session)
    return _start_for_term(
        _reports_form(session),
        lambda code: ["report", "--term", code],
        action="report.render_requested",
        missing=_("Choose a term whose reports to render."),
        started=lambda code: _(
            "Started rendering the reports of %(term)s in its own process. Reload this page "
            "to see how many are done.",
            term=code,
        ),
        anchor="reports",
    )


def _start_for_term(
    form: AggregateNowForm | RenderReportsForm,
    command: Callable[[str], list[str]],
    *,
    action: str,
    missing: str,
    started: Callable[[str], str],
    anchor: str | None,
) -> Any:
    """The chosen term's command in a process of its own, audited, and back to the page."""
    back = url_for("schedule.index", _anchor=anchor)
    if not form.validate_on_submit():
        flash(missing, "error")
        return redirect(back)
    code = form.term.data
    args = command(code)
    spawn_cli(args, f"{args[0]}-{code}")
    session = get_session()
    audit(session, action, user_id=current_user.id, target=code, ip=request.remote_addr)
    session.commit()
    flash(started(code), "success")
    return redirect(back)


def _start_detached(job_id: str) -> None:
    """Run the job in a process of its own: never in the web worker that served the click."""
    spawn_cli(["run-job", job_id], job_id)
