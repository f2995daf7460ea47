"""Worker processes that die with their parent, and a time limit enforced from outside.

Why not ``concurrent.futures.ProcessPoolExecutor``, which rendering used before:

* its workers outlive a parent killed with SIGKILL: re-parented to PID 1, they went on
  rendering and writing ``report`` rows for a run nobody was watching;
* it cannot stop one task, so the time limit was an alarm inside the worker (SIGALRM, whose
  handler raised an exception). An exception raised by a signal handler lands wherever the
  interpreter happens to be — once inside a garbage-collection callback, which printed it
  and carried on: the limit was swallowed (issue 14).

Here each worker is a ``spawn``-ed process serving one task at a time over a pipe:

* On Linux it asks the kernel (``prctl(PR_SET_PDEATHSIG, SIGKILL)``, through ctypes) to be
  killed when its parent dies, then checks that its parent is still the process that
  started it: a parent that died before the ``prctl`` would send no signal. Elsewhere this
  is skipped (no ``prctl``); the parent's own clean-up still runs on SIGTERM and Ctrl-C.
  The signal follows the parent *thread* that started the worker: :func:`run_tasks`
  starts, waits for and stops its workers in one thread, so that thread outlives them.
* The parent keeps each task's deadline and kills the worker (SIGKILL) when it passes,
  reports the task as failed and starts a fresh worker for the rest. Nothing in the
  worker can catch that. What a kill can leave half-done is safe by design: the database
  rolls back the dead connection's transaction, and report files follow their rows
  (:mod:`evalsys.reports.store`).
* SIGTERM and SIGINT in the parent (in its main thread) kill the workers before the parent
  exits; the workers ignore SIGINT themselves (Ctrl-C reaches the whole process group, and
  the parent decides).

The worker's initializer and function are passed by name (``module:function``) and imported
after the ``prctl``, so the seconds spent importing WeasyPrint are already covered.
"""

from __future__ import annotations

import ctypes
import importlib
import multiprocessing
import os
import signal
import sys
import threading
import time
from collections import deque
from collections.abc import Callable, Generator, Sequence
from contextlib import suppress
from dataclasses import dataclass
from multiprocessing.connection import Connection, wait
from typing import Any

PR_SET_PDEATHSIG = 1
#: Exit status of a worker whose parent was gone before it could ask to die with it.
EXIT_ORPHANED = 70


class WorkerError(RuntimeError):
    """A worker process could not start (its initializer failed, or it died starting)."""


def die_with_parent(parent_pid: int) -> bool:
    """Have the kernel SIGKILL this process when its parent dies (Linux); False where that
    is not available. Exits at once when the parent is already gone."""
    if not sys.platform.startswith("linux"):
        return False
    try:
        prctl = ctypes.CDLL(None, use_errno=True).prctl
    except (OSError, AttributeError):
        return False
    prctl.argtypes = [ctypes.c_int] + [ctypes.c_ulong] * 4
    prctl.restype = ctypes.c_int
    if prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0) != 0:
        return False
    if os.getppid() != parent_pid:  # died before the prctl: no signal will come
        os._exit(EXIT_ORPHANED)
    return True


def _ref(func: Callable[..., Any]) -> str:
    return f"{func.__module__}:{func.__qualname__}"


def _resolve(ref: str) -> Callable[..., Any]:
    module, _, name = ref.partition(":")
    target: Any = importlib.import_module(module)
    for part in name.split("."):
        target = getattr(target, part)
    return target


def _describe(err: BaseException) -> str:
    text = str(err).splitlines()[0] if str(err) else ""
    return f"{type(err).__name__}: {text}"


def _serve(
    conn: Connection, parent_pid: int, func_ref: str, init_ref: str | None, initargs: tuple
) -> None:
    """A worker's life: die with the parent, initialise, then one task at a time."""
    die_with_parent(parent_pid)
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        func = _resolve(func_ref)
        if init_ref:
            _resolve(init_ref)(*initargs)
    except BaseException as err:  # noqa: BLE001  (told to the parent, which stops)
        conn.send(("init-failed", _describe(err)))
        return
    conn.send(("ready",))
    while True:
        try:
            message = conn.recv()
        except EOFError:
            return
        if message is None:
            return
        index, args = message
        try:
            conn.send(("done", index, func(*args), None))
        except Exception as err:  # noqa: BLE001  (one task failed; the worker goes on)
            conn.send(("done", index, None, _describe(err)))


@dataclass(frozen=True)
class TaskResult:
    """One task's end: ``value`` when it returned, ``error`` when it raised or was stopped."""

    index: int
    value: Any = None
    error: str | None = None
    seconds: float = 0.0
    timed_out: bool = False


class _Worker:
    def __init__(self, context: Any, func_ref: str, init_ref: str | None, initargs: tuple):
        self.conn, child = context.Pipe()
        self.process = context.Process(
            target=_serve,
            args=(child, os.getpid(), func_ref, init_ref, initargs),
            name="evalsys-report-worker",
            daemon=True,
        )
        self.process.start()
        child.close()
        self.ready = False
        self.task: int | None = None
        self.started = 0.0
        self.deadline: float | None = None

    def give(self, index: int, args: tuple, timeout: float | None) -> None:
        self.task, self.started = index, time.monotonic()
        self.deadline = self.started + timeout if timeout else None
        with suppress(OSError):  # it died: the next look at it reports the task failed
            self.conn.send((index, args))

    def kill(self) -> None:
        """SIGKILL unless it has ended; reap it; close the pipe."""
        if self.process.exitcode is None:
            self.process.kill()
        self.process.join()
        self.conn.close()

    def ask_to_stop(self) -> None:
        """Tell an idle worker to end (closing its database connections as it goes)."""
        with suppress(OSError):  # dead already
            self.conn.send(None)


