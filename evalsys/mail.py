"""Outgoing mail over SMTP, configured by the MAIL_* settings.

One small module with no heavy imports, so that the scheduler's mail jobs (report
delivery, action owners' notices) share one sender without loading WeasyPrint.
"""

from __future__ import annotations

import smtplib
from collections.abc import Mapping
from email.message import EmailMessage
from typing import Any


def send(config: Mapping[str, Any], msg: EmailMessage) -> None:
    """Send one message through the MAIL_* server; raise if it was not accepted."""
    host = config["MAIL_SERVER"]
    port = int(config.get("MAIL_PORT") or 25)
    timeout = float(config.get("MAIL_TIMEOUT_SECONDS") or 30)
    smtp_class = smtplib.SMTP_SSL if config.get("MAIL_USE_SSL") else smtplib.SMTP
    smtp = smtp_class(host, port, timeout=timeout)
    try:
        if config.get("MAIL_USE_TLS") and not config.get("MAIL_USE_SSL"):
            smtp.starttls()
        if config.get("MAIL_USERNAME"):
            smtp.login(config["MAIL_USERNAME"], config.get("MAIL_PASSWORD") or "")
        smtp.send_message(msg)
    except BaseException:
        smtp.close()
        raise
    # The server has taken the message. A failed goodbye (a 421 to QUIT from a server
    # shutting down, a reset connection) must not mark it failed: it would be sent again.
    try:
        smtp.quit()
    except (OSError, smtplib.SMTPException):
        smtp.close()
