"""Single sign-on with OpenID Connect, through Authlib.

The authorization-code flow with PKCE (S256); Authlib keeps ``state``, ``nonce`` and the
code verifier in the signed session cookie between the two legs, and checks the ID
token's signature (the provider's published keys), issuer, audience, expiry and nonce.
What this module adds is the university's side of it: the provider's discovery document
must name the issuer the site configured (no mix-up with another provider), the claim
that names the user is taken from the ID token or else the userinfo answer of the same
subject, and that name maps to an **existing** user only (:func:`signin.find_user`).

Faults are sorted into two kinds the views answer differently: :class:`Unavailable` (the
provider is down, slow or answers garbage: try again later, the password login still
works where it is on) and :class:`Refused` (an answer that fails a check: someone may be
tampering, so it is audited).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

import requests
from authlib.common.errors import AuthlibBaseError
from authlib.integrations.flask_client import OAuth
from flask import Flask, current_app
from joserfc.errors import JoseError

#: The name of the client in Authlib's registry (one provider per site).
CLIENT = "sso"
#: Where the app keeps its Authlib registry.
_EXTENSION = "evalsys.oidc"
#: Where the ID token of an SSO session waits for logout (RP-initiated logout's hint).
ID_TOKEN_KEY = "_oidc_id_token"


class SsoError(Exception):
    """Single sign-on did not complete; ``reason`` is for the audit log, not for users."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class Unavailable(SsoError):
    """The provider could not be reached, was too slow, or answered something unusable."""


class Refused(SsoError):
    """An answer failed a check (state, nonce, signature, audience, issuer): audited."""


class Cancelled(SsoError):
    """The provider sent the user back with an error (they cancelled, or it refused them)."""


@dataclass(frozen=True)
class Identity:
    """Who the provider says signed in: its subject and the value that names our user."""

    subject: str
    value: str
    id_token: str


def configured(config: Mapping[str, Any]) -> bool:
    return bool(str(config.get("OIDC_ISSUER") or "").strip())


def issuer(config: Mapping[str, Any]) -> str:
    return str(config.get("OIDC_ISSUER") or "").strip().rstrip("/")


def _client() -> Any:
    """The app's Authlib client (``FlaskOAuth2App``; Authlib ships no type hints), made at
    the first SSO request rather than at start-up: a site without SSO never builds one,
    and one that has it does not reach for the provider before anyone signs in."""
    app: Flask = current_app._get_current_object()  # type: ignore[attr-defined]  # proxy
    oauth = app.extensions.get(_EXTENSION)
    if oauth is None:
        oauth = app.extensions[_EXTENSION] = _register(app)
    return oauth.create_client(CLIENT)


def _register(app: Flask) -> OAuth:
    oauth = OAuth(app)
    oauth.register(
        CLIENT,
        client_id=app.config["OIDC_CLIENT_ID"],
        client_secret=app.config["OIDC_CLIENT_SECRET"],
        server_metadata_url=issuer(app.config) + "/.well-known/openid-configuration",
        client_kwargs={
            "scope": app.config["OIDC_SCOPES"],
            "code_challenge_method": "S256",
            "timeout": app.config["OIDC_TIMEOUT_SECONDS"],
        },
    )
    return oauth


#: What a provider that is down, slow or talking nonsense raises somewhere in Authlib.
_UNREACHABLE = (requests.RequestException, ValueError, KeyError, TypeError, RuntimeError)


def _metadata() -> dict[str, Any]:
    """The discovery document, read once per process and kept (Authlib caches it).

    Its issuer must be the configured one: a document naming another issuer is either a
    misconfiguration or a mix-up attack, and tokens would be checked against the wrong one.
    """
    client = _client()
    try:
        metadata = client.load_server_metadata()
    except _UNREACHABLE as exc:
        raise Unavailable(f"discovery failed: {type(exc).__name__}: {exc}"[:300]) from exc
    if not isinstance(metadata, dict):
        raise Unavailable("discovery answered something that is not a JSON object")
    found = str(metadata.get("issuer", "")).rstrip("/")
    if found != issuer(current_app.config):
        # Forget it, so that a corrected provider is read again at the next login.
        client.server_metadata.pop("_loaded_at", None)
        raise Unavailable(f"discovery names issuer {found!r}, not the configured one")
    for key in ("authorization_endpoint", "token_endpoint", "jwks_uri"):
        if not isinstance(metadata.get(key), str):
            client.server_metadata.pop("_loaded_at", None)
            raise Unavailable(f"discovery document has no {key}")
    return metadata


