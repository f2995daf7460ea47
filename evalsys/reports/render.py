"""From report data to a recorded PDF: charts, the Jinja template, WeasyPrint, the record.

:func:`render_unit` does one unit in the calling process (tests, and each
worker). :func:`render_units` spreads units over worker processes, each with
its own app and engine, under a time limit per report, and reports progress.

A unit is rendered again only when its inputs changed: the report data (which
holds every figure, name and comment shown) and :func:`template_version` (the
templates, the stylesheet, the chart code) are hashed, and a rendering whose
hash equals the newest record's, with the file still there unchanged, is skipped.

A report is rendered per language: the locale is part of its data (so of its hash), of its
file name (``TERM/UNIT.zh.pdf``, ``TERM/UNIT.en.pdf``) and of its record, and each language
is skipped or rendered on its own. :func:`needed_locales` says which languages a unit needs:
the site's DEFAULT_LOCALE, and the language of every person in charge who chose the other.

A file and its row never disagree (see :mod:`evalsys.reports.store`): the PDF goes to a
locked temporary *part* (fsynced), the row with the hash of those bytes is committed, and
the part renamed into place, both under the directory's lock; a run killed in between
leaves either the old file and row or the new row and its part, which the next run
(:func:`render_units` settles the directory first) or the next download installs. Dead
writers' other parts are deleted then too.

Workers (:mod:`evalsys.reports.workers`) die with the process that started them, and a
report over REPORT_TIMEOUT_SECONDS has its worker killed from outside — nothing inside the
rendering can catch or delay that.
"""

from __future__ import annotations

import base64
import gc
import hashlib
import os
import pickle
import time
from collections.abc import Callable, Mapping, Sequence
from contextlib import closing
from functools import cache
from pathlib import Path
from typing import Any

from flask import Flask
from flask_babel import gettext as _
from markupsafe import Markup
from sqlmodel import Session, col, select

from evalsys import resource_folder
from evalsys.accounts.models import RoleGrant, User
from evalsys.clock import site_now, utcnow
from evalsys.db import get_engine
from evalsys.i18n import HTML_LANG, LOCALES, in_locale, normalise
from evalsys.org.models import OrgUnit, OrgUnitClosure, Term
from evalsys.reports import charts, store, workers
from evalsys.reports.data import (
    REPORT_ROLES,
    ReportError,
    input_hash,
    report_data,
    report_file,
    safe_name,
)
from evalsys.reports.models import Report
from evalsys.reports.outcome import Outcome
from evalsys.reports.pdf import STYLESHEET, render_pdf

TEMPLATE = "reports/report.html"
TEMPLATES = resource_folder("templates") / "reports"
#: The catalogues: a changed translation re-renders the reports of that language.
CATALOGUES = Path(__file__).resolve().parent.parent / "translations"
#: Bumped by hand when the meaning of the data changes without a template change.
DATA_VERSION = "1"


# --- versions, paths, config -----------------------------------------------------------------


@cache
def template_version() -> str:
    """A hash of everything besides the data that shapes a report."""
    digest = hashlib.sha256()
    included = [TEMPLATES.parent / "loop" / "_report_section.html"]
    catalogues = sorted(CATALOGUES.glob("*/LC_MESSAGES/*.po"))
    for path in sorted(TEMPLATES.glob("*.html")) + included + catalogues + [STYLESHEET]:
        if not path.is_file():
            continue
        digest.update(path.name.encode())
        digest.update(path.read_bytes())
    digest.update(f"charts {charts.CHART_VERSION} data {DATA_VERSION}".encode())
    return digest.hexdigest()[:16]


def reports_dir(app: Flask) -> Path:
    configured = app.config.get("REPORT_DIR")
    return Path(configured) if configured else Path(app.instance_path) / "reports"


def report_path(out_dir: Path, term_code: str, unit_code: str, locale: str) -> Path:
    """``TERM/UNIT.LOCALE.pdf``: each language its own file, never overwriting the other."""
    return out_dir / safe_name(term_code) / report_file(unit_code, locale)


