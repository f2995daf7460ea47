"""Request bodies without a Content-Length (chunked) held to MAX_CONTENT_LENGTH too.

Werkzeug refuses a body whose declared length is too large, but a chunked body
is only cut at the limit when read, silently: a JSON document or a form would
arrive truncated and be refused as malformed (400) or, worse, parsed in part.
This hook reads such a body first (at most the limit plus one byte, so memory
stays bounded) and answers 413 when it does not fit; the form parser and the
API then read the cached copy.
"""

from __future__ import annotations

from flask import Flask, abort, current_app, request


def refuse_oversized_chunked_body() -> None:
    limit = current_app.config.get("MAX_CONTENT_LENGTH")
    if limit is None or request.content_length is not None:
        return
    if not request.environ.get("wsgi.input_terminated"):
        return  # no length and not terminated: Werkzeug reads no body at all
    data = request.get_data(cache=True)
    if len(data) >= limit:
        abort(413)


def init_app(app: Flask) -> None:
    # First of all hooks: CSRF protection parses the form before any hook added later.
    app.before_request_funcs.setdefault(None, []).insert(0, refuse_oversized_chunked_body)
