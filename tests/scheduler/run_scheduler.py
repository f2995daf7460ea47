"""Entry point of a scheduler subprocess in tests: registers the jobs named in TEST_JOBS."""

from __future__ import annotations

import json
import logging
import os
import sys

from evalsys import create_app
from evalsys.scheduler import jobs, runner

logging.basicConfig(level=logging.INFO)  # APScheduler's lines end up in the test's message
for spec in json.loads(os.environ["TEST_JOBS"]):
    jobs.register(jobs.JobSpec(**spec))
app = create_app(serving=False)
sys.exit(
    runner.run(
        app,
        wait=os.environ.get("TEST_WAIT") == "1",
        stop_after=float(os.environ["TEST_STOP_AFTER"]),
    )
)
