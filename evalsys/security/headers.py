"""Security headers on every response.

The pages load scripts and styles only from ``/static`` (no inline ``<script>``,
no ``style=""`` attributes), so the Content-Security-Policy can be strict: an
injected ``<script>`` or ``<img src=...>`` that slipped past escaping would
still not run or load from elsewhere. ``SECURITY_HEADERS`` in the config may
replace or (with an empty value) drop any of them, for a proxy that sets its own.
"""

from __future__ import annotations

from flask import Flask, Response, current_app

#: What every response carries unless the config says otherwise.
DEFAULT_HEADERS: dict[str, str] = {
    "Content-Security-Policy": (
        "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
        "font-src 'self'; connect-src 'self'; object-src 'none'; base-uri 'none'; "
        "form-action 'self'; frame-ancestors 'none'"
    ),
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "same-origin",
    "Cross-Origin-Opener-Policy": "same-origin",
    "Permissions-Policy": "camera=(), microphone=(), geolocation=(), payment=()",
}


def security_headers() -> dict[str, str]:
    headers = dict(DEFAULT_HEADERS)
    for name, value in (current_app.config.get("SECURITY_HEADERS") or {}).items():
        if value:
            headers[name] = value
        else:
            headers.pop(name, None)
    if current_app.config.get("SESSION_COOKIE_SECURE"):
        # Served over HTTPS only: tell browsers never to try plain HTTP again.
        headers.setdefault("Strict-Transport-Security", "max-age=31536000")
    return headers


def _add_headers(response: Response) -> Response:
    for name, value in security_headers().items():
        response.headers.setdefault(name, value)
    return response


def init_app(app: Flask) -> None:
    app.after_request(_add_headers)