class _Interrupts:
    """While tasks run in the main thread: SIGTERM and SIGINT kill the workers first."""

    def __init__(self, workers: list[_Worker]) -> None:
        self.workers = workers
        self.signalled: int | None = None
        self.previous: dict[int, Any] = {}

    def __enter__(self) -> _Interrupts:
        if threading.current_thread() is threading.main_thread():
            for signum in (signal.SIGTERM, signal.SIGINT):
                current = signal.getsignal(signum)
                if current is not signal.SIG_IGN:
                    self.previous[signum] = signal.signal(signum, self._handle)
        return self

    def __exit__(self, *exc: object) -> None:
        for signum, handler in self.previous.items():
            signal.signal(signum, handler)

    def _handle(self, signum: int, frame: Any) -> None:
        # Kill first: should the exception below be swallowed on its way, the workers are
        # gone anyway and check() raises it again at the next turn of the loop.
        self.signalled = signum
        for worker in self.workers:
            if worker.process.exitcode is None:
                worker.process.kill()
        self.check()

    def check(self) -> None:
        if self.signalled == signal.SIGINT:
            raise KeyboardInterrupt
        if self.signalled is not None:
            raise SystemExit(128 + self.signalled)


def run_tasks(
    func: Callable[..., Any],
    tasks: Sequence[tuple],
    *,
    jobs: int,
    timeout: float | None = None,
    initializer: Callable[..., Any] | None = None,
    initargs: tuple = (),
) -> Generator[TaskResult, None, None]:
    """Run ``func(*args)`` for each ``args`` in ``tasks`` in up to ``jobs`` worker processes;
    results in the order tasks end.

    ``func`` and ``initializer`` must be module-level functions. A task running longer than
    ``timeout`` seconds has its worker killed and ends with ``timed_out``; a worker that
    dies fails its task and is replaced. Raises :class:`WorkerError` when a worker cannot
    start. However the iteration ends (done, an exception, the caller closing the
    generator — use ``contextlib.closing``), no worker is left running.
    """
    context = multiprocessing.get_context("spawn")
    func_ref = _ref(func)
    init_ref = _ref(initializer) if initializer else None
    pending = deque(enumerate(tasks))
    workers: list[_Worker] = []
    interrupts = _Interrupts(workers)
    with interrupts:
        try:
            while pending or any(w.task is not None for w in workers):
                interrupts.check()
                busy = sum(1 for w in workers if w.task is not None)
                while len(workers) < min(jobs, busy + len(pending)):
                    workers.append(_Worker(context, func_ref, init_ref, initargs))
                for worker in workers:
                    if worker.ready and worker.task is None and pending:
                        index, args = pending.popleft()
                        worker.give(index, args, timeout)
                deadlines = [w.deadline for w in workers if w.deadline is not None]
                wait(
                    [w.conn for w in workers] + [w.process.sentinel for w in workers],
                    timeout=max(0.0, min(deadlines) - time.monotonic()) if deadlines else None,
                )
                ended: list[TaskResult] = []
                for worker in list(workers):
                    # Dead before the look, so the look has reported its task; one that dies
                    # after it is removed at the next turn (its sentinel wakes the wait).
                    gone = worker.process.exitcode is not None
                    result = _collect(worker, timeout)
                    if result is not None:
                        ended.append(result)
                    if gone or (worker.task is None and worker.process.exitcode is not None):
                        worker.kill()  # reaped, its pipe closed
                        workers.remove(worker)
                yield from ended
        finally:
            if interrupts.signalled is None:
                for worker in workers:
                    if worker.task is None:
                        worker.ask_to_stop()
            for worker in workers:
                if worker.task is None and interrupts.signalled is None:
                    worker.process.join(5)
                worker.kill()


def _collect(worker: _Worker, timeout: float | None) -> TaskResult | None:
    """What became of ``worker``'s task since the last look: its result, a timeout (the
    worker killed), or its death; None while it runs (or when it had none)."""
    try:
        while worker.conn.poll():
            message = worker.conn.recv()
            if message[0] == "ready":
                worker.ready = True
            elif message[0] == "init-failed":
                raise WorkerError(f"a report worker process could not start: {message[1]}")
            else:
                _, index, value, error = message
                worker.task, worker.deadline = None, None
                return TaskResult(index, value, error, time.monotonic() - worker.started)
    except (EOFError, OSError):
        # Its end of the pipe closed: the worker is exiting. Wait for the exit code, or the
        # task would be read as "still running" now and its worker found dead (and dropped,
        # task and all) a moment later.
        worker.process.join(5)
    alive = worker.process.exitcode is None
    if worker.task is None:
        if not alive and not worker.ready:
            raise WorkerError(
                "a report worker process ended while starting "
                f"(exit code {worker.process.exitcode})"
            )
        return None
    index, seconds = worker.task, time.monotonic() - worker.started
    if alive:
        if worker.deadline is None or time.monotonic() < worker.deadline:
            return None
        worker.kill()
        worker.task = None
        return TaskResult(
            index,
            error=f"took longer than {timeout:g} s (the time limit); its worker process was killed",
            seconds=seconds,
            timed_out=True,
        )
    worker.task = None
    return TaskResult(
        index,
        error=f"its worker process ended (exit code {worker.process.exitcode})",
        seconds=seconds,
    )