def authorize_redirect(redirect_uri: str, *, locale: str | None) -> Any:
    """The redirect to the provider's login (state, nonce and PKCE kept in the session)."""
    _metadata()
    extra = {"ui_locales": locale} if locale else {}
    try:
        return _client().authorize_redirect(redirect_uri, **extra)
    except _UNREACHABLE as exc:
        raise Unavailable(f"authorization request failed: {exc}"[:300]) from exc


def complete() -> Identity:
    """Read the provider's answer on the callback: the checked identity, or an SsoError."""
    config = current_app.config
    client = _client()
    _metadata()
    try:
        token = client.authorize_access_token()
    except AuthlibBaseError as exc:
        error = getattr(exc, "error", "") or ""
        if error == "mismatching_state":
            raise Refused("state missing or not the one this browser was sent with") from exc
        if error in {"access_denied", "login_required", "consent_required", "interaction_required"}:
            raise Cancelled(f"provider answered {error}") from exc
        if error in {"invalid_grant", "invalid_client", "unauthorized_client"}:
            raise Refused(f"token endpoint refused the code: {error}") from exc
        if error in {"invalid_claim", "missing_claim", "invalid_token", "expired_token"}:
            raise Refused(f"ID token refused: {exc}"[:300]) from exc
        raise Unavailable(f"provider error: {exc}"[:300]) from exc
    except JoseError as exc:
        raise Refused(f"ID token refused: {type(exc).__name__}: {exc}"[:300]) from exc
    except _UNREACHABLE as exc:
        raise Unavailable(f"token request failed: {type(exc).__name__}: {exc}"[:300]) from exc
    if not isinstance(token, dict) or "id_token" not in token or "userinfo" not in token:
        raise Refused("the token answer carries no ID token")
    claims: Mapping[str, Any] = token["userinfo"]
    subject = str(claims.get("sub") or "")
    if not subject:
        raise Refused("the ID token names no subject")
    claim = str(config["OIDC_USER_CLAIM"])
    value = claims.get(claim)
    if value is None:
        value = _from_userinfo(client, token, subject, claim)
    if claim == "email" and _unverified(claims):
        raise Refused("the provider says the email address is not verified")
    if not isinstance(value, str) or not value.strip():
        raise Refused(f"the provider's answer has no usable {claim!r} claim")
    return Identity(subject=subject, value=value.strip(), id_token=str(token["id_token"]))


def _unverified(claims: Mapping[str, Any]) -> bool:
    return claims.get("email_verified") is False


def _from_userinfo(client: Any, token: dict[str, Any], subject: str, claim: str) -> Any:
    """The claim from the userinfo endpoint, for providers that keep ID tokens small.

    The answer must be about the same subject as the ID token (OpenID Connect Core
    5.3.2): otherwise a userinfo answer could name someone else.
    """
    try:
        info = client.userinfo(token=token)
    except _UNREACHABLE as exc:
        raise Unavailable(f"userinfo request failed: {exc}"[:300]) from exc
    except AuthlibBaseError as exc:
        raise Unavailable(f"userinfo refused: {exc}"[:300]) from exc
    if str(info.get("sub") or "") != subject:
        raise Refused("the userinfo answer is about another subject")
    if claim == "email" and _unverified(info):
        raise Refused("the provider says the email address is not verified")
    return info.get(claim)


