"""One try of a delivery row — a term report's or a weekly bulletin's — shared by both.

The rules a reader relies on live here once: the attempt is counted and timed, a mail
server's refusal or absence is recorded with its error and retried until the site's
limit (then given up), and a delivery that went is marked sent, never to be sent again.
The caller builds the message (:func:`pdf_message` writes the parts both kinds share),
audits what left and commits the row.
"""

from __future__ import annotations

import smtplib
from collections.abc import Callable, Mapping
from email.message import EmailMessage
from pathlib import Path
from typing import Any

from flask_babel import gettext as _

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


def pdf_message(
    config: Mapping[str, Any],
    *,
    to: str,
    reader_name: str,
    unit_name: str,
    subject: str,
    summary: str,
    path: str,
    filename: str,
) -> EmailMessage:
    """A PDF sent to one person in charge of a unit: greeting, ``summary``, why they get it.

    Called inside the document's locale (``in_locale``), so the greeting and the closing
    line are in the language of the PDF they come with, like ``subject`` and ``summary``.
    """
    body = "\n\n".join(
        [
            _("Dear %(name)s,", name=reader_name),
            summary,
            _(
                "You receive it because you are in charge of %(unit)s in evalsys. "
                "The language switch at the top of every evalsys page also sets the "
                "language of your emails and reports.",
                unit=unit_name,
            ),
        ]
    )
    msg = EmailMessage()
    msg["Subject"] = subject
    msg["From"] = config.get("MAIL_SENDER") or "evalsys@localhost"
    msg["To"] = to
    msg.set_content(f"{body}\n\n-- evalsys\n")
    msg.add_attachment(
        Path(path).read_bytes(), maintype="application", subtype="pdf", filename=filename
    )
    return msg
