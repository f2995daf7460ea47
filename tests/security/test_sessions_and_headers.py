"""Session cookie flags, security headers, password hashes and API token storage."""

from __future__ import annotations

import hashlib
from pathlib import Path

from sqlmodel import Session, select

from evalsys import create_app
from evalsys.api.models import ApiToken
from evalsys.db import get_engine
from evalsys.security.headers import DEFAULT_HEADERS
from tests.factories import Factory

PAGES = [
    "/login",
    "/",
    "/no-such-page",
    "/api/v1/openapi.json",
    "/api/v1/feedback",
    "/static/evalsys.css",
]


def _set_cookie(response, name: str) -> str:
    found = [h for h in response.headers.getlist("Set-Cookie") if h.startswith(name + "=")]
    assert found, f"no {name} cookie set"
    return found[0]


def test_session_cookie_httponly_lax_not_secure_by_default(client, factory):
    factory.university()
    factory.user("dean", "dean@CS")
    r = client.post("/login", data={"username": "dean", "password": Factory.PASSWORD})
    assert r.status_code == 302
    cookie = _set_cookie(r, "session")
    attrs = [a.strip().lower() for a in cookie.split(";")]
    assert "httponly" in attrs and "samesite=lax" in attrs
    assert "secure" not in attrs  # plain HTTP in development would lose the session


def test_session_cookie_secure_when_configured_by_environment(
    monkeypatch, database_url: str, tmp_path: Path
):
    monkeypatch.setenv("EVALSYS_SESSION_COOKIE_SECURE", "true")
    monkeypatch.setenv("EVALSYS_DATABASE_URL", database_url)
    monkeypatch.setenv("EVALSYS_SECRET_KEY", "a-real-secret-for-this-test")
    monkeypatch.setenv("EVALSYS_INSTANCE_PATH", str(tmp_path / "instance"))
    app = create_app()
    assert app.config["SESSION_COOKIE_SECURE"] is True
    with Session(get_engine(app)) as session:
        f = Factory(session)
        f.university()
        f.user("dean", "dean@CS")
    client = app.test_client()
    # CSRF is on in this real configuration: get the form's token first.
    page = client.get("https://localhost/login").get_data(as_text=True)
    token = page.split('name="csrf_token" type="hidden" value="', 1)[1].split('"', 1)[0]
    r = client.post(
        "https://localhost/login",
        data={"username": "dean", "password": Factory.PASSWORD, "csrf_token": token},
        headers={"Referer": "https://localhost/login"},  # Flask-WTF checks it over HTTPS
    )
    assert r.status_code == 302
    attrs = [a.strip().lower() for a in _set_cookie(r, "session").split(";")]
    assert {"secure", "httponly", "samesite=lax"} <= set(attrs)
    # Over HTTPS only: browsers are told never to use plain HTTP for the site.
    assert r.headers["Strict-Transport-Security"].startswith("max-age=")
    get_engine(app).dispose()


def test_security_headers_on_every_kind_of_response(client):
    for path in PAGES:
        r = client.get(path)
        r.close()
        for name, value in DEFAULT_HEADERS.items():
            assert r.headers.get(name) == value, f"{path}: {name}"
    csp = DEFAULT_HEADERS["Content-Security-Policy"]
    assert "script-src 'self'" in csp and "unsafe-inline" not in csp
    assert "frame-ancestors 'none'" in csp and "object-src 'none'" in csp
    assert "Strict-Transport-Security" not in client.get("/login").headers  # not over HTTP


def test_security_headers_configurable(app, client):
    app.config["SECURITY_HEADERS"] = {"X-Frame-Options": "", "Referrer-Policy": "no-referrer"}
    r = client.get("/login")
    assert "X-Frame-Options" not in r.headers
    assert r.headers["Referrer-Policy"] == "no-referrer"
    assert r.headers["X-Content-Type-Options"] == "nosniff"


def test_pages_load_their_script_from_static(client, factory):
    """The one piece of page behaviour (focusing the error summary) lives in /static."""
    page = client.get("/login").get_data(as_text=True)
    assert '<script src="/static/evalsys.js" defer></script>' in page
    js = client.get("/static/evalsys.js")
    assert b'getElementById("error-summary")' in js.data
    js.close()


def test_passwords_stored_as_scrypt_hashes(factory, session, cli):
    factory.university()
    user = factory.user("newbie", "teacher@CS-SE", password="a long passphrase 1")
    stored = user.password_hash
    assert stored is not None and "a long passphrase" not in stored
    method, salt, digest = stored.split("$")
    # scrypt with n=2**15, r=8, p=1 (Werkzeug's default): memory-hard, salted per user.
    assert method == "scrypt:32768:8:1"
    assert len(salt) >= 16 and len(bytes.fromhex(digest)) == 64
    other = factory.user("other", "teacher@CS-SE", password="a long passphrase 1")
    assert other.password_hash != stored  # the salt differs


def test_api_tokens_stored_as_sha256_only(factory, session, cli):
    factory.university()
    factory.user("sup", "supervisor@CS")
    result = cli("token", "create", "sup")
    assert result.exit_code == 0, result.output
    raw = next(w for w in result.output.split() if w.startswith("evs_"))
    session.expire_all()
    row = session.exec(select(ApiToken)).one()
    assert row.token_hash == hashlib.sha256(raw.encode()).hexdigest()
    assert row.prefix == raw[:12]
    # Nothing in the table holds the token beyond the shown prefix.
    assert all(raw not in str(v) for v in row.model_dump().values())
    assert raw[12:] not in str(row.model_dump())
