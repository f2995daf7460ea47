"""The report worker pool: a time limit kept from outside, workers that die with their parent.

Real processes throughout. The tasks below are module-level so that the spawned workers can
import them by name.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from contextlib import suppress
from pathlib import Path

import pytest

from evalsys import ROOT
from evalsys.reports.workers import EXIT_ORPHANED, WorkerError, run_tasks


def stubborn(pid_file: str, seconds: float) -> str:
    """A task that swallows every exception a signal handler could raise in it."""
    Path(pid_file).write_text(str(os.getpid()))
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        with suppress(BaseException):  # the point: nothing gets through
            time.sleep(0.05)
    return "finished"


def double(x: int) -> int:
    return 2 * x


def die(code: int) -> None:
    os._exit(code)


def broken_init() -> None:
    raise RuntimeError("no database")


def alive(pid: int) -> bool:
    """Running (a zombie waiting for its parent to reap it counts as dead)."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (FileNotFoundError, ProcessLookupError):
        return False
    return state != "Z"


def test_a_task_over_its_limit_is_killed_though_it_swallows_everything(tmp_path):
    pid_file = tmp_path / "pid"
    started = time.monotonic()
    [result] = list(run_tasks(stubborn, [(str(pid_file), 120)], jobs=1, timeout=1.0))
    assert time.monotonic() - started < 60  # not the task's 120 s
    assert result.timed_out and result.value is None
    assert "longer than 1 s (the time limit)" in result.error
    assert 1.0 <= result.seconds < 10
    assert not alive(int(pid_file.read_text()))


def test_after_a_kill_a_fresh_worker_takes_the_next_tasks(tmp_path):
    tasks = [(str(tmp_path / "pid"), 120), (21,)]
    got = []
    for result in run_tasks(_either, tasks, jobs=1, timeout=1.0):
        got.append((result.index, result.value, result.timed_out))
    assert sorted(got) == [(0, None, True), (1, 42, False)]


def _either(*args):
    return stubborn(*args) if len(args) == 2 else double(*args)


def test_a_worker_that_dies_fails_its_task_and_the_rest_go_on():
    got = sorted(
        (r.index, r.value, r.error) for r in run_tasks(_die_or_double, [(3,), (-3,)], jobs=1)
    )
    assert got == [(0, 6, None), (1, None, "its worker process ended (exit code 3)")]


def _die_or_double(x: int) -> int | None:
    return double(x) if x > 0 else die(-x)


def test_a_worker_that_cannot_start_stops_the_run():
    with pytest.raises(WorkerError, match="could not start: RuntimeError: no database"):
        list(run_tasks(double, [(1,)], jobs=1, initializer=broken_init))


PARENT = """
import sys
from evalsys.reports.workers import run_tasks
from tests.reports.test_workers import stubborn
for result in run_tasks(stubborn, [(sys.argv[1], 300)], jobs=1):
    print(result)
"""


def _start_parent(pid_file: Path) -> subprocess.Popen:
    proc = subprocess.Popen(
        [sys.executable, "-c", PARENT, str(pid_file)],
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        cwd=ROOT,
    )
    deadline = time.monotonic() + 60
    while not (pid_file.exists() and pid_file.read_text()):
        assert proc.poll() is None, "the parent ended before its worker started"
        assert time.monotonic() < deadline, "the worker never started its task"
        time.sleep(0.02)
    return proc


def _gone(pid: int, seconds: float = 5) -> bool:
    deadline = time.monotonic() + seconds
    while alive(pid):
        if time.monotonic() > deadline:
            return False
        time.sleep(0.05)
    return True


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="PR_SET_PDEATHSIG is Linux's")
def test_a_parent_killed_with_sigkill_takes_its_worker_with_it(tmp_path):
    proc = _start_parent(tmp_path / "pid")
    worker = int((tmp_path / "pid").read_text())
    proc.send_signal(signal.SIGKILL)  # no clean-up of its own: the kernel's signal only
    proc.wait()
    try:
        assert _gone(worker), f"worker {worker} outlived its parent"
    finally:
        _kill_if_alive(worker)


def _kill_if_alive(pid: int) -> None:
    """Leave no orphan behind when a test fails."""
    if alive(pid):
        os.kill(pid, signal.SIGKILL)


def test_sigterm_to_the_parent_stops_its_worker_first(tmp_path):
    proc = _start_parent(tmp_path / "pid")
    worker = int((tmp_path / "pid").read_text())
    proc.send_signal(signal.SIGTERM)
    try:
        assert proc.wait(30) == 128 + signal.SIGTERM  # the pool's handler ran, then exited
        assert _gone(worker)
    finally:
        _kill_if_alive(worker)


def test_a_worker_whose_parent_is_already_gone_exits():
    code = "from evalsys.reports.workers import die_with_parent; die_with_parent(-1); print('on')"
    done = subprocess.run(
        [sys.executable, "-c", code],
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        cwd=ROOT,
        capture_output=True,
        text=True,
    )
    if not sys.platform.startswith("linux"):
        assert done.returncode == 0  # no prctl: nothing to check against
        return
    assert done.returncode == EXIT_ORPHANED and "on" not in done.stdout


def gc_state() -> tuple[tuple[int, ...], int]:
    import gc

    return gc.get_threshold(), gc.get_freeze_count()


@pytest.mark.once("the worker's process settings; no database is read")
def test_a_rendering_worker_collects_garbage_less_often_and_its_parent_as_before(app):
    """Report workers raise the cyclic collector's thresholds and freeze what they loaded
    (WeasyPrint makes hundreds of thousands of short-lived objects a report); the process
    that started them — a web or scheduler process — keeps Python's defaults."""
    import gc

    from evalsys.reports import render

    before = gc.get_threshold()
    [result] = list(
        run_tasks(
            gc_state,
            [()],
            jobs=1,
            initializer=render._init_worker,
            initargs=(render.portable_config(app),),
        )
    )
    thresholds, frozen = result.value
    assert thresholds == render.RENDER_GC_THRESHOLDS
    assert frozen > 10_000  # the app and its modules, out of the collector's reach
    assert gc.get_threshold() == before != render.RENDER_GC_THRESHOLDS
