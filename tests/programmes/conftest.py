"""The loop's small university (tests/loop/conftest.py): CS-SE's course SE1 is weak in T1."""

from tests.loop.conftest import people, world

__all__ = ["people", "world"]
