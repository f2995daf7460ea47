"""The report renderer loads nothing but packaged assets: no files, no network."""

from __future__ import annotations

import base64
import http.server
import subprocess
import threading
from pathlib import Path

import pytest

from evalsys.reports.fetcher import MAX_DATA_URL_BYTES
from evalsys.reports.pdf import render_pdf
from evalsys.reports.store import write_atomically


@pytest.fixture
def spy_server():
    """A local HTTP server that records every request it gets (it should get none)."""
    hits: list[str] = []

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self):  # noqa: N802
            hits.append(self.path)
            self.send_response(200)
            self.send_header("Content-Type", "image/png")
            self.end_headers()

        def log_message(self, *args):
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}", hits
    server.shutdown()
    server.server_close()


def pdf_text(pdf: bytes, tmp_path: Path) -> str:
    path = tmp_path / "out.pdf"
    path.write_bytes(pdf)
    return subprocess.run(
        ["pdftotext", "-layout", str(path), "-"], capture_output=True, text=True, check=True
    ).stdout


@pytest.fixture
def own_fonts():
    """The hostile document's @font-face makes the process's shared font configuration
    keep a temporary folder, which WeasyPrint removes in ``__del__`` — at interpreter exit,
    too late ("Exception ignored ... 'NoneType' object is not callable" at the end of a
    run). Dropped after the test, it is collected at once; the next document makes another."""
    from evalsys.reports import pdf

    yield
    pdf.stylesheet.cache_clear()
    pdf.font_config.cache_clear()


def test_files_and_network_are_refused(spy_server, tmp_path, own_fonts):
    base, hits = spy_server
    secret = tmp_path / "secret.txt"
    secret.write_text("TOP-SECRET-CONTENT 42\n")
    hostile = f"""
    <html><head>
      <link rel="stylesheet" href="{base}/evil.css">
      <link rel="attachment" href="file://{secret}">
      <style>body {{ background: url({base}/bg.png); }}
             @import url("{base}/import.css");
             @font-face {{ font-family: x; src: url(file://{secret}); }}</style>
    </head><body>
      <p>visible text</p>
      <img src="file://{secret}"> <img src="{base}/pixel.png">
      <object data="file://{secret}"></object> <embed src="file://{secret}">
      <iframe src="file://{secret}"></iframe>
      <img src="data:text/html;base64,{base64.b64encode(b"<b>x</b>").decode()}">
    </body></html>
    """
    rendered = render_pdf(hostile)
    assert hits == []  # not one request reached the server
    text = pdf_text(rendered.pdf, tmp_path)
    assert "visible text" in text
    assert "TOP-SECRET" not in text
    assert b"TOP-SECRET" not in rendered.pdf  # not attached or embedded either
    refused = " ".join(rendered.refused)
    assert f"file://{secret}" in refused and f"{base}/pixel.png" in refused
    assert "data:text/html" in refused


def test_packaged_assets_load_and_cannot_escape(tmp_path):
    ok = render_pdf('<link rel="stylesheet" href="evalsys-asset:report.css"><p>x</p>')
    assert ok.refused == ()
    bad = render_pdf('<link rel="stylesheet" href="evalsys-asset:../fetcher.py"><p>x</p>')
    assert bad.refused == ("evalsys-asset:../fetcher.py",)


def test_small_image_data_urls_allowed_big_ones_refused():
    svg = b'<svg xmlns="http://www.w3.org/2000/svg" width="4" height="4"/>'
    small = "data:image/svg+xml;base64," + base64.b64encode(svg).decode()
    big = "data:image/png;base64," + "A" * (MAX_DATA_URL_BYTES * 2)
    rendered = render_pdf(f'<img src="{small}"><img src="{big}">')
    assert len(rendered.refused) == 1 and rendered.refused[0].startswith("data:image/png")


def test_rendering_reports_pages_and_hash():
    rendered = render_pdf("<h1>第一页</h1><p style='page-break-after: always'>a</p><p>b</p>")
    assert rendered.pages == 2
    import hashlib

    assert rendered.sha256 == hashlib.sha256(rendered.pdf).hexdigest()
    assert rendered.pdf.startswith(b"%PDF")


def test_atomic_write_never_leaves_half_a_file(tmp_path, monkeypatch):
    target = tmp_path / "reports" / "CS.pdf"
    write_atomically(target, b"first version")
    assert target.read_bytes() == b"first version"

    import os

    def broken_replace(src, dst):
        raise OSError("disk gone")

    monkeypatch.setattr(os, "replace", broken_replace)
    with pytest.raises(OSError):
        write_atomically(target, b"second version")
    assert target.read_bytes() == b"first version"
    assert [p.name for p in target.parent.iterdir()] == ["CS.pdf"]  # no .part left behind
