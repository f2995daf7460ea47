"""WeasyPrint with our fetcher, and fonts configured once (files: :mod:`evalsys.reports.store`).

One ``FontConfiguration`` and one parsed stylesheet per process: WeasyPrint
spends much of a small report on font set-up and CSS parsing otherwise.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from functools import cache

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
