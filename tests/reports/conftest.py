"""A small aggregated university for the report tests (the aggregation tests' generator)."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from evalsys.aggregation import service
from tests.aggregation.conftest import Uni, bare_uni, settings, uni  # noqa: F401  (fixtures)
from tests.worlds import built_once


@pytest.fixture
def aggregated(uni: Uni, session) -> Uni:  # noqa: F811
    """Both terms aggregated (the second compares with the first)."""

    def build() -> Uni:
        service.aggregate_term(session, term=uni.terms["T1"].code)
        service.aggregate_term(session, term=uni.terms["T2"].code)
        return uni

    return built_once("uni-aggregated", session, build)


@pytest.fixture
def bare_aggregated(bare_uni: Uni, session) -> Uni:  # noqa: F811
    """The tree with no records, both terms aggregated: nine short reports, for the tests
    of how reports are rendered and handed over rather than of what they say."""

    def build() -> Uni:
        service.aggregate_term(session, term=bare_uni.terms["T1"].code)
        service.aggregate_term(session, term=bare_uni.terms["T2"].code)
        return bare_uni

    return built_once("bare-uni-aggregated", session, build)


def pdf_text(path: Path) -> str:
    return subprocess.run(
        ["pdftotext", "-layout", str(path), "-"], capture_output=True, text=True, check=True
    ).stdout
