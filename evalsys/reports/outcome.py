"""What rendering one report came to: below the renderer and the queue, which both make them."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Outcome:
    unit: str
    locale: str
    #: "rendered", "unchanged" or "failed"; "queued" for a job left on the report queue;
    #: "skipped" for a unit deleted after the run listed it (``error`` says so).
    status: str
    path: str | None = None
    pages: int = 0
    seconds: float = 0.0
    error: str | None = None
    report_id: int | None = None
