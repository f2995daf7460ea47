"""Load benchmark: concurrent clients submitting feedback to gunicorn, then a count of what stuck.

    PYTHONPATH=. .venv/bin/python bench/load_bench.py                       # both databases
    PYTHONPATH=. .venv/bin/python bench/load_bench.py --backend sqlite --clients 50 --duration 60
    PYTHONPATH=. .venv/bin/python bench/load_bench.py --think 0.5           # clients pause between

It builds a small university (the test factory's tree, one term around today,
``--clients`` supervisors, sections to visit), starts ``gunicorn -w WORKERS
'evalsys:create_app()'`` on a free port against a throw-away database — an
SQLite file (WAL) or a new PostgreSQL database beside ``--postgres-url`` —
and runs the clients for ``--duration`` seconds:

* half submit spot checks through ``POST /api/v1/feedback`` with a bearer token
  and an ``Idempotency-Key``;
* half log in once, then open ``/feedback/new/spot_check`` and post the form,
  CSRF token and idempotency key included, as a browser does;
* one probe asks ``GET /healthz`` (a ``SELECT 1``) ten times a second, on the same
  server under the same load: the yardstick for the submissions' latency.

Afterwards every acknowledged submission (201 with an id, or 303 to the new
record) is looked up in the database, and the number of stored records is
compared with the number acknowledged: ``lost`` and ``extra`` must both be 0.
Latency is measured client-side, from sending the request to reading the whole
answer; with ``--think 0`` (the default) the clients are closed-loop, so the
figures show the server saturated, queueing included.

``tests/bench/test_load.py`` runs a short version (8 clients, 5 s) in the suite
and asserts only what must hold under any timing: nothing lost, nothing
doubled, no 5xx.
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import platform
import random
import re
import secrets
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections import Counter, defaultdict
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import date, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url
from sqlmodel import Session, col, func, select

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from evalsys import migrate  # noqa: E402
from evalsys.api import tokens  # noqa: E402
from evalsys.db import make_engine  # noqa: E402
from evalsys.feedback import rubrics  # noqa: E402
from evalsys.feedback.models import Feedback  # noqa: E402
from tests.factories import Factory  # noqa: E402

PASSWORD = Factory.PASSWORD
DEFAULT_PG = "postgresql+psycopg://postgres@127.0.0.1:5432/test"
SECTIONS = 12


# --- the data -----------------------------------------------------------------------------


@dataclass
class Client:
    username: str
    mode: str  # "api" or "form"
    token: str | None = None


@dataclass
class World:
    clients: list[Client]
    sections: list[str]
    scores: dict[str, float]


def prepare(database_url: str, clients: int) -> World:
    """Migrate the (empty) database and add the tree, a term around today, people, tokens."""
    engine = make_engine(database_url)
    migrate.upgrade(engine)
    with Session(engine, expire_on_commit=False) as session:
        rubrics.ensure_default_rubrics(session)
        session.commit()
        factory = Factory(session)
        units = factory.university()
        today = date.today()
        term = factory.term(
            code=f"BENCH-{today.year}",
            start=today - timedelta(days=90),
            end=today + timedelta(days=90),
        )
        teacher = factory.user("bench_teacher", "teacher@CS-SE", name="教师甲")
        sections = []
        for i in range(SECTIONS):
            course = factory.course(f"SE{100 + i}", units["CS-SE"], title=f"课程{i}")
            code = f"SE{100 + i}-01"
            factory.section(code, course, term, teacher=teacher, enrolled=40)
            sections.append(code)
        people = []
        for i in range(clients):
            name = f"bench_sup{i:03d}"
            user = factory.user(name, "supervisor@CS", name=f"督导{i}")
            mode = "api" if i % 2 == 0 else "form"
            raw = None
            if mode == "api":
                _, raw = tokens.create_token(session, user=user, name="load bench")
                session.commit()
            people.append(Client(name, mode, raw))
        rubric = rubrics.current_rubric(session, "spot_check")
        assert rubric is not None
        items = rubrics.rubric_items(session, rubric.id)  # type: ignore[arg-type]
        scores = {i.code: float(i.scale_max) * 0.8 for i in items}
    engine.dispose()
    return World(people, sections, scores)


# --- the server -----------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@contextmanager
def gunicorn(
    database_url: str, *, workers: int, instance: Path, log: Path | None = None
) -> Iterator[int]:
    """``gunicorn -w N 'evalsys:create_app()'`` on a free port, as production runs it."""
    port = free_port()
    env = dict(os.environ)
    env.update(
        EVALSYS_DATABASE_URL=database_url,
        EVALSYS_SECRET_KEY=secrets.token_urlsafe(32),
        EVALSYS_INSTANCE_PATH=str(instance),
        PYTHONPATH=str(ROOT),
    )
    args = [
        sys.executable,
        "-m",
        "gunicorn",
        "--workers",
        str(workers),
        "--bind",
        f"127.0.0.1:{port}",
        "--graceful-timeout",
        "5",
        "evalsys:create_app()",
    ]
    out = log.open("wb") if log else subprocess.DEVNULL
    proc = subprocess.Popen(args, env=env, cwd=ROOT, stdout=out, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 60
        while True:
            if proc.poll() is not None:
                raise RuntimeError(f"gunicorn exited with {proc.returncode}; see {log}")
            try:
                status, _, _ = request(port, "GET", "/healthz")
                if status == 200:
                    break
            except OSError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError("gunicorn did not answer /healthz within 60 s")
            time.sleep(0.1)
        yield port
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        if log:
            out.close()  # type: ignore[union-attr]


def request(
    port: int,
    method: str,
    path: str,
    body: bytes | None = None,
    headers: dict[str, str] | None = None,
    timeout: float = 30,
) -> tuple[int, http.client.HTTPMessage, bytes]:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        conn.request(method, path, body=body, headers=headers or {})
        response = conn.getresponse()
        return response.status, response.msg, response.read()
    finally:
        conn.close()


# --- the clients -----------------------------------------------------------------------------


@dataclass
class Tally:
    """What the clients saw; appended to from many threads (list.append is atomic)."""

    latencies: dict[str, list[float]] = field(default_factory=lambda: defaultdict(list))
    statuses: Counter = field(default_factory=Counter)
    acked: list[int] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def timed(self, kind: str, port: int, *args: Any, **kw: Any):
        start = time.perf_counter()
        status, headers, body = request(port, *args, **kw)
        elapsed = time.perf_counter() - start
        with self.lock:
            self.latencies[kind].append(elapsed)
            self.statuses[(kind, status)] += 1
        return status, headers, body


CSRF = re.compile(r'name="csrf_token" type="hidden" value="([^"]+)"')
IDEM = re.compile(r'name="idempotency_key" type="hidden" value="([^"]+)"')
RECORD = re.compile(r"/feedback/(\d+)$")


def _hidden(pattern: re.Pattern, page: bytes, name: str) -> str:
    found = pattern.search(page.decode("utf-8", "replace"))
    if not found:
        # Attribute order is WTForms'; fall back to any order.
        generic = re.search(rf'<input[^>]*name="{name}"[^>]*value="([^"]+)"', page.decode())
        if not generic:
            raise RuntimeError(f"no {name} in the page")
        return generic.group(1)
    return found.group(1)


class Cookies:
    def __init__(self) -> None:
        self.jar: dict[str, str] = {}

    def take(self, headers: http.client.HTTPMessage) -> None:
        for line in headers.get_all("Set-Cookie") or []:
            name, _, rest = line.partition("=")
            self.jar[name.strip()] = rest.split(";", 1)[0]

    def header(self) -> dict[str, str]:
        return {"Cookie": "; ".join(f"{k}={v}" for k, v in self.jar.items())}


def spot_check(world: World, rng: random.Random) -> dict[str, Any]:
    present = rng.randint(25, 40)
    return {
        "kind": "spot_check",
        "section": rng.choice(world.sections),
        "date": date.today().isoformat(),
        "class_period": "3-4节",
        "location": "教一-201",
        "announced": False,
        "enrolled": 40,
        "present": present,
        "late": rng.randint(0, 3),
        "overall_grade": rng.choice(["excellent", "good", "fair"]),
        "strengths": "讲解清楚",
        "problems": "互动偏少",
        "suggestions": "增加提问",
        "scores": {k: v for k, v in world.scores.items()},
    }


class Clock:
    """The measured period starts when every client is ready (logged in), not before.

    Logins hash passwords (scrypt, slow by design); 25 of them at once would
    otherwise queue the first submissions behind them and count that in the figures.
    """

    def __init__(self, parties: int, duration: float) -> None:
        self.until = float("inf")
        self.duration = duration
        self.barrier = threading.Barrier(parties, action=self._start, timeout=120)

    def _start(self) -> None:
        self.until = time.monotonic() + self.duration

    def ready(self, rng: random.Random | None = None, think: float = 0.0) -> None:
        self.barrier.wait()
        if rng is not None and think:
            time.sleep(rng.uniform(0, think))  # spread the first requests like the rest

    def running(self) -> bool:
        return time.monotonic() < self.until


def api_client(client: Client, world: World, port: int, tally: Tally, clock: Clock, think: float):
    rng = random.Random(client.username)
    headers = {"Authorization": f"Bearer {client.token}", "Content-Type": "application/json"}
    clock.ready(rng, think)
    while clock.running():
        body = json.dumps(spot_check(world, rng)).encode()
        key = uuid.uuid4().hex
        status, _, answer = tally.timed(
            "api_submit", port, "POST", "/api/v1/feedback", body, headers | {"Idempotency-Key": key}
        )
        if status == 201:
            tally.acked.append(json.loads(answer)["id"])
        elif status >= 400:
            tally.errors.append(f"api {status}: {answer[:200]!r}")
        if think:
            time.sleep(rng.expovariate(1 / think))


def form_client(client: Client, world: World, port: int, tally: Tally, clock: Clock, think: float):
    rng = random.Random(client.username)
    cookies = Cookies()
    status, headers, page = request(port, "GET", "/login")
    cookies.take(headers)
    login = urlencode(
        {
            "csrf_token": _hidden(CSRF, page, "csrf_token"),
            "username": client.username,
            "password": PASSWORD,
        }
    ).encode()
    form_headers = {"Content-Type": "application/x-www-form-urlencoded"}
    status, headers, page = request(port, "POST", "/login", login, form_headers | cookies.header())
    clock.ready(rng, think)
    if status != 302:
        tally.errors.append(f"login {client.username}: {status}")
        return
    cookies.take(headers)
    while clock.running():
        status, headers, page = tally.timed(
            "form_open", port, "GET", "/feedback/new/spot_check", None, cookies.header()
        )
        cookies.take(headers)
        if status != 200:
            tally.errors.append(f"form GET {status}")
            continue
        data = spot_check(world, rng)
        fields = {
            "csrf_token": _hidden(CSRF, page, "csrf_token"),
            "idempotency_key": _hidden(IDEM, page, "idempotency_key"),
            "send": "y",
        }
        for name in (
            "section",
            "date",
            "class_period",
            "location",
            "enrolled",
            "present",
            "late",
            "overall_grade",
            "strengths",
            "problems",
            "suggestions",
        ):
            fields[name] = str(data[name])
        fields["announced"] = "false"
        fields |= {f"scores-{code}": f"{value:g}" for code, value in data["scores"].items()}
        status, headers, answer = tally.timed(
            "form_submit",
            port,
            "POST",
            "/feedback/new/spot_check",
            urlencode(fields).encode(),
            form_headers | cookies.header(),
        )
        cookies.take(headers)
        found = RECORD.search(headers.get("Location", "")) if status == 303 else None
        if found:
            tally.acked.append(int(found.group(1)))
        elif status >= 400 or status == 303:
            tally.errors.append(f"form POST {status}: {answer[:300]!r}")
        if think:
            time.sleep(rng.expovariate(1 / think))


def health_probe(port: int, tally: Tally, clock: Clock) -> None:
    clock.ready()
    while clock.running():
        tally.timed("healthz", port, "GET", "/healthz")
        time.sleep(0.1)


def drive(world: World, port: int, *, duration: float, think: float) -> Tally:
    tally = Tally()
    clock = Clock(len(world.clients) + 1, duration)
    threads = [
        threading.Thread(
            target=api_client if c.mode == "api" else form_client,
            args=(c, world, port, tally, clock, think),
            daemon=True,
        )
        for c in world.clients
    ]
    threads.append(threading.Thread(target=health_probe, args=(port, tally, clock), daemon=True))
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=duration + 180)
    return tally


# --- checking and reporting ---------------------------------------------------------------------


def percentile(values: list[float], q: float) -> float:
    """The q-th percentile (nearest rank), in milliseconds."""
    if not values:
        return float("nan")
    ordered = sorted(values)
    rank = max(1, round(q / 100 * len(ordered)))
    return 1000 * ordered[min(rank, len(ordered)) - 1]


def verify(database_url: str, acked: list[int]) -> dict[str, int]:
    """Every acknowledged id stored and submitted; nothing stored that nobody was told of."""
    engine = make_engine(database_url)
    with Session(engine) as session:
        stored = set(
            session.exec(select(Feedback.id).where(col(Feedback.status) == "submitted")).all()
        )
        total = session.exec(select(func.count()).select_from(Feedback)).one()
    engine.dispose()
    ack = set(acked)
    return {
        "acknowledged": len(acked),
        "acknowledged_twice": len(acked) - len(ack),
        "stored": total,
        "lost": len(ack - stored),
        "extra": len(stored - ack),
    }


def summarise(tally: Tally, check: dict[str, int], duration: float) -> dict[str, Any]:
    kinds = {}
    for kind, values in sorted(tally.latencies.items()):
        kinds[kind] = {
            "requests": len(values),
            "p50_ms": round(percentile(values, 50), 1),
            "p95_ms": round(percentile(values, 95), 1),
            "p99_ms": round(percentile(values, 99), 1),
            "mean_ms": round(1000 * statistics.fmean(values), 1),
        }
    submits = tally.latencies.get("api_submit", []) + tally.latencies.get("form_submit", [])
    health = tally.latencies.get("healthz", [])
    p95_submit = percentile(submits, 95)
    p95_health = percentile(health, 95)
    return {
        "submissions_per_s": round(check["acknowledged"] / duration, 1),
        "latency": kinds,
        "submit_p50_ms": round(percentile(submits, 50), 1),
        "submit_p95_ms": round(p95_submit, 1),
        "submit_p99_ms": round(percentile(submits, 99), 1),
        "p95_ratio_to_healthz": round(p95_submit / p95_health, 2) if health else None,
        "status_5xx": sum(n for (_, status), n in tally.statuses.items() if status >= 500),
        "status_4xx": sum(n for (_, status), n in tally.statuses.items() if 400 <= status < 500),
        "statuses": {f"{k} {s}": n for (k, s), n in sorted(tally.statuses.items())},
        "errors": tally.errors[:10],
        **check,
    }


@contextmanager
def throwaway_database(backend: str, postgres_url: str) -> Iterator[str]:
    """A new SQLite file or a new PostgreSQL database beside ``postgres_url``, removed after."""
    if backend == "sqlite":
        with tempfile.TemporaryDirectory(prefix="evalsys-load-") as tmp:
            yield f"sqlite:///{Path(tmp) / 'load.sqlite3'}"
        return
    base = make_url(postgres_url)
    name = f"evalsys_load_{uuid.uuid4().hex[:12]}"
    admin = create_engine(base, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        yield base.set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


def run(
    database_url: str,
    *,
    clients: int,
    duration: float,
    workers: int,
    think: float = 0.0,
    instance: Path | None = None,
) -> dict[str, Any]:
    """Prepare the (empty, throw-away) database, serve it with gunicorn, load it, check it."""
    world = prepare(database_url, clients)
    with tempfile.TemporaryDirectory(prefix="evalsys-load-instance-") as tmp:
        folder = instance or Path(tmp)
        folder.mkdir(parents=True, exist_ok=True)
        with gunicorn(
            database_url, workers=workers, instance=folder, log=folder / "gunicorn.log"
        ) as port:
            tally = drive(world, port, duration=duration, think=think)
        check = verify(database_url, tally.acked)
    result = summarise(tally, check, duration)
    result.update(
        backend=make_url(database_url).get_backend_name(),
        clients=clients,
        duration_s=duration,
        workers=workers,
        think_s=think,
    )
    return result


def machine() -> str:
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return f"{os.cpu_count()} CPUs ({cpu}), Python {platform.python_version()}, {platform.system()}"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--backend", choices=["sqlite", "postgresql", "both"], default="both")
    parser.add_argument("--postgres-url", default=os.environ.get("EVALSYS_BENCH_PG", DEFAULT_PG))
    parser.add_argument("--clients", type=int, default=50)
    parser.add_argument("--duration", type=float, default=60.0)
    parser.add_argument("--workers", type=int, default=4)
    parser.add_argument("--think", type=float, default=0.0, help="mean pause between submissions")
    parser.add_argument("--json", type=Path, help="also write the results here")
    args = parser.parse_args(argv)

    backends = ["sqlite", "postgresql"] if args.backend == "both" else [args.backend]
    results = []
    print(f"machine: {machine()}")
    for backend in backends:
        with throwaway_database(backend, args.postgres_url) as url:
            result = run(
                url,
                clients=args.clients,
                duration=args.duration,
                workers=args.workers,
                think=args.think,
            )
        results.append(result)
        print(json.dumps(result, indent=2, ensure_ascii=False))
    if args.json:
        args.json.write_text(json.dumps({"machine": machine(), "results": results}, indent=2))
    bad = [r for r in results if r["lost"] or r["extra"] or r["status_5xx"]]
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