def site_locale(app: Flask) -> str:
    return normalise(app.config.get("DEFAULT_LOCALE")) or LOCALES[0]


def needed_locales(session: Session, app: Flask, unit_code: str) -> list[str]:
    """The languages a unit's report is rendered in: the site's, then every other language
    chosen by someone the report is emailed to (REPORT_ROLES on the unit, active, with an
    email)."""
    default = site_locale(app)
    chosen = session.exec(
        select(User.locale)
        .join(RoleGrant, col(RoleGrant.user_id) == User.id)
        .join(OrgUnit, col(OrgUnit.id) == RoleGrant.unit_id)
        .where(
            OrgUnit.code == unit_code,
            col(RoleGrant.role).in_(REPORT_ROLES),
            User.active == True,  # noqa: E712
            col(User.email).is_not(None),
        )
        .distinct()
    ).all()
    wanted = {normalise(c) for c in chosen} - {None, default}
    return [default, *[loc for loc in LOCALES if loc in wanted]]


# --- one unit ----------------------------------------------------------------------------------


def build_html(app: Flask, data: Mapping[str, Any], *, generated: str) -> str:
    """The report's HTML in the data's language, from the app's Jinja environment
    (autoescaped: .html)."""
    with app.app_context(), in_locale(data.get("locale")):
        template = app.jinja_env.get_template(TEMPLATE)
        return template.render(
            data=data,
            charts=chart_svgs(data),
            generated=generated,
            html_lang=HTML_LANG.get(data.get("locale", ""), "zh-Hans"),
        )


def compile_templates(app: Flask, name: str = TEMPLATE) -> list[str]:
    """Compile a template and every template it includes or imports, into the app's Jinja
    cache; returns their names.

    Jinja compiles an included or imported template when a rendering first reaches it. In a
    queue worker that happens in each forked work horse, which is thrown away after its
    job: every report paid for compiling the report's templates again (~0.2 s of a
    department's ~0.9 s; docs/benchmarks.md). Compiled once before the horses fork, they
    are inherited."""
    from jinja2 import meta

    env = app.jinja_env
    seen: set[str] = set()
    todo = [name]
    while todo:
        current = todo.pop()
        if current in seen:
            continue
        seen.add(current)
        env.get_template(current)
        source, _, _ = env.loader.get_source(env, current)  # type: ignore[union-attr]
        todo.extend(n for n in meta.find_referenced_templates(env.parse(source)) if n)
    return sorted(seen)


def chart_img(svg: str, alt: str) -> Markup:
    """An SVG chart carried inside the HTML as a data URL: still vectors in the PDF, but
    WeasyPrint draws it as an image of its own, without running the HTML cascade over every
    SVG element (and without one chart's ids meeting another's)."""
    payload = base64.b64encode(('<?xml version="1.0" encoding="utf-8"?>\n' + svg).encode())
    return Markup('<img class="chart" alt="{}" src="data:image/svg+xml;base64,{}">').format(
        alt, payload.decode()
    )


