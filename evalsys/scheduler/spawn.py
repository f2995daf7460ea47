"""Start an ``evalsys`` command in a process of its own, from a web request.

Long work an administrator starts from a page (an aggregation, a job, a term's reports)
never runs in the web worker that served the click: a worker killed for its timeout
would leave it half done, and every other request would wait behind it.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading

from flask import current_app


def spawn_cli(args: list[str], name: str) -> None:
    """``python -m evalsys.cli ARGS`` detached, on this app's database and instance folder."""
    app = current_app
    env = {
        **os.environ,
        "EVALSYS_DATABASE_URL": app.config["DATABASE_URL"],
        "EVALSYS_INSTANCE_PATH": app.instance_path,
    }
    extra = app.config.get("SCHEDULER_EXTRA_JOB_MODULES")
    if extra:
        env["EVALSYS_SCHEDULER_EXTRA_JOB_MODULES"] = json.dumps(list(extra))
    if app.config.get("REPORT_DIR"):
        env["EVALSYS_REPORT_DIR"] = str(app.config["REPORT_DIR"])
    proc = subprocess.Popen(
        [sys.executable, "-m", "evalsys.cli", *args],
        env=env,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    # Reap it when it ends, so a long-lived web worker collects no zombies.
    threading.Thread(target=proc.wait, name=f"reap-{name}", daemon=True).start()
