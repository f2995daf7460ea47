"""A small aggregated university for the report tests (the aggregation tests' generator)."""

from __future__ import annotations

import hashlib
import subprocess
from pathlib import Path

import pytest

from evalsys.reports import pdf, render

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


def pdf_text(path: Path) -> str:
    return subprocess.run(
        ["pdftotext", "-layout", str(path), "-"], capture_output=True, text=True, check=True
    ).stdout