def logout_url(id_token: str, post_logout_redirect_uri: str) -> str | None:
    """The provider's end-session address for this ID token, or None where it offers none
    (or cannot be asked just now: the evalsys session has ended either way)."""
    try:
        metadata = _metadata()
    except Unavailable:
        return None
    endpoint = metadata.get("end_session_endpoint")
    if not isinstance(endpoint, str) or not endpoint:
        return None
    query = urlencode(
        {
            "id_token_hint": id_token,
            "post_logout_redirect_uri": post_logout_redirect_uri,
            "client_id": current_app.config["OIDC_CLIENT_ID"],
        }
    )
    return endpoint + ("&" if "?" in endpoint else "?") + query


def button_label(config: Mapping[str, Any], locale: str) -> str | None:
    """The site's text for the SSO button in ``locale``; None: the generic text."""
    labels = config.get("OIDC_LABEL") or {}
    label = labels.get(locale) if isinstance(labels, Mapping) else None
    return str(label) if label else None


@dataclass
class ProviderCheck:
    """What ``evalsys sso-check`` found: facts to show, and problems that stop SSO."""

    facts: list[tuple[str, str]]
    problems: list[str]
    warnings: list[str]


def check_provider(config: Mapping[str, Any]) -> ProviderCheck:
    """Read the provider's discovery document and keys afresh, as a login would, and say
    what would go wrong: for the office setting SSO up, before anyone tries to sign in."""
    facts: list[tuple[str, str]] = []
    problems: list[str] = []
    warnings: list[str] = []
    result = ProviderCheck(facts, problems, warnings)
    if not configured(config):
        problems.append("OIDC_ISSUER is not set: there is no single sign-on")
        return result
    for name in ("OIDC_CLIENT_ID", "OIDC_CLIENT_SECRET"):
        if not str(config.get(name) or "").strip():
            problems.append(f"{name} is not set")
    timeout = float(config.get("OIDC_TIMEOUT_SECONDS") or 10)
    url = issuer(config) + "/.well-known/openid-configuration"
    facts.append(("discovery", url))
    try:
        answer = requests.get(url, timeout=timeout)
        answer.raise_for_status()
        metadata = answer.json()
    except (requests.RequestException, ValueError) as exc:
        problems.append(f"the discovery document could not be read: {exc}")
        return result
    if not isinstance(metadata, dict):
        problems.append("the discovery document is not a JSON object")
        return result
    found = str(metadata.get("issuer", "")).rstrip("/")
    if found != issuer(config):
        problems.append(f"the provider calls itself {found!r}, not OIDC_ISSUER {issuer(config)!r}")
    for key in ("authorization_endpoint", "token_endpoint", "jwks_uri"):
        if isinstance(metadata.get(key), str):
            facts.append((key, metadata[key]))
        else:
            problems.append(f"the discovery document has no {key}")
    methods = metadata.get("code_challenge_methods_supported")
    if isinstance(methods, list) and "S256" not in methods:
        problems.append("the provider does not offer PKCE with S256")
    scopes = str(config.get("OIDC_SCOPES") or "").split()
    offered = metadata.get("scopes_supported")
    if isinstance(offered, list):
        missing = [s for s in scopes if s not in offered]
        if missing:
            warnings.append(f"scopes the provider does not list: {', '.join(missing)}")
    claim = str(config.get("OIDC_USER_CLAIM") or "")
    claims = metadata.get("claims_supported")
    if isinstance(claims, list) and claim not in claims:
        warnings.append(f"the provider does not list the claim {claim!r} (OIDC_USER_CLAIM)")
    if isinstance(metadata.get("jwks_uri"), str):
        try:
            keys = requests.get(metadata["jwks_uri"], timeout=timeout).json().get("keys")
        except (requests.RequestException, ValueError, AttributeError) as exc:
            problems.append(f"the provider's keys could not be read: {exc}")
        else:
            if not isinstance(keys, list) or not keys:
                problems.append("the provider publishes no signing keys")
            else:
                facts.append(("signing keys", str(len(keys))))
    end = metadata.get("end_session_endpoint")
    if isinstance(end, str) and end:
        facts.append(("end_session_endpoint", end))
    else:
        warnings.append(
            "the provider offers no end_session_endpoint: logging out of evalsys leaves "
            "the user signed in at the provider"
        )
    return result