def chart_svgs(data: Mapping[str, Any], *, style: str = "print") -> dict[str, dict[str, Markup]]:
    """Each part's charts as inline SVG images, keyed by the part's anchor.

    ``style="screen"`` draws them for the web view (:data:`charts.LOOKS`): in colour, and
    sized so that their text stays readable when a chart fills a phone's column."""
    threshold = data["settings"].get("threshold")
    look: dict[str, Any] = (
        {"style": style, "width_in": charts.screen_width()} if style != "print" else {}
    )
    out: dict[str, dict[str, Markup]] = {}
    for part in data["parts"]:
        main = part["depth"] == 1
        parent = part["parent"]
        parent_label = parent["name"] if parent else None
        rows = [
            {
                "label": d["label"],
                "mean": d["mean"],
                "parent": d["parent_raw"],
                "n": d["n"],
                "insufficient": d["insufficient"],
            }
            for d in part["dimensions"]
            if d["kind"] == "all" and d["dimension"] != "overall"
        ]
        got: dict[str, Markup] = {}
        # A course's part in a department's report shows its dimensions as a table only:
        # the chart said the same again, at a quarter page per course.
        if rows and main:
            got["dimensions"] = chart_img(
                charts.cached(
                    charts.dimension_chart,
                    rows,
                    unit_label=part["name"],
                    parent_label=parent_label,
                    threshold=threshold,
                    **look,
                ),
                _("Mean per dimension of %(unit)s", unit=part["name"]),
            )
        if main:
            total = sum(part["bands"].values())
            ptotal = sum(part["parent_bands"].values()) if part["parent_bands"] else 0
            if total:
                bands = [
                    {
                        "label": b["label"],
                        "count": part["bands"][b["band"]],
                        "share": 100.0 * part["bands"][b["band"]] / total,
                        "parent_share": (
                            100.0 * part["parent_bands"][b["band"]] / ptotal if ptotal else None
                        ),
                    }
                    for b in data["bands"]
                ]
                got["bands"] = chart_img(
                    charts.cached(
                        charts.band_chart,
                        bands,
                        unit_label=part["name"],
                        parent_label=parent_label if ptotal else None,
                        **look,
                    ),
                    _("Score distribution of %(unit)s", unit=part["name"]),
                )
            if part["trend"]:
                got["trend"] = chart_img(
                    charts.cached(
                        charts.trend_chart,
                        part["trend"],
                        unit_label=part["name"],
                        threshold=threshold,
                        **look,
                    ),
                    _("Overall mean of %(unit)s over terms", unit=part["name"]),
                )
            if part["coverage_rows"]:
                got["coverage"] = chart_img(
                    charts.cached(charts.coverage_chart, part["coverage_rows"], **look),
                    _("Coverage of %(unit)s", unit=part["name"]),
                )
        out[part["anchor"]] = got
    return out


def render_unit(
    session: Session,
    app: Flask,
    *,
    term_code: str,
    unit_code: str,
    out_dir: Path | None = None,
    force: bool = False,
    locale: str | None = None,
) -> Outcome:
    """Render one unit's report in ``locale`` (None: the site's DEFAULT_LOCALE) unless
    unchanged; write it and record it, the file and the row in step (module docstring).

    No time limit here: one is kept from outside, by killing the worker process this runs
    in (:func:`render_units`).
    """
    started = time.perf_counter()
    locale = normalise(locale) or site_locale(app)
    with app.app_context():
        data = report_data(
            session, term_code=term_code, unit_code=unit_code, config=app.config, locale=locale
        )
    digest = input_hash(data, template_version())
    term_id = session.exec(select(Term.id).where(Term.code == term_code)).one()
    unit_id = session.exec(select(OrgUnit.id).where(OrgUnit.code == unit_code)).one()
    path = report_path(out_dir or reports_dir(app), term_code, unit_code, locale).resolve()
    # Ignored below: a stored row's id, never None.
    found = latest_report(session, term_id, unit_id, locale)  # type: ignore[arg-type]
    latest = found.model_copy() if found is not None else None
    # End the read transaction now: on SQLite a read snapshot held across the rendering
    # could not be turned into the write below once another worker had written. And no
    # transaction may be open while waiting for the directory's lock below.
    session.rollback()
    if not force and latest is not None and _still_valid(latest, digest, path):
        return Outcome(
            unit_code, locale, "unchanged", latest.path, latest.pages, 0.0, None, latest.id
        )
    generated = site_now(app.config).strftime("%Y-%m-%d %H:%M")
    html = build_html(app, data, generated=generated)
    rendered = render_pdf(html)
    part = store.write_part(path, rendered.pdf)
    seconds = time.perf_counter() - started
    record = Report(
        term_id=term_id,  # type: ignore[arg-type]  # a stored row's id, never None
        unit_id=unit_id,  # type: ignore[arg-type]  # a stored row's id, never None
        locale=locale,
        path=str(path),
        sha256=part.sha256,  # of the bytes written
        input_hash=digest,
        pages=rendered.pages,
        size=part.size,
        seconds=round(seconds, 3),
        generated_at=utcnow(),
    )
    committing = False
    try:
        with store.directory_lock(path.parent):
            session.add(record)
            committing = True
            session.commit()
            part.install()
    except BaseException:
        if committing:
            part.release()  # the row may be in: store.settle decides by the database
        else:
            part.discard()
        session.rollback()
        raise
    if rendered.refused:
        app.logger.warning("report %s %s: refused %s", term_code, unit_code, rendered.refused)
    return Outcome(
        unit_code, locale, "rendered", str(path), rendered.pages, seconds, None, record.id
    )


