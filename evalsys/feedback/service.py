"""The old home of the feedback service, kept for one importer only.

The service now lives in :mod:`evalsys.feedback.writes` (and the modules beside it).
``evalsys/feedback/importer.py`` still imports ``submit_feedback`` from here: it is being
moved into ``evalsys.importer`` on another branch at the same time (#14), so it is not
edited on this one. Once both are merged, point its import at
:mod:`evalsys.feedback.writes` and delete this module; nothing else may import from here
(``tests/test_shared_homes.py``).
"""

from __future__ import annotations

from evalsys.feedback.writes import submit_feedback

__all__ = ["submit_feedback"]
