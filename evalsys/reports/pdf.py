"""WeasyPrint with our fetcher, fonts configured once, and atomic writes.

One ``FontConfiguration`` and one parsed stylesheet per process: WeasyPrint
spends much of a small report on font set-up and CSS parsing otherwise.
"""

from __future__ import annotations

import hashlib
import os
import tempfile
import time
from dataclasses import dataclass
from functools import cache
from pathlib import Path

from weasyprint import CSS, HTML
from weasyprint.text.fonts import FontConfiguration

from evalsys.reports.fetcher import ASSETS, AssetFetcher

STYLESHEET = ASSETS / "report.css"


@cache
def font_config() -> FontConfiguration:
    return FontConfiguration()


@cache
def stylesheet() -> CSS:
    return CSS(
        string=STYLESHEET.read_text(encoding="utf-8") if STYLESHEET.exists() else "",
        font_config=font_config(),
        url_fetcher=AssetFetcher(),
    )


@dataclass(frozen=True)
class Rendered:
    pdf: bytes
    pages: int
    sha256: str
    refused: tuple[str, ...]


def render_pdf(html: str, *, base_url: str = "evalsys-asset:/") -> Rendered:
    """Render report HTML to PDF bytes, loading nothing but packaged assets."""
    fetcher = AssetFetcher()
    document = HTML(string=html, base_url=base_url, url_fetcher=fetcher).render(
        stylesheets=[stylesheet()], font_config=font_config()
    )
    pdf = document.write_pdf()
    return Rendered(
        pdf, len(document.pages), hashlib.sha256(pdf).hexdigest(), tuple(fetcher.refused)
    )


def write_atomically(path: Path, data: bytes) -> None:
    """Write to a temporary file beside ``path``, then rename: no reader sees half a PDF."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".part", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def remove_stale_parts(directory: Path, *, older_than: float) -> int:
    """Delete temporary files left by writers killed half-way (``.NAME.pdf.*.part``).

    Only files older than ``older_than`` seconds go: a writer still running in
    another process (under the report time limit) keeps its own file.
    """
    if not directory.is_dir():
        return 0
    removed = 0
    cutoff = time.time() - older_than
    for part in directory.glob(".*.pdf.*.part"):
        try:
            if part.stat().st_mtime < cutoff:
                part.unlink()
                removed += 1
        except FileNotFoundError:
            pass
    return removed
