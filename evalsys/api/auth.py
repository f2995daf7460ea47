"""Bearer-token authentication for the API, and its JSON error answers.

Views declare ``@token_required`` (:mod:`evalsys.accounts.access`); the access
hook then calls :func:`authenticate_request`. The API is stateless: the user is
set on ``flask.g`` for this request only, never logged in, so no session cookie
is ever set. Views read the caller with :func:`api_user`.
"""

from __future__ import annotations

from typing import Any

from flask import Response, g, jsonify, request

from evalsys.accounts.models import User
from evalsys.api import tokens
from evalsys.db import get_session

#: The realm named in ``WWW-Authenticate`` challenges.
REALM = "evalsys API"


def error_response(status: int, message: str, **extra: Any) -> Response:
    """The API's one error shape: ``{"error": message, "status": status, ...extra}``."""
    response = jsonify({"error": message, "status": status, **extra})
    response.status_code = status
    return response


def unauthorized(message: str, *, invalid_token: bool) -> Response:
    response = error_response(401, message)
    challenge = f'Bearer realm="{REALM}"'
    if invalid_token:  # RFC 6750: a token was sent but is no good
        challenge += ', error="invalid_token"'
    response.headers["WWW-Authenticate"] = challenge
    return response


def authenticate_request() -> Response | None:
    """Accept a live bearer token (None: go on) or answer 401."""
    scheme, _, value = request.headers.get("Authorization", "").strip().partition(" ")
    value = value.strip()
    if scheme.lower() != "bearer" or not value:
        return unauthorized(
            "authentication required: send 'Authorization: Bearer TOKEN' "
            "(create a token with `evalsys token create USERNAME`)",
            invalid_token=False,
        )
    session = get_session()
    found = tokens.find_token(session, value)
    if found is None:
        return unauthorized("the token is unknown or revoked", invalid_token=True)
    token, user = found
    if tokens.note_use(session, token):
        session.commit()
    g.api_user = user
    g.api_token_id = token.id
    return None


def api_user() -> User:
    """The user whose token authenticated this request (in a ``@token_required`` view)."""
    user = g.get("api_user")
    if not isinstance(user, User):
        raise RuntimeError("api_user() outside a @token_required view")
    return user
