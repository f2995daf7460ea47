"""WeasyPrint with our fetcher, and fonts configured once (files: :mod:`evalsys.reports.store`).

One ``FontConfiguration`` and one parsed stylesheet per process: WeasyPrint
spends much of a small report on font set-up and CSS parsing otherwise.

WeasyPrint (and the fetcher built on it) is imported on first use: the web app and every
command import this module through the report views and jobs, and WeasyPrint's import
(Pango through cffi) is a second of CPU that only a process that renders needs.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from weasyprint import CSS
    from weasyprint.text.fonts import FontConfiguration

#: The report stylesheet (evalsys.reports.fetcher.ASSETS / "report.css").
STYLESHEET = Path(__file__).resolve().parent / "assets" / "report.css"


@cache
def font_config() -> FontConfiguration:
    from weasyprint.text.fonts import FontConfiguration

    return FontConfiguration()


@cache
def stylesheet() -> CSS:
    from weasyprint import CSS

    from evalsys.reports.fetcher import AssetFetcher

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
    from weasyprint import HTML

    from evalsys.reports.fetcher import AssetFetcher

    fetcher = AssetFetcher()
    document = HTML(string=html, base_url=base_url, url_fetcher=fetcher).render(
        stylesheets=[stylesheet()], font_config=font_config()
    )
    pdf = document.write_pdf()
    return Rendered(
        pdf, len(document.pages), hashlib.sha256(pdf).hexdigest(), tuple(fetcher.refused)
    )
