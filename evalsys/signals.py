"""What one area announces and others may act on, so that no area calls up or sideways.

A blinker namespace, as Indico's ``core/signals``: the feedback service says a record
changed; the spot-check planner (:mod:`evalsys.planner.link`) listens and marks the
visit's assignment done or open again. Feedback knows nothing of the planner.

Receivers run synchronously, in the sender's transaction, and an exception in one
reaches the sender: a listener's bookkeeping is part of the change, not an
afterthought. A receiver connects when its module is imported; :mod:`evalsys.models`
imports every listening module, and every process that writes records imports it
(``create_app`` does, so the web, the API, every CLI command and the scheduler; the
tests and Alembic's env.py do too).
"""

from __future__ import annotations

from blinker import Namespace

_signals = Namespace()

feedback_changed = _signals.signal(
    "feedback-changed",
    doc="""A feedback record was created, edited, submitted or withdrawn (not committed).

    Sent by :mod:`evalsys.feedback.writes` after the change and its revision row are
    added to the session. ``sender`` is the :class:`~evalsys.feedback.models.Feedback`;
    keyword arguments: ``session`` (the caller's, to write in the same transaction) and
    ``action`` (the :class:`~evalsys.feedback.vocab.RevisionAction`). One signal for
    every change rather than one for submit and one for withdraw: an edit of a submitted
    record can move it to another section or week, which a listener must see too.
    """,
)
