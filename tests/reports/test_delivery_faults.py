"""Report delivery when the mail server is down: retried later, none lost, none sent twice.

A real aiosmtpd server on 127.0.0.1, stopped and started again on the same port.
"""

from __future__ import annotations

import pytest
from aiosmtpd.controller import Controller

from evalsys.reports import delivery
from evalsys.reports.jobs import deliver_reports
from evalsys.reports.render import render_unit
from tests.fixtures.mail import Inbox, free_port
from tests.reports.test_delivery import TERM, _deliveries


class Server:
    """One mail server address that can go down and come back."""

    def __init__(self, inbox: Inbox) -> None:
        self.inbox = inbox
        self.port = free_port()
        self.controller: Controller | None = None

    def up(self) -> None:
        self.controller = Controller(self.inbox, hostname="127.0.0.1", port=self.port)
        self.controller.start()

    def down(self) -> None:
        if self.controller is not None:
            self.controller.stop()
            self.controller = None


@pytest.fixture
def server(app):
    server = Server(Inbox())
    app.config.update(MAIL_SERVER="127.0.0.1", MAIL_PORT=server.port, MAIL_SENDER="evalsys@test")
    yield server
    server.down()


@pytest.fixture
def queued(aggregated, session, app, factory):
    """Three people in charge of CS (one rendering keeps the test quick): three deliveries."""
    for name in ("dean_a", "dean_b", "dean_c"):
        factory.user(name, "dean@CS")
    render_unit(session, app, term_code=TERM, unit_code="CS")
    assert delivery.queue_deliveries(session, term_code=TERM) == 3
    session.commit()
    return ["dean_a@example.edu", "dean_b@example.edu", "dean_c@example.edu"]


def test_server_down_then_back_every_report_sent_once(queued, session, app, server):
    # Down: nothing listens on the port; every delivery fails, is kept, and says why.
    assert deliver_reports(session, app) == "0 sent, 3 failed"
    rows = _deliveries(session)
    assert [(d.status, d.attempts) for d in rows] == [("failed", 1)] * 3
    assert all("ConnectionRefusedError" in (d.last_error or "") for d in rows)

    # Still down at the next run: a second attempt each, still nothing lost.
    assert deliver_reports(session, app) == "0 sent, 3 failed"
    assert [d.attempts for d in _deliveries(session)] == [2, 2, 2]

    # Back: the next run sends each one, once; later runs send nothing more.
    server.up()
    assert deliver_reports(session, app) == "3 sent, 0 failed"
    assert sorted(m["To"] for m in server.inbox.messages) == queued
    assert deliver_reports(session, app) == "0 sent, 0 failed"
    assert len(server.inbox.messages) == 3
    rows = _deliveries(session)
    assert {d.status for d in rows} == {"sent"} and [d.attempts for d in rows] == [3, 3, 3]
    assert all(d.last_error is None for d in rows)


class RefusesQuit(Inbox):
    """Accepts the message, then answers QUIT with 421: a server shutting down right after."""

    async def handle_QUIT(self, server, session, envelope):  # noqa: N802
        return "421 4.3.2 shutting down"


def test_a_message_accepted_before_the_server_went_away_is_not_sent_again(
    queued, session, app, server
):
    server.inbox.__class__ = RefusesQuit
    server.up()
    assert deliver_reports(session, app) == "3 sent, 0 failed"
    assert deliver_reports(session, app) == "0 sent, 0 failed"
    assert len(server.inbox.messages) == 3
