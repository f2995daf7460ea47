"""The aggregation tests' generated university, aggregated, with one user per dashboard."""

from __future__ import annotations

import pytest

from evalsys.aggregation import service
from tests.aggregation.conftest import bare_uni, settings, uni

__all__ = ["bare_uni", "settings", "uni"]


@pytest.fixture
def aggregated(uni, session):
    """Both terms aggregated; deans of CS and MATH, a head, admins of the school and of CS."""
    f = uni.factory
    f.user("dean", "dean@CS")
    f.user("mdean", "dean@MATH")
    f.user("head", "head@CS-SE")
    f.user("boss", "admin@U")
    f.user("csadmin", "admin@CS")
    for term in uni.terms.values():
        service.aggregate_term(session, term=term.code)
    return uni
