"""Behind a reverse proxy: X-Forwarded-* honoured only when configured; /healthz."""

from __future__ import annotations

import pytest
from flask import Flask, request

from evalsys import create_app
from evalsys.accounts.access import public
from evalsys.db import get_engine

FORWARDED = {
    "X-Forwarded-For": "203.0.113.7",
    "X-Forwarded-Proto": "https",
    "X-Forwarded-Host": "evalsys.example.edu",
}


def _app(database_url: str, tmp_path, **config) -> Flask:
    app = create_app(
        {
            "TESTING": True,
            "DEFAULT_LOCALE": "en",
            "SECRET_KEY": "test-secret",
            "DATABASE_URL": database_url,
            "INSTANCE_PATH": str(tmp_path / "instance"),
            **config,
        }
    )

    @public
    def seen():
        # What the app believes about the request, as url_for(_external=True) will use it.
        return {
            "scheme": request.scheme,
            "host": request.host,
            "remote_addr": request.remote_addr,
            "external": request.url_root,
        }

    app.add_url_rule("/_seen", "seen", seen)
    return app


@pytest.fixture
def make_app(database_url, tmp_path):
    made: list[Flask] = []

    def make(**config) -> Flask:
        app = _app(database_url, tmp_path, **config)
        made.append(app)
        return app

    yield make
    for app in made:
        get_engine(app).dispose()


def test_forwarded_headers_are_ignored_by_default(make_app):
    """A client talking to the app directly cannot pretend to be on HTTPS or another host."""
    seen = make_app().test_client().get("/_seen", headers=FORWARDED).get_json()
    assert seen == {
        "scheme": "http",
        "host": "localhost",
        "remote_addr": "127.0.0.1",
        "external": "http://localhost/",
    }


def test_forwarded_headers_are_honoured_when_configured(make_app):
    app = make_app(PROXY_FIX_X_FOR=1, PROXY_FIX_X_PROTO=1, PROXY_FIX_X_HOST=1)
    seen = app.test_client().get("/_seen", headers=FORWARDED).get_json()
    assert seen == {
        "scheme": "https",
        "host": "evalsys.example.edu",
        "remote_addr": "203.0.113.7",
        "external": "https://evalsys.example.edu/",
    }


def test_only_the_configured_headers_and_hops_are_trusted(make_app):
    """Proto trusted, host not; with one proxy, only the address that proxy appended counts."""
    app = make_app(PROXY_FIX_X_FOR=1, PROXY_FIX_X_PROTO=1)
    headers = FORWARDED | {"X-Forwarded-For": "6.6.6.6, 198.51.100.2"}  # client forged the first
    seen = app.test_client().get("/_seen", headers=headers).get_json()
    assert (seen["scheme"], seen["host"], seen["remote_addr"]) == (
        "https",
        "localhost",
        "198.51.100.2",
    )


def test_proxy_settings_come_from_the_environment(database_url, tmp_path, monkeypatch):
    """EVALSYS_PROXY_FIX_X_PROTO=1 reaches ProxyFix as a number, as a deployment sets it."""
    monkeypatch.setenv("EVALSYS_PROXY_FIX_X_PROTO", "1")
    monkeypatch.setenv("EVALSYS_DATABASE_URL", database_url)
    monkeypatch.setenv("EVALSYS_SECRET_KEY", "env-secret")
    monkeypatch.setenv("EVALSYS_INSTANCE_PATH", str(tmp_path / "envinstance"))
    app = create_app()
    try:
        response = app.test_client().get("/healthz", headers=FORWARDED)
        assert response.status_code == 200
        assert type(app.wsgi_app).__name__ == "ProxyFix"
        assert app.wsgi_app.x_proto == 1 and app.wsgi_app.x_host == 0
    finally:
        get_engine(app).dispose()


def test_healthz_is_public_and_touches_the_database(client, app):
    response = client.get("/healthz")
    assert response.status_code == 200
    assert response.get_json() == {"status": "ok"}
    assert response.headers["Cache-Control"] == "no-store"


def test_healthz_says_503_when_the_database_is_gone(database_url, tmp_path):
    app = _app("sqlite:///" + str(tmp_path / "no" / "such" / "dir.sqlite3"), tmp_path)
    try:
        response = app.test_client().get("/healthz")
        assert response.status_code == 503
        assert response.get_json() == {"status": "database unavailable"}
    finally:
        get_engine(app).dispose()
