"""One try of a delivery row — a term report's or a weekly bulletin's — shared by both.

The rules a reader relies on live here once: the attempt is counted and timed, a mail
server's refusal or absence is recorded with its error and retried until the site's
limit (then given up), and a delivery that went is marked sent, never to be sent again.
The caller builds the message, audits what left and commits the row.
"""

from __future__ import annotations

import smtplib
from collections.abc import Callable
from typing import Any

from evalsys.clock import utcnow
from evalsys.reports.models import DeliveryStatus


def attempt(delivery: Any, send: Callable[[], None], *, limit: int, counts: dict[str, int]) -> bool:
    """Call ``send`` for ``delivery`` and record the outcome on the row; True if it went."""
    delivery.attempts += 1
    delivery.last_attempt_at = utcnow()
    try:
        send()
    except (OSError, smtplib.SMTPException) as err:
        gave_up = delivery.attempts >= limit
        delivery.status = (DeliveryStatus.GAVE_UP if gave_up else DeliveryStatus.FAILED).value
        delivery.last_error = f"{type(err).__name__}: {err}"[:2000]
        counts["failed"] += 1
        return False
    delivery.status = DeliveryStatus.SENT.value
    delivery.sent_at = utcnow()
    delivery.last_error = None
    counts["sent"] += 1
    return True
