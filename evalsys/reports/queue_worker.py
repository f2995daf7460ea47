"""The worker's side of the report queue (:mod:`evalsys.reports.queue`): ``evalsys worker``."""

from __future__ import annotations

from flask import Flask
from sqlmodel import Session

from evalsys.db import get_engine
from evalsys.reports.outcome import Outcome
from evalsys.reports.queue import open_queue
from evalsys.reports.render import _render_in_worker, _worker, collect_less, compile_templates


def preload(app: Flask) -> None:
    """Before the first job: the renderer imported, its stylesheet parsed, its fonts found,
    jieba's dictionary loaded, the report's templates compiled, so that every forked work
    horse inherits them instead of paying for them (jieba alone is about a second a report,
    the templates a fifth of a department's)."""
    from evalsys.reports import charts, pdf
    from evalsys.themes import detect

    _worker["app"] = app

    pdf.render_pdf("<html><body><p>预热 warm-up</p></body></html>")
    detect.warm_up()  # every report lists its recurring themes
    with app.app_context():  # the chart's axis label is translated
        charts.warm_up()
        compile_templates(app)
    with Session(get_engine(app)) as session:  # the database answers before jobs come
        session.connection()
    get_engine(app).dispose()  # no connection crosses the fork
    collect_less()  # what is loaded, frozen before the horses fork


def render_job(
    term_code: str, unit_code: str, out_dir: str | None, force: bool, locale: str | None
) -> Outcome:
    """A queued job: one unit in one language, in a work horse of ``evalsys worker``."""
    # A fresh engine in each horse: connections are never shared across a fork.
    get_engine(_worker["app"]).dispose(close=False)
    return _render_in_worker(term_code, unit_code, out_dir, force, locale)


def run_worker(app: Flask, *, burst: bool = False, name: str | None = None) -> bool:
    """Serve the queue until stopped (or, ``burst``, until it is empty)."""
    from rq import Worker

    queue = open_queue(app)
    preload(app)
    worker = Worker([queue], connection=queue.connection, name=name)
    return bool(worker.work(burst=burst, logging_level="WARNING"))
