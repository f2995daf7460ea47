"""A queue worker compiles the report's templates before its work horses fork: a horse is
thrown away after one job, so whatever it compiles is compiled again for the next report."""

from __future__ import annotations

import pytest

from evalsys.aggregation.service import aggregate_term
from evalsys.reports.data import report_data
from evalsys.reports.render import TEMPLATE, build_html, compile_templates


@pytest.mark.once("which templates Jinja compiles does not depend on the database")
def test_after_the_warm_up_a_report_compiles_no_template(app, session, uni, settings, monkeypatch):
    aggregate_term(session, term=uni.terms["T2"].code, settings=settings)
    env = app.jinja_env
    compiled: list[str | None] = []
    real_compile = env.compile

    def counting(source, name=None, filename=None, raw=False, defer_init=False):
        compiled.append(name)
        return real_compile(source, name, filename, raw, defer_init)

    monkeypatch.setattr(env, "compile", counting)
    # The suite keeps compiled templates across its apps (tests/compiled_once.py); a work
    # horse has no such cache.
    monkeypatch.setattr(env, "bytecode_cache", None)
    with app.app_context():
        reports = [
            report_data(session, term_code=uni.terms["T2"].code, unit_code=code, config=app.config)
            for code in ("U", "CS-SE")
        ]

    # Without it, a rendering compiles the included and imported templates as it reaches them.
    env.cache.clear()
    for data in reports:
        build_html(app, data, generated="x")
    cold = set(compiled)
    assert {TEMPLATE, "reports/_part.html", "reports/_macros.html"} <= cold

    env.cache.clear()
    with app.app_context():
        names = compile_templates(app)
    assert cold <= set(names)
    compiled.clear()
    for data in reports:
        build_html(app, data, generated="x")
    assert compiled == []