def unchanged_outcome(
    session: Session,
    app: Flask,
    *,
    term_code: str,
    unit_code: str,
    out_dir: Path | None = None,
    locale: str | None = None,
) -> Outcome | None:
    """The outcome "unchanged" when the unit's newest report in ``locale`` still matches its
    inputs, else None: the same test as :func:`render_unit`'s, without rendering anything."""
    locale = normalise(locale) or site_locale(app)
    with app.app_context():
        data = report_data(
            session, term_code=term_code, unit_code=unit_code, config=app.config, locale=locale
        )
    digest = input_hash(data, template_version())
    term_id = session.exec(select(Term.id).where(Term.code == term_code)).one()
    unit_id = session.exec(select(OrgUnit.id).where(OrgUnit.code == unit_code)).one()
    path = report_path(out_dir or reports_dir(app), term_code, unit_code, locale).resolve()
    # Ignored below: a stored row's id, never None.
    latest = latest_report(session, term_id, unit_id, locale)  # type: ignore[arg-type]
    session.rollback()
    if latest is None or not _still_valid(latest, digest, path):
        return None
    return Outcome(unit_code, locale, "unchanged", latest.path, latest.pages, 0.0, None, latest.id)


def latest_report(
    session: Session, term_id: int, unit_id: int, locale: str | None = None
) -> Report | None:
    """The newest rendering of a unit's term report in ``locale`` (None: in any language)."""
    stmt = select(Report).where(Report.term_id == term_id, Report.unit_id == unit_id)
    if locale is not None:
        stmt = stmt.where(Report.locale == locale)
    return session.exec(stmt.order_by(col(Report.id).desc()).limit(1)).first()


def _still_valid(latest: Report, digest: str, path: Path) -> bool:
    if latest.input_hash != digest or latest.path != str(path):
        return False
    return store.sha256_of(path) == latest.sha256


def tree_units(session: Session, unit_code: str | None = None) -> list[str]:
    """The codes of the units that get a PDF: the school, colleges and departments, top down.

    With ``unit_code``: that unit only (it must be an org unit).
    """
    if unit_code is not None:
        unit = session.exec(select(OrgUnit).where(OrgUnit.code == unit_code)).first()
        if unit is None:
            raise ReportError(
                f"no unit '{unit_code}' (reports are made for the school, colleges and departments)"
            )
        return [unit.code]
    depth = (
        select(OrgUnitClosure.descendant_id, OrgUnitClosure.depth)
        .join(OrgUnit, col(OrgUnit.id) == OrgUnitClosure.ancestor_id)
        .where(OrgUnit.parent_id == None)  # noqa: E711
        .subquery()
    )
    stmt = (
        select(OrgUnit.code)
        .join(depth, depth.c.descendant_id == OrgUnit.id)
        .order_by(depth.c.depth, OrgUnit.code)
    )
    return list(session.exec(stmt).all())


# --- many units, in worker processes ---------------------------------------------------------


