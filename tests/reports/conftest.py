"""A small aggregated university for the report tests (the aggregation tests' generator)."""

from __future__ import annotations

import hashlib
import subprocess
from pathlib import Path

import pytest

from evalsys.aggregation import service
from evalsys.reports import pdf, render
from tests.aggregation.conftest import Uni, bare_uni, settings, uni  # noqa: F401  (fixtures)
from tests.worlds import built_once

#: PDFs this process has rendered, by the SHA-256 of their HTML.
_RENDERED: dict[str, pdf.Rendered] = {}


@pytest.fixture(autouse=True)
def render_each_document_once(monkeypatch: pytest.MonkeyPatch) -> None:
    """The same HTML is turned into a PDF by WeasyPrint once per test process.

    WeasyPrint is a pure function of the HTML here (the fetcher serves packaged assets
    only; checked: the same HTML gives the same bytes), and it is most of this folder's
    time: many tests render the same small reports again (each test starts from the same
    world), and some re-render on purpose to show an unchanged report stays the same. The
    first rendering of each document is the real one, and every test still reads a real
    PDF. Renderings in worker processes (the CLI's ``--jobs``) are not touched.
    """

    def once(html: str) -> pdf.Rendered:
        key = hashlib.sha256(html.encode()).hexdigest()
        if key not in _RENDERED:
            _RENDERED[key] = pdf.render_pdf(html)
        return _RENDERED[key]

    monkeypatch.setattr(render, "render_pdf", once)


@pytest.fixture
def aggregated(uni: Uni, session) -> Uni:  # noqa: F811
    """Both terms aggregated (the second compares with the first)."""

    def build() -> Uni:
        service.aggregate_term(session, term=uni.terms["T1"].code)
        service.aggregate_term(session, term=uni.terms["T2"].code)
        return uni

    return built_once("uni-aggregated", session, build, on="uni")


@pytest.fixture
def bare_aggregated(bare_uni: Uni, session) -> Uni:  # noqa: F811
    """The tree with no records, both terms aggregated: nine short reports, for the tests
    of how reports are rendered and handed over rather than of what they say."""

    def build() -> Uni:
        service.aggregate_term(session, term=bare_uni.terms["T1"].code)
        service.aggregate_term(session, term=bare_uni.terms["T2"].code)
        return bare_uni

    return built_once("bare-uni-aggregated", session, build, on="bare_uni")


def pdf_text(path: Path) -> str:
    return subprocess.run(
        ["pdftotext", "-layout", str(path), "-"], capture_output=True, text=True, check=True
    ).stdout
