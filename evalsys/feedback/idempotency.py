"""Idempotency keys bound to the request they came with (the IETF httpapi Idempotency-Key draft).

A record stored under an idempotency key keeps, beside the key, a digest of the
request that stored it (:func:`body_digest`). A later request by the same
observer with the same key is then either the same request again — a retry,
answered with the stored record — or another request that reuses the key by
mistake (:class:`IdempotencyKeyReused`), which must not be answered with a
record that is not what it asked for, nor silently dropped. A key whose first
request is still in flight (its transaction not yet committed) is
:class:`IdempotencyKeyInFlight` when the caller gave a bound on the wait.

A digest is compared only when both sides have one: records stored before
digests existed, and callers that pass none (the web form, which has its own
resubmission handling; the CSV import and the demo, whose keys are already
hashes of their content), keep the older rule — the same key is the same record.
"""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from datetime import timedelta
from typing import Any

from sqlalchemy import text
from sqlalchemy.exc import OperationalError
from sqlmodel import Session

from evalsys.feedback.inputs import FeedbackError

#: PostgreSQL's SQLSTATE for ``lock_timeout`` expiring (lock_not_available).
LOCK_NOT_AVAILABLE = "55P03"


def body_digest(body: Mapping[str, Any]) -> str:
    """SHA-256 (hex) of the parsed request body as canonical JSON.

    Keys sorted, no whitespace, ASCII escapes, and top-level nulls left out (the
    service reads a null field as an absent one), so that the same request
    written another way (key order, spacing, ``"comment": null``) is the same
    request. Values are not converted: ``8`` and ``"8"`` are different requests.
    """
    present = {str(k): v for k, v in body.items() if v is not None}
    canonical = json.dumps(present, sort_keys=True, separators=(",", ":"), ensure_ascii=True)
    return hashlib.sha256(canonical.encode("ascii")).hexdigest()


class IdempotencyKeyReused(FeedbackError):
    """The key was used before, by this observer, for a different request; nothing was stored.

    Carries the record the first request stored, so the caller can point to it.
    """

    def __init__(self, feedback_id: int, status: str) -> None:
        self.feedback_id = feedback_id
        self.status = status
        super().__init__(
            f"idempotency key already used for a different request (feedback {feedback_id})"
        )


class IdempotencyKeyInFlight(FeedbackError):
    """Another request with the same key is still being stored; nothing was stored. Retry."""

    def __init__(self, retry_after: int) -> None:
        self.retry_after = retry_after
        super().__init__("a request with this idempotency key is still in flight")


def digests_match(stored: str | None, given: str | None) -> bool:
    """Same request? Unknown on either side (no digest stored or given) counts as the same."""
    return stored is None or given is None or stored == given


@contextmanager
def bounded_lock_wait(session: Session, wait: timedelta | None) -> Iterator[None]:
    """Wait at most ``wait`` for row and index locks inside the block (PostgreSQL only).

    Meant for the INSERT of a keyed record inside a savepoint: a concurrent
    insert of the same unique key waits for the other transaction to end, and
    without a bound a slow first request would hold the retry for as long as it
    runs. ``SET LOCAL`` semantics through ``set_config(..., true)``: if the
    block fails, rolling back the savepoint restores the old timeout; if it
    succeeds, the old value is set again here. A lock wait that times out
    raises :class:`IdempotencyKeyInFlight`.

    SQLite has no such wait: a write request takes the database's write lock at
    BEGIN (:func:`evalsys.db._sqlite_begin`), so two requests never overlap and
    the second one finds the first one's committed record.
    """
    if wait is None or session.connection().dialect.name != "postgresql":
        yield
        return
    previous = session.execute(text("SELECT current_setting('lock_timeout')")).scalar_one()
    milliseconds = max(1, int(wait.total_seconds() * 1000))
    _set_lock_timeout(session, f"{milliseconds}ms")
    try:
        yield
    except OperationalError as err:
        if _sqlstate(err) == LOCK_NOT_AVAILABLE:
            raise IdempotencyKeyInFlight(max(1, math.ceil(wait.total_seconds()))) from err
        raise
    _set_lock_timeout(session, previous)


def _set_lock_timeout(session: Session, value: str) -> None:
    session.execute(text("SELECT set_config('lock_timeout', :value, true)"), {"value": value})


def _sqlstate(err: OperationalError) -> str | None:
    orig = err.orig
    return getattr(orig, "sqlstate", None) or getattr(orig, "pgcode", None)
