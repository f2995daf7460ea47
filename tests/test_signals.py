"""Feedback announces its changes; the planner listens, in every process that changes records.

A receiver connects when its module is imported, so "is it connected" depends on what
a process happened to import: each check runs in a fresh interpreter, not in this one,
where the test run has imported everything long ago.
"""

from __future__ import annotations

import ast
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent

PLANNER = "evalsys.planner.link.on_feedback_changed"

#: Prints the receivers of feedback_changed (module.name), after ``setup`` ran.
PROBE = """
import sys
{setup}
from evalsys import signals
for receiver in signals.feedback_changed.receivers_for(object()):
    print(receiver.__module__ + "." + receiver.__qualname__)
print("planner imported:", any(m.startswith("evalsys.planner") for m in sys.modules))
"""


def _receivers_after(setup: str, tmp_path: Path) -> list[str]:
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "HOME": str(tmp_path),
        "PYTHONPATH": str(ROOT),
        "EVALSYS_INSTANCE_PATH": str(tmp_path / "instance"),
    }
    proc = subprocess.run(
        [sys.executable, "-c", PROBE.format(setup=setup)],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr
    return proc.stdout.splitlines()


@pytest.mark.parametrize(
    "setup",
    [
        # The web app, the API, every CLI command (FlaskGroup) and the scheduler process.
        "from evalsys import create_app\n"
        "create_app({'TESTING': True, 'SECRET_KEY': 'x', 'DATABASE_URL': 'sqlite://'})",
        # Alembic's env.py and the test fixtures.
        "import evalsys.models",
    ],
    ids=["create_app", "evalsys.models"],
)
def test_the_planner_listens_in_every_process_that_changes_records(setup, tmp_path):
    assert PLANNER in _receivers_after(setup, tmp_path)


def test_the_feedback_service_alone_does_not_bring_in_the_planner(tmp_path):
    """The planner depends on feedback, never the other way round (not even in passing)."""
    lines = _receivers_after("import evalsys.feedback.writes", tmp_path)
    assert PLANNER not in lines
    assert "planner imported: False" in lines


def test_feedback_service_does_not_import_the_planner():
    """Not at the top and not inside a function: the signal is the only way across."""
    tree = ast.parse((ROOT / "evalsys/feedback/writes.py").read_text(encoding="utf-8"))
    imported: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            imported.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            imported.add(node.module)  # from evalsys import planner: "evalsys.planner"
            imported.update(f"{node.module}.{alias.name}" for alias in node.names)
    assert "evalsys.signals" in imported  # the walk sees the imports it should
    assert sorted(name for name in imported if name.startswith("evalsys.planner")) == []
