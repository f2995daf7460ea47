"""Single sign-on against a provider that misbehaves: down, garbage, or hostile tokens.

A certified provider cannot be made to sign an ID token for another client, with a wrong
nonce or issuer, or with a key it does not publish; a provider taken over or a
man in the middle can. :class:`HostileProvider` is such a provider, on loopback, serving
the discovery document, keys and token answers each test asks for (real HTTP, real
signatures: the app under test cannot tell it from a real one). One control test shows
it signs a good token the app accepts, so each refusal below is the check's doing.
"""

from __future__ import annotations

import json
import re
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

import pytest
from joserfc import jwt
from joserfc.jwk import RSAKey
from sqlmodel import select

from evalsys.accounts.models import AuditEvent
from tests.fixtures.mail import free_port


class HostileProvider:
    def __init__(self) -> None:
        self.port = free_port()
        self.issuer = f"http://127.0.0.1:{self.port}"
        self.key = RSAKey.generate_key(2048, parameters={"kid": "k1"})
        self.signing_key = self.key
        self.discovery = "ok"  # ok | html | 500 | wrong-issuer | no-endpoints
        self.token = "ok"  # ok | html
        self.claims: dict = {}
        provider = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args) -> None:
                pass

            def _send(self, status: int, body: str, kind: str = "application/json") -> None:
                data = body.encode()
                self.send_response(status)
                self.send_header("Content-Type", kind)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def do_GET(self) -> None:  # noqa: N802
                if self.path == "/.well-known/openid-configuration":
                    return provider.send_discovery(self)
                if self.path == "/jwks":
                    return self._send(
                        200, json.dumps({"keys": [provider.key.as_dict(private=False)]})
                    )
                return self._send(404, "{}")

            def do_POST(self) -> None:  # noqa: N802
                self.rfile.read(int(self.headers.get("Content-Length") or 0))
                if self.path != "/token":
                    return self._send(404, "{}")
                if provider.token == "html":
                    return self._send(200, "<html>Service Unavailable</html>", "text/html")
                id_token = jwt.encode(
                    {"alg": "RS256", "kid": provider.signing_key.kid},
                    provider.claims,
                    provider.signing_key,
                )
                answer = {"access_token": "at", "token_type": "Bearer", "id_token": id_token}
                return self._send(200, json.dumps(answer))

        self.handler = Handler
        self.server = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def send_discovery(self, handler) -> None:
        if self.discovery == "html":
            return handler._send(200, "<html><body>Login portal</body></html>", "text/html")
        if self.discovery == "500":
            return handler._send(500, "{}")
        document = {
            "issuer": "http://idp.elsewhere.example"
            if self.discovery == "wrong-issuer"
            else self.issuer,
            "authorization_endpoint": self.issuer + "/auth",
            "token_endpoint": self.issuer + "/token",
            "jwks_uri": self.issuer + "/jwks",
            "id_token_signing_alg_values_supported": ["RS256"],
        }
        if self.discovery == "no-endpoints":
            document = {"issuer": self.issuer}
        return handler._send(200, json.dumps(document))

    def good_claims(self, sent_nonce: str, changes: dict) -> dict:
        now = int(time.time())
        claims = {
            "iss": self.issuer,
            "aud": "evalsys",
            "sub": "s-1",
            "nonce": sent_nonce,
            "iat": now,
            "exp": now + 300,
            "preferred_username": "dean_cs",
        }
        return {**claims, **changes}

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def hostile(app):
    provider = HostileProvider()
    app.config.update(
        OIDC_ISSUER=provider.issuer,
        OIDC_CLIENT_ID="evalsys",
        OIDC_CLIENT_SECRET="s3cret",
        BASE_URL="http://localhost",
        OIDC_TIMEOUT_SECONDS=3,
    )
    yield provider
    provider.close()


@pytest.fixture
def dean(factory):
    factory.university()
    return factory.user("dean_cs", "dean@CS", name="李院长")


def last_audit(session, action: str) -> AuditEvent | None:
    session.commit()
    stmt = select(AuditEvent).where(AuditEvent.action == action).order_by(AuditEvent.id.desc())
    return session.exec(stmt).first()


def callback_with(client, hostile, **changes):
    """Start a login, let the hostile provider sign ``changes`` into the ID token, and
    bring the browser back with a code, as the provider would."""
    start = client.get("/login/sso")
    assert start.status_code == 302, start.get_data(as_text=True)
    query = parse_qs(urlsplit(start.headers["Location"]).query)
    hostile.claims = hostile.good_claims(query["nonce"][0], changes)
    return client.get(f"/login/sso/callback?code=c0de&state={query['state'][0]}")


def test_control_a_good_token_logs_in(client, session, hostile, dean):
    done = callback_with(client, hostile)
    assert done.status_code == 302 and done.headers["Location"] == "/"
    assert last_audit(session, "login").user_id == dean.id


@pytest.mark.parametrize(
    ("changes", "why"),
    [
        ({"aud": "other-app"}, "aud|azp"),
        ({"nonce": "not-the-one-sent"}, "nonce"),
        ({"iss": "http://idp.elsewhere.example"}, "iss"),
        ({"exp": int(time.time()) - 3600, "iat": int(time.time()) - 7200}, "exp"),
    ],
    ids=["another-client", "wrong-nonce", "wrong-issuer", "expired"],
)
def test_a_bad_id_token_is_refused_and_audited(client, session, hostile, dean, changes, why):
    done = callback_with(client, hostile, **changes)
    assert done.status_code == 400
    assert "failed a security check" in done.get_data(as_text=True)
    event = last_audit(session, "login.sso_refused")
    assert event is not None and re.search(why, event.detail)
    assert last_audit(session, "login") is None
    assert client.get("/").status_code == 302


def test_a_token_signed_with_an_unpublished_key_is_refused(client, session, hostile, dean):
    hostile.signing_key = RSAKey.generate_key(2048, parameters={"kid": "k1"})  # same kid
    done = callback_with(client, hostile)
    assert done.status_code == 400
    assert last_audit(session, "login.sso_refused") is not None
    assert last_audit(session, "login") is None


@pytest.mark.parametrize("mode", ["html", "500", "wrong-issuer", "no-endpoints"])
def test_a_provider_answering_garbage_gets_a_clear_error(client, session, hostile, dean, mode):
    hostile.discovery = mode
    answer = client.get("/login/sso")
    assert answer.status_code == 503
    assert "cannot be reached just now" in answer.get_data(as_text=True)
    assert last_audit(session, "login.sso_unavailable") is not None


def test_a_token_endpoint_answering_garbage(client, session, hostile, dean):
    hostile.token = "html"
    done = callback_with(client, hostile)
    assert done.status_code == 503
    assert last_audit(session, "login") is None


def test_a_provider_that_is_down_leaves_password_login_working(client, session, app, auth, dean):
    app.config.update(
        OIDC_ISSUER=f"http://127.0.0.1:{free_port()}",  # nothing listens there
        OIDC_CLIENT_ID="evalsys",
        OIDC_CLIENT_SECRET="s3cret",
        OIDC_TIMEOUT_SECONDS=3,
    )
    answer = client.get("/login/sso")
    assert answer.status_code == 503
    page = answer.get_data(as_text=True)
    assert "cannot be reached just now" in page and 'name="password"' in page
    assert "ConnectionError" in last_audit(session, "login.sso_unavailable").detail
    assert auth.login("dean_cs").status_code == 302
    assert client.get("/").status_code == 200
