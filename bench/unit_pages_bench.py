"""Unit pages at scale: latency and SQL queries per page, as the score rows grow.

    PYTHONPATH=. .venv/bin/python bench/unit_pages_bench.py   # PostgreSQL, 10k and 100k
    PYTHONPATH=. .venv/bin/python bench/unit_pages_bench.py --db sqlite --sizes 100000

For each size, builds bench/aggregation_bench.py's synthetic university (two
terms of ``size`` records, 10 scores each: 100,000 records = 1,000,000 score
rows per term), aggregates both terms, adds a school admin and times the unit
pages an admin or dean opens — the school, a college, a department — in the app
(Flask's test client: the server side only, no HTTP), ``--repeat`` times each
after one warm-up request, counting the SQL statements each page runs. The
query count must be the same at every size: a page that queried per record or
per child would show it here. Not a test: nothing asserts a time.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from sqlalchemy import event, text
from sqlmodel import Session

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

import aggregation_bench as gen  # noqa: E402

from evalsys import create_app  # noqa: E402
from evalsys.accounts import service as accounts  # noqa: E402
from evalsys.aggregation.service import aggregate_term  # noqa: E402
from evalsys.db import get_engine, make_engine  # noqa: E402

PAGES = {"school": "/units/U", "college": "/units/C00", "department": "/units/C00-D0"}
PASSWORD = "bench-password-123"


def prepare(url: str, records: int) -> None:
    engine = make_engine(url)
    gen.build(engine, records)
    if engine.dialect.name == "postgresql":
        # The generator inserts explicit ids; move the sequences past them.
        with engine.begin() as conn:
            for table in ("user_account", "role_grant"):
                conn.execute(
                    text(
                        f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), "
                        f"COALESCE((SELECT MAX(id) FROM {table}), 0) + 1, false)"
                    )
                )
    with Session(engine) as session:
        for term, _, _ in gen.TERMS:
            aggregate_term(session, term=term)
    with Session(engine) as session:
        accounts.create_user(
            session,
            username="bench_admin",
            name="Bench Admin",
            email=None,
            roles=[accounts.parse_role_spec("admin@U")],
            password=PASSWORD,
        )
        session.commit()
    engine.dispose()


def measure(url: str, repeat: int) -> dict[str, Any]:
    app = create_app(
        {
            "TESTING": False,
            "SECRET_KEY": "bench-secret-key-0123456789",
            "DATABASE_URL": url,
            "WTF_CSRF_ENABLED": False,
            "INSTANCE_PATH": tempfile.mkdtemp(prefix="evalsys-pages-"),
        }
    )
    client = app.test_client()
    login = client.post("/login", data={"username": "bench_admin", "password": PASSWORD})
    assert login.status_code == 302, login.status_code
    engine = get_engine(app)
    seen: list[str] = []

    def count(conn, cursor, statement, *args):
        seen.append(statement)

    event.listen(engine, "before_cursor_execute", count)
    out: dict[str, Any] = {}
    for name, path in PAGES.items():
        assert client.get(path).status_code == 200  # warm-up
        times, queries = [], set()
        for _ in range(repeat):
            seen.clear()
            start = time.perf_counter()
            response = client.get(path)
            times.append(time.perf_counter() - start)
            assert response.status_code == 200, (path, response.status_code)
            queries.add(len(seen))
        ordered = sorted(times)
        out[name] = {
            "path": path,
            "queries": sorted(queries),
            "p50_ms": round(1000 * statistics.median(ordered), 1),
            "p95_ms": round(1000 * ordered[max(0, round(0.95 * len(ordered)) - 1)], 1),
            "max_ms": round(1000 * ordered[-1], 1),
        }
    with engine.connect() as conn:
        out["score_rows"] = conn.execute(text("SELECT COUNT(*) FROM feedback_score")).scalar_one()
    engine.dispose()
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--db", choices=["sqlite", "postgresql"], default="postgresql")
    parser.add_argument("--sizes", default="10000,100000", help="records per term")
    parser.add_argument("--repeat", type=int, default=40)
    parser.add_argument(
        "--pg-url",
        default=os.environ.get(
            "EVALSYS_BENCH_PG_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
        ),
    )
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    results = []
    with tempfile.TemporaryDirectory(prefix="evalsys-pages-") as tmp:
        for size in (int(s) for s in args.sizes.split(",")):
            drop = None
            if args.db == "sqlite":
                url = f"sqlite:///{Path(tmp) / f'pages-{size}.sqlite3'}"
            else:
                url, drop = gen._pg_database(args.pg_url)
            try:
                t = time.perf_counter()
                prepare(url, size)
                built = time.perf_counter() - t
                result = measure(url, args.repeat)
                result |= {"db": args.db, "records_per_term": size, "build_s": round(built, 1)}
                results.append(result)
                print(json.dumps(result), flush=True)
            finally:
                if drop is not None:
                    drop()
    counts = {name: {tuple(r[name]["queries"]) for r in results} for name in PAGES}
    print("queries per page the same at every size:", all(len(c) == 1 for c in counts.values()))
    if args.json:
        args.json.write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