def portable_config(app: Flask) -> dict[str, Any]:
    """The app's configuration, as far as it pickles, for rebuilding it in a worker."""
    out: dict[str, Any] = {}
    for key, value in app.config.items():
        try:
            pickle.dumps(value)
        except Exception:  # noqa: S112  (leave out what cannot cross a process boundary)
            continue
        out[key] = value
    out["INSTANCE_PATH"] = app.instance_path
    return out


_worker: dict[str, Any] = {}


#: The cyclic collector's thresholds in a rendering process (:func:`collect_less`).
RENDER_GC_THRESHOLDS = (50_000, 20, 100)


def collect_less() -> None:
    """Let a process that only renders reports run Python's cyclic garbage collector far
    less often, and never over what it has loaded so far.

    WeasyPrint makes hundreds of thousands of short-lived objects a report; at CPython's
    default (a collection every 700 new objects) the collector ran thousands of times a
    report, each time walking the young objects, and its full collections walked every
    module, font and stylesheet loaded. ``gc.freeze`` puts what is loaded (the app,
    WeasyPrint, the stylesheet, jieba's dictionary) out of its reach — in a worker that
    forks, also out of the pages a collection would write to — and the higher threshold
    collects every 50,000. Measured −8.7 % CPU a department report (docs/benchmarks.md).
    What is freed by reference counting (most of it) is freed as before; only cycles wait
    a little longer. Rendering processes only: a web process keeps the defaults.
    """
    gc.freeze()
    gc.set_threshold(*RENDER_GC_THRESHOLDS)


def _init_worker(config: dict[str, Any]) -> None:
    from evalsys import create_app

    # The parent may have set a test config; the worker's app is built from the same values.
    _worker["app"] = create_app(dict(config), serving=False)
    collect_less()


def _render_in_worker(
    term_code: str,
    unit_code: str,
    out_dir: str | None,
    force: bool,
    locale: str | None = None,
) -> Outcome:
    app: Flask = _worker["app"]
    started = time.perf_counter()
    try:
        with Session(get_engine(app), expire_on_commit=False) as session:
            if session.exec(select(OrgUnit.id).where(OrgUnit.code == unit_code)).first() is None:
                # Deleted after the run listed it (or after its job was queued): nothing to
                # render, and nothing wrong with the run.
                session.rollback()
                return Outcome(
                    unit_code,
                    normalise(locale) or site_locale(app),
                    "skipped",
                    error=f"the unit {unit_code} no longer exists",
                )
            return render_unit(
                session,
                app,
                term_code=term_code,
                unit_code=unit_code,
                out_dir=Path(out_dir) if out_dir else None,
                force=force,
                locale=locale,
            )
    except Exception as err:  # reported per unit; the others go on
        return Outcome(
            unit_code,
            normalise(locale) or site_locale(app),
            "failed",
            seconds=time.perf_counter() - started,
            error=f"{type(err).__name__}: {str(err).splitlines()[0] if str(err) else ''}",
        )


def report_timeout(app: Flask) -> float | None:
    """REPORT_TIMEOUT_SECONDS, or None when it is 0 or unset (no limit)."""
    return float(app.config.get("REPORT_TIMEOUT_SECONDS") or 0) or None


