"""The only way a report may load anything: the package's own assets, or a small image data URL.

WeasyPrint's default fetcher reads ``file://`` and follows ``http(s)://``: a
comment like ``<img src="file:///etc/passwd">`` or a CSS ``url()`` pointing at
an outside server would leak or fetch. Escaping already stops observer text from
becoming markup; this fetcher is the second wall, refusing whatever slips past.
"""

from __future__ import annotations

import base64
import logging
import mimetypes
from pathlib import Path
from urllib.parse import unquote, urlsplit

from weasyprint.urls import URLFetcher, URLFetcherResponse

log = logging.getLogger(__name__)

ASSETS = Path(__file__).resolve().parent / "assets"
#: Templates refer to packaged files as ``evalsys-asset:NAME``.
ASSET_SCHEME = "evalsys-asset"
#: Larger data URLs are refused: charts are inline SVG, logos are small.
MAX_DATA_URL_BYTES = 512 * 1024


class RefusedFetch(ValueError):
    """A URL the report renderer will not load. WeasyPrint logs it and renders without it."""


class AssetFetcher(URLFetcher):
    def __init__(self, assets: Path = ASSETS) -> None:
        super().__init__(timeout=1, allowed_protocols=(), allow_redirects=False)
        self.assets = assets.resolve()
        #: Every URL refused during this fetcher's life (for tests and the render log).
        self.refused: list[str] = []

    def fetch(self, url: str, headers: dict | None = None) -> URLFetcherResponse:
        scheme = url.split(":", 1)[0].lower() if ":" in url else ""
        try:
            if scheme == ASSET_SCHEME:
                return self._asset(url)
            if scheme == "data":
                return self._data(url)
            raise RefusedFetch(f"scheme {scheme or '(none)'!r} is not allowed in reports")
        except RefusedFetch as err:
            self.refused.append(url[:200])
            log.warning("report fetch refused: %s (%s)", url[:200], err)
            raise

    def _asset(self, url: str) -> URLFetcherResponse:
        name = unquote(urlsplit(url).path).lstrip("/")
        path = (self.assets / name).resolve()
        if not path.is_relative_to(self.assets) or not path.is_file():
            raise RefusedFetch(f"no packaged asset {name!r}")
        mime = mimetypes.guess_type(path.name)[0] or "application/octet-stream"
        return URLFetcherResponse(url, path.read_bytes(), {"Content-Type": mime})

    def _data(self, url: str) -> URLFetcherResponse:
        head, _, payload = url.partition(",")
        if len(payload) > MAX_DATA_URL_BYTES * 4 // 3 + 4:
            raise RefusedFetch("data URL larger than allowed")
        mime = head[5:].split(";")[0].strip().lower() or "text/plain"
        if not mime.startswith("image/"):
            raise RefusedFetch(f"data URL of type {mime!r} is not allowed")
        try:
            body = base64.b64decode(payload) if ";base64" in head else unquote(payload).encode()
        except ValueError as err:
            raise RefusedFetch("malformed data URL") from err
        if len(body) > MAX_DATA_URL_BYTES:
            raise RefusedFetch("data URL larger than allowed")
        return URLFetcherResponse(url, body, {"Content-Type": mime})
