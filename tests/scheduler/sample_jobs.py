"""Jobs the scheduler tests register in real scheduler processes."""

from __future__ import annotations

import time


def slow_count(session, app) -> str:
    # Long enough that two schedulers running it would overlap visibly.
    time.sleep(0.5)
    return "counted"


def fail(session, app) -> str:
    raise RuntimeError("deliberate failure for the test")
