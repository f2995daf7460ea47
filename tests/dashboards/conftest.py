"""The aggregation tests' generated university, aggregated, with one user per dashboard."""

from __future__ import annotations

import pytest
from sqlmodel import Session

from evalsys.aggregation import service
from tests.fixtures.universities import Uni
from tests.worlds import built_once


@pytest.fixture
def aggregated(uni: Uni, session: Session) -> Uni:
    """Both terms aggregated; deans of CS and MATH, a head, admins of the school and of CS.

    Built once per test process on the generated university (:mod:`tests.worlds`)."""

    def build() -> Uni:
        f = uni.factory
        f.user("dean", "dean@CS")
        f.user("mdean", "dean@MATH")
        f.user("head", "head@CS-SE")
        f.user("boss", "admin@U")
        f.user("csadmin", "admin@CS")
        for term in uni.terms.values():
            service.aggregate_term(session, term=term.code)
        return uni

    return built_once("dashboards-aggregated", session, build, on="uni")
