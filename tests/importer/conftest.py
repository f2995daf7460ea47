"""Fixtures for the import tests: feedback.csv rows need the feedback tests' small university."""

from __future__ import annotations

from tests.feedback.conftest import World, world

__all__ = ["World", "world"]
