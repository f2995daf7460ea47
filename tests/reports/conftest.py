"""A small aggregated university for the report tests (the aggregation tests' generator)."""

from __future__ import annotations

import hashlib
import os
import subprocess
import uuid
from pathlib import Path

import pytest

from evalsys.reports import pdf, render

#: The Redis the report queue's tests use (each test gets a queue of its own on it).
REDIS = os.environ.get("EVALSYS_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")

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


@pytest.fixture
def queued_app(app, tmp_path):
    """The app with a report queue of its own on the real Redis (removed afterwards)."""
    from redis import Redis
    from redis.exceptions import RedisError

    try:
        Redis.from_url(REDIS, socket_connect_timeout=2).ping()
    except RedisError as err:
        if os.environ.get("CI"):
            pytest.fail(f"Redis at {REDIS} is not reachable: {err}")
        pytest.skip(f"Redis at {REDIS} is not reachable")
    name = f"evalsys-test-{uuid.uuid4().hex[:12]}"
    app.config.update(
        REPORT_QUEUE_URL=REDIS, REPORT_QUEUE_NAME=name, REPORT_DIR=str(tmp_path / "reports")
    )
    yield app
    connection = Redis.from_url(REDIS)
    for key in connection.scan_iter(f"*{name}*"):
        connection.delete(key)
