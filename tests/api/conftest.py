"""Fixtures for API tests: the feedback world, deans, tokens, and a JSON client with a token."""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

import pytest
from flask import Flask
from sqlmodel import Session, select

from evalsys.accounts.models import User
from evalsys.api import tokens
from evalsys.feedback.inputs import FeedbackInput
from evalsys.feedback.writes import submit_feedback
from tests.factories import Factory
from tests.fixtures.feedback_world import NOW, TODAY, World


@pytest.fixture
def deans(world: World, factory: Factory) -> dict[str, User]:
    """``dean`` of CS, ``mdean`` of MATH, ``head`` of CS-SE."""
    return {
        "dean": factory.user("dean", "dean@CS"),
        "mdean": factory.user("mdean", "dean@MATH"),
        "head": factory.user("head", "head@CS-SE"),
    }


@pytest.fixture
def token_for(session: Session):
    """``token_for(username)``: a new token for the user (committed), as the client sends it."""

    def make(username: str, name: str = "") -> str:
        user = session.exec(select(User).where(User.username == username)).one()
        _, raw = tokens.create_token(session, user=user, name=name)
        session.commit()
        return raw

    return make


class Api:
    """The test client speaking JSON with a bearer token: ``api.as_("sup").post(...)``."""

    def __init__(self, client: Any, token_for: Any, session: Session) -> None:
        self.client = client
        self.token_for = token_for
        self.session = session
        self.token: str | None = None

    def _fresh(self) -> None:
        """End the test session's transaction: SQLite would keep its read snapshot."""
        self.session.commit()
        self.session.expire_all()

    def as_(self, username: str) -> Api:
        self.token = self.token_for(username)
        return self

    def headers(self, extra: dict[str, str] | None = None) -> dict[str, str]:
        out = {"Authorization": f"Bearer {self.token}"} if self.token else {}
        return out | (extra or {})

    def get(self, path: str, **kw: Any):
        self._fresh()
        response = self.client.get(path, headers=self.headers(kw.pop("headers", None)), **kw)
        self._fresh()
        return response

    def post(self, path: str, json: Any = None, **kw: Any):
        self._fresh()
        response = self.client.post(
            path, json=json, headers=self.headers(kw.pop("headers", None)), **kw
        )
        self._fresh()
        return response


@pytest.fixture
def api(client, token_for, session: Session) -> Api:
    return Api(client, token_for, session)


def body_of(data: FeedbackInput) -> dict[str, Any]:
    """A FeedbackInput as the JSON body a client sends (None fields left out)."""
    out = {k: v for k, v in asdict(data).items() if v is not None}
    out["date"] = data.date.isoformat() if data.date else None
    return out


@pytest.fixture
def stored(session: Session, world: World, make_input):
    """``stored(user, kind, **overrides)``: a record submitted through the service."""

    def make(user: User, kind: str = "spot_check", *, draft: bool = False, **overrides: Any):
        feedback = submit_feedback(
            session,
            user=user,
            data=make_input(kind, **overrides),
            draft=draft,
            today=TODAY,
            now=NOW,
        )
        session.commit()
        return feedback

    return make


@pytest.fixture
def csrf_app(database_url: str, tmp_path) -> Flask:
    """The app with CSRF protection on, as in production."""
    from evalsys import create_app
    from evalsys.db import get_engine

    app = create_app(
        {
            "TESTING": True,
            "DEFAULT_LOCALE": "en",
            "SECRET_KEY": "test-secret",
            "DATABASE_URL": database_url,
            "WTF_CSRF_ENABLED": True,
            "INSTANCE_PATH": str(tmp_path / "instance-csrf"),
        }
    )
    yield app
    get_engine(app).dispose()
