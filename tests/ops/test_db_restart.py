"""PostgreSQL restarted under the app: the next requests succeed (pool pre-ping).

The PostgreSQL server here is shared by every test run on the machine, so the
test cannot restart it. What a restart does to the app is close every server
connection its pools hold; ``pg_terminate_backend`` on each backend connected
to the test database does exactly that, from the server side, while the server
stays up for everyone else. The app sees the same thing as after a restart:
pooled connections whose other end is gone. (What it does not simulate is the
seconds while the server is down; a request then gets an error page, and
``/healthz`` a 503, as tests/ops/test_proxy_and_health.py shows.)
"""

from __future__ import annotations

import http.client
import json
import os

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.exc import OperationalError

from bench.load_bench import gunicorn
from evalsys.api import tokens

pytestmark = pytest.mark.skipif(
    not os.environ.get("EVALSYS_TEST_DATABASE_URL"), reason="needs PostgreSQL"
)

TERMINATE = text(
    "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
    "WHERE datname = current_database() AND pid <> pg_backend_pid()"
)
BACKENDS = text(
    "SELECT pid FROM pg_stat_activity WHERE datname = current_database() "
    "AND pid <> pg_backend_pid()"
)


def _get(port: int, path: str, token: str | None = None) -> tuple[int, bytes]:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    try:
        conn.request("GET", path, headers={"Authorization": f"Bearer {token}"} if token else {})
        response = conn.getresponse()
        return response.status, response.read()
    finally:
        conn.close()


def test_terminated_connections_break_an_engine_without_pre_ping(database_url):
    """The simulation is a real fault: a pool without pre-ping hands out a dead connection."""
    engine = create_engine(database_url, pool_pre_ping=False)
    admin = create_engine(database_url)
    try:
        with engine.connect() as conn:
            conn.execute(text("SELECT 1"))
        with admin.connect() as conn:
            assert conn.execute(TERMINATE).all()
        with pytest.raises(OperationalError), engine.connect() as conn:
            conn.execute(text("SELECT 1"))
    finally:
        engine.dispose()
        admin.dispose()


def test_requests_succeed_after_every_connection_was_cut(database_url, session, factory, tmp_path):
    factory.university()
    user = factory.user("dean", "dean@CS")
    _, token = tokens.create_token(session, user=user, name="restart test")
    session.commit()
    session.close()
    admin = create_engine(database_url)
    try:
        with gunicorn(database_url, workers=2, instance=tmp_path / "instance") as port:
            # Warm both workers' pools with data-reading requests.
            for _ in range(20):
                assert _get(port, "/healthz")[0] == 200
                status, body = _get(port, "/api/v1/feedback", token)
                assert status == 200, body
            with admin.connect() as conn:
                before = {row.pid for row in conn.execute(BACKENDS)}
                assert before, "the workers hold pooled connections"
                cut = conn.execute(TERMINATE).scalars().all()
                assert cut and all(cut)

            for _ in range(20):
                status, body = _get(port, "/healthz")
                assert status == 200, body
                status, body = _get(port, "/api/v1/feedback", token)
                assert status == 200, body
                assert json.loads(body)["total"] == 0  # the token checked, the list queried
            with admin.connect() as conn:
                after = {row.pid for row in conn.execute(BACKENDS)}
            assert after and not (after & before), "the workers reconnected with new backends"
    finally:
        admin.dispose()