def render_units(
    app: Flask,
    *,
    term_code: str,
    unit_codes: Sequence[str],
    jobs: int = 1,
    out_dir: Path | None = None,
    force: bool = False,
    progress: Callable[[Outcome, int, int], None] | None = None,
    in_process: bool = False,
    locales: Sequence[str] | None = None,
    queue: bool = False,
    wait: bool = True,
) -> list[Outcome]:
    """Render the units in ``jobs`` worker processes; outcomes in the order they finish.

    ``queue``: put them on the report queue instead (REPORT_QUEUE_URL,
    :mod:`evalsys.reports.queue`), for ``evalsys worker`` processes anywhere to render;
    with ``wait`` the outcomes come as the workers finish, else each is "queued".

    Each unit in each of ``locales``, or (None) in the languages it needs
    (:func:`needed_locales`): one outcome per unit and language. A report running longer
    than REPORT_TIMEOUT_SECONDS has its worker killed and fails; the others go on.

    First the term's directory is settled (:func:`store.settle`): what a run killed
    half-way left there is installed or deleted, before anything is compared.

    ``in_process`` with one job: render here, one unit after the other, without starting a
    worker (which costs a fresh interpreter importing WeasyPrint: seconds),
    and so without a time limit — nothing can stop a rendering from outside in the process
    that runs it. For a short-lived command; a long-lived process keeps to workers, whose
    memory goes back to the system when they end.
    """
    timeout = report_timeout(app)
    outcomes: list[Outcome] = []
    with Session(get_engine(app), expire_on_commit=False) as session:
        store.settle(session, (out_dir or reports_dir(app)).resolve() / safe_name(term_code))
        if locales is None:
            items = [(c, loc) for c in unit_codes for loc in needed_locales(session, app, c)]
        else:
            wanted = [normalise(loc) for loc in locales]
            items = [(c, loc) for c in unit_codes for loc in wanted if loc]
        session.rollback()
    total = len(items)
    if not force:
        # Which reports are unchanged is decided here first: when none changed (the nightly
        # case), no worker is started at all — starting one costs seconds.
        todo: list[tuple[str, str]] = []
        with Session(get_engine(app), expire_on_commit=False) as session:
            for code, locale in items:
                try:
                    found = unchanged_outcome(
                        session,
                        app,
                        term_code=term_code,
                        unit_code=code,
                        out_dir=out_dir,
                        locale=locale,
                    )
                except Exception:  # noqa: BLE001  (the worker reports it, for this unit)
                    session.rollback()
                    found = None
                if found is None:
                    todo.append((code, locale))
                    continue
                outcomes.append(found)
                if progress is not None:
                    progress(found, len(outcomes), total)
        if not todo:
            return outcomes
        items = todo
    if queue:
        from evalsys.reports import queue as report_queue

        ids = report_queue.enqueue(
            app, term_code=term_code, items=items, out_dir=out_dir, force=force
        )
        if not wait:
            queued = [Outcome(code, locale, "queued") for code, locale in items]
            for outcome in queued:
                outcomes.append(outcome)
                if progress is not None:
                    progress(outcome, len(outcomes), total)
            return outcomes

        def report(outcome: Outcome) -> None:
            outcomes.append(outcome)
            if progress is not None:
                progress(outcome, len(outcomes), total)

        report_queue.wait(app, ids, items, progress=report)
        return outcomes
    where = str(out_dir) if out_dir else None
    if in_process and jobs <= 1:
        _worker["app"] = app
        for code, locale in items:
            outcome = _render_in_worker(term_code, code, where, force, locale)
            outcomes.append(outcome)
            if progress is not None:
                progress(outcome, len(outcomes), total)
        return outcomes
    tasks = [(term_code, code, where, force, locale) for code, locale in items]
    results = workers.run_tasks(
        _render_in_worker,
        tasks,
        jobs=max(1, min(jobs, len(items))),
        timeout=timeout,
        initializer=_init_worker,
        initargs=(portable_config(app),),
    )
    with closing(results):
        for result in results:
            code, locale = items[result.index]
            outcome = result.value
            if result.error is not None or not isinstance(outcome, Outcome):
                outcome = Outcome(
                    code, locale, "failed", seconds=result.seconds, error=result.error
                )
            outcomes.append(outcome)
            if progress is not None:
                progress(outcome, len(outcomes), total)
    return outcomes


def worker_count(app: Flask, jobs: int | None) -> int:
    if jobs is not None:
        return max(1, jobs)
    configured = app.config.get("REPORT_JOBS")
    return max(1, int(configured)) if configured else max(1, min(4, os.cpu_count() or 1))
