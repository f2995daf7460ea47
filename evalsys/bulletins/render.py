"""A bulletin to PDF: the template through the reports' renderer, stored as reports are.

The HTML comes from ``templates/bulletins/bulletin.html`` in the bulletin's language and
goes through :func:`evalsys.reports.pdf.render_pdf` — the packaged-assets-only fetcher, the
shared fonts and the report stylesheet, which the template's own small stylesheet
overrides. The file lands under the report storage (``REPORT_DIR``, else
``instance/reports``) as ``bulletins/WEEK/UNIT.LANG.pdf``, written the reports' way
(:mod:`evalsys.reports.store`): a fsynced part, then under the directory's lock the row
committed and the part renamed over the file. A renderer killed between the two leaves a
row whose file does not match its hash; the download refuses such a file (it never serves
bytes the row does not describe) and the next rendering replaces both.
"""

from __future__ import annotations

import re
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from flask import Flask
from sqlmodel import Session, col, select

from evalsys.bulletins.data import Bulletin as BulletinData
from evalsys.bulletins.data import BulletinError, bulletin_data
from evalsys.bulletins.models import Bulletin
from evalsys.bulletins.weeks import IsoWeek
from evalsys.clock import site_now
from evalsys.i18n import HTML_LANG, LOCALES, in_locale, localized, normalise
from evalsys.org.models import OrgUnit
from evalsys.reports import store
from evalsys.reports.pdf import render_pdf

TEMPLATE = "bulletins/bulletin.html"
_UNSAFE = re.compile(r"[^A-Za-z0-9._-]")


def bulletins_dir(config: Mapping[str, Any], instance_path: str) -> Path:
    """Where bulletins are kept: ``bulletins/`` in the report storage."""
    configured = config.get("REPORT_DIR")
    return (Path(configured) if configured else Path(instance_path) / "reports") / "bulletins"


def bulletin_path(root: Path, week: IsoWeek, unit_code: str, locale: str) -> Path:
    name = _UNSAFE.sub("_", unit_code).strip(".") or "_"
    return root / week.label / f"{name}.{locale}.pdf"


def unit_by_code(session: Session, code: str) -> OrgUnit:
    """The school or a college by code; anything else is refused with a reason."""
    unit = session.exec(select(OrgUnit).where(OrgUnit.code == code)).first()
    if unit is None:
        raise BulletinError(f"no unit has the code {code!r}")
    if unit.kind not in ("school", "college"):
        raise BulletinError(
            f"{code} is a {unit.kind}: bulletins are made for the school and its colleges"
        )
    return unit


def bulletin_html(app: Flask, data: BulletinData, locale: str) -> str:
    """The bulletin's HTML in ``locale``, from the app's Jinja environment (autoescaped), no
    request needed (the scheduler has none)."""
    with app.app_context(), in_locale(locale):
        return app.jinja_env.get_template(TEMPLATE).render(
            b=data,
            locale=locale,
            html_lang=HTML_LANG.get(locale, locale),
            unit_name=localized({"name": data.unit_name, "name_en": data.unit_name_en}, "name"),
            term_name=localized({"name": data.term_name, "name_en": data.term_name_en}, "name")
            if data.term_name
            else None,
            generated=site_now(app.config).strftime("%Y-%m-%d %H:%M"),
        )


def render_bulletin(
    session: Session, app: Flask, *, unit_code: str, week: IsoWeek, locale: str
) -> Bulletin:
    """Render, store and record one bulletin; returns its committed row."""
    locale = normalise(locale) or ""
    if locale not in LOCALES:
        raise BulletinError(f"no language {locale!r}: one of {', '.join(LOCALES)}")
    started = time.monotonic()
    with app.app_context():
        unit = unit_by_code(session, unit_code)
        assert unit.id is not None  # loaded
        data = bulletin_data(session, unit.id, week, app.config)
        html = bulletin_html(app, data, locale)
    rendered = render_pdf(html)
    target = bulletin_path(bulletins_dir(app.config, app.instance_path), week, unit.code, locale)
    part = store.write_part(target, rendered.pdf)
    committing = False
    try:
        session.commit()  # no read transaction held while waiting for the lock
        with store.directory_lock(target.parent):
            row = Bulletin(
                unit_id=unit.id,
                week=week.label,
                locale=locale,
                path=str(target),
                sha256=rendered.sha256,
                pages=rendered.pages,
                size=len(rendered.pdf),
                empty=data.empty,
            )
            session.add(row)
            committing = True
            session.commit()
            part.install()
    except BaseException:
        if committing:
            # The row may be in: the part stays for store.settle, which decides by the
            # database (the next download installs it when the row names it).
            part.release()
        else:
            part.discard()
        session.rollback()
        raise
    app.logger.info(
        "bulletin %s %s (%s): %d pages in %.1f s",
        week.label,
        unit.code,
        locale,
        rendered.pages,
        time.monotonic() - started,
    )
    return row


def latest_bulletin(
    session: Session, unit_id: int, week: str, locale: str | None
) -> Bulletin | None:
    """The newest rendering of the unit's week in ``locale`` (None: any language)."""
    stmt = select(Bulletin).where(Bulletin.unit_id == unit_id, Bulletin.week == week)
    if locale is not None:
        stmt = stmt.where(Bulletin.locale == locale)
    return session.exec(stmt.order_by(col(Bulletin.id).desc()).limit(1)).first()
