"""Security headers on every response.

The pages load scripts and styles only from ``/static`` (no inline ``<script>``,
no ``style=""`` attributes), so the Content-Security-Policy can be strict: an
injected ``<script>`` or ``<img src=...>`` that slipped past escaping would
still not run or load from elsewhere. ``SECURITY_HEADERS`` in the config may
replace or (with an empty value) drop any of them, for a proxy that sets its own.
"""

from __future__ import annotations

from urllib.parse import urlsplit

from flask import Flask, Response, current_app

#: What every response carries unless the config says otherwise.
DEFAULT_HEADERS: dict[str, str] = {
    "Content-Security-Policy": (
        "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
        "font-src 'self'; connect-src 'self'; worker-src 'self'; manifest-src 'self'; "
        "object-src 'none'; base-uri 'none'; "
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
    origin = _provider_origin(str(current_app.config.get("OIDC_ISSUER") or ""))
    csp = headers.get("Content-Security-Policy", "")
    if origin and "form-action 'self'" in csp:
        # The logout form's answer sends an SSO user on to the provider's end-session
        # page (RP-initiated logout); browsers apply form-action to that redirect too.
        headers["Content-Security-Policy"] = csp.replace(
            "form-action 'self'", f"form-action 'self' {origin}"
        )
    if current_app.config.get("SESSION_COOKIE_SECURE"):
        # Served over HTTPS only: tell browsers never to try plain HTTP again.
        headers.setdefault("Strict-Transport-Security", "max-age=31536000")
    return headers


def _provider_origin(issuer: str) -> str | None:
    """``scheme://host[:port]`` of the OpenID Connect issuer, or None (none, or malformed:
    nothing unchecked goes into the policy)."""
    parts = urlsplit(issuer.strip())
    if parts.scheme not in ("http", "https") or not parts.netloc:
        return None
    if any(c in parts.netloc for c in " ;,'\"") or "@" in parts.netloc:
        return None
    return f"{parts.scheme}://{parts.netloc}"


def _add_headers(response: Response) -> Response:
    for name, value in security_headers().items():
        response.headers.setdefault(name, value)
    return response


def init_app(app: Flask) -> None:
    app.after_request(_add_headers)
