"""Benchmark: rendering the term PDF reports of the synthetic university.

Uses the university of ``bench/aggregation_bench.py`` (its generator, imported):
1 school, 30 colleges, 300 departments, 2,500 courses, 5,000 sections per term,
two terms of N feedback records each, both aggregated. On top of it, so that the
reports look like real ones, the units get Chinese names and one record in ten
gets a written problem and suggestion (Chinese text; the CJK font is subset).

Then it measures, each in a fresh process:

  * the whole tree (or the school plus ``--colleges K`` colleges and their
    departments) with 1 and with 2 worker processes: seconds, pages, seconds per
    page, and the peak resident memory of the largest worker;
  * the same again with no data change (every report skipped by its content hash);
  * our pipeline (queries + charts + template + WeasyPrint + write + record) against
    WeasyPrint alone on the same, already-rendered HTML, for a school, a college and a
    department report, alternately, ``--repeat`` times (medians);
  * single reports — the school, college C00, department C00-D0 — each against the
    *anchor*: WeasyPrint on a plain CJK table document of the same page count, in the same
    process, alternately, and the same HTML with ``table-layout: fixed`` against ``auto``
    (``--single-only``: only these, in a few minutes);
  * one college report printed by headless Chromium (``--print-to-pdf``) from the same
    HTML written to a file (stylesheet inlined), against WeasyPrint.

Not a test: nothing here asserts a time.

    .venv/bin/python bench/reports_bench.py                     # 25,000 records, whole tree
    .venv/bin/python bench/reports_bench.py --records 25000 --colleges 3 --keep /tmp/rb.sqlite3
    .venv/bin/python bench/reports_bench.py --keep /tmp/rb.sqlite3 --single-only --repeat 1

See docs/benchmarks.md for the figures and the machine they were taken on.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

import aggregation_bench as uni_gen  # noqa: E402
from sqlalchemy import text  # noqa: E402
from sqlmodel import Session  # noqa: E402

import evalsys.models  # noqa: E402,F401
from evalsys.db import make_engine  # noqa: E402

TERM = uni_gen.BENCH_TERM
REDIS_URL = os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/0")
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"

PROBLEMS = [
    "部分学生注意力不集中，课堂互动较少，后排学生玩手机现象明显。",
    "板书不够清晰，重点难点讲解节奏偏快，学生来不及记录。",
    "案例陈旧，与专业实际结合不够；实验环节准备不足，设备故障耽误了十分钟。",
    "迟到学生较多，教师未作提醒；课堂纪律有待加强。",
]
SUGGESTIONS = [
    "建议增加提问与小组讨论环节，关注后排学生。",
    "建议放慢节奏，重点内容配合板书与小结。",
    "建议更新案例，课前检查实验设备。",
    "建议课前点名并明确课堂要求。",
]


# --- the data ---------------------------------------------------------------------------------


def build(url: str, records: int) -> dict[str, float]:
    """The aggregation benchmark's university, Chinese names and comments, both terms aggregated."""
    from evalsys.aggregation.service import aggregate_term

    engine = make_engine(url)
    timings = uni_gen.build(engine, records)
    with engine.begin() as conn:
        conn.execute(text("UPDATE org_unit SET name = '示范大学' WHERE kind = 'school'"))
        conn.execute(
            text(
                "UPDATE org_unit SET name = '第' || CAST(id - 1 AS TEXT) || '学院', "
                "name_en = 'College ' || CAST(id - 1 AS TEXT) WHERE kind = 'college'"
            )
        )
        conn.execute(
            text(
                "UPDATE org_unit SET name = name || '系', name_en = name WHERE kind = 'department'"
            )
        )
        conn.execute(text("UPDATE course SET title = '课程' || code"))
        conn.execute(text("UPDATE user_account SET name = '教师' || CAST(id AS TEXT)"))
        for i, (problem, suggestion) in enumerate(zip(PROBLEMS, SUGGESTIONS, strict=True)):
            conn.execute(
                text(
                    "UPDATE feedback SET problems = :p, suggestions = :s"
                    " WHERE id % 40 = :i AND status = 'submitted'"
                ),
                {"p": problem, "s": suggestion, "i": i * 10},
            )
    t = time.perf_counter()
    with Session(engine) as session:
        for code, _start, _end in uni_gen.TERMS:
            aggregate_term(session, term=code)
    timings["aggregate both terms"] = time.perf_counter() - t
    engine.dispose()
    return timings


def bench_app(url: str, out_dir: Path, queue: str | None = None):
    from evalsys import create_app

    extra = {"REPORT_QUEUE_URL": REDIS_URL, "REPORT_QUEUE_NAME": queue} if queue else {}
    return create_app(
        {
            **extra,
            "DATABASE_URL": url,
            "SECRET_KEY": "bench",
            "REPORT_DIR": str(out_dir),
            "REPORT_TIMEOUT_SECONDS": 0,
            "INSTANCE_PATH": str(out_dir / "instance"),
            # Cold charts, as a site's first rendering draws them: no chart cache on disk
            # (BENCH_CHART_CACHE=1 measures a warm one).
            "CHART_CACHE": os.environ.get("BENCH_CHART_CACHE") == "1",
        },
        serving=False,
    )


def tree(url: str, colleges: int | None) -> list[str]:
    """The units rendered: the school, then ``colleges`` colleges and their departments."""
    from evalsys.reports.render import tree_units

    engine = make_engine(url)
    with Session(engine) as session:
        codes = tree_units(session)
    engine.dispose()
    if colleges is None:
        return codes
    keep = {f"C{c:02d}" for c in range(colleges)}
    return [c for c in codes if c == "U" or c.split("-")[0] in keep]


# --- measurements, each run in a child process --------------------------------------------------


def measure_tree(url: str, out_dir: str, jobs: int, colleges: int | None, force: bool) -> dict:
    from evalsys.reports.render import render_units

    app = bench_app(url, Path(out_dir))
    codes = tree(url, colleges)
    load_before = os.getloadavg()[0]
    started = time.perf_counter()
    outcomes = render_units(app, term_code=TERM, unit_codes=codes, jobs=jobs, force=force)
    seconds = time.perf_counter() - started
    by_level: dict[str, list[float]] = {}
    for o in outcomes:
        level = "school" if o.unit == "U" else ("department" if "-" in o.unit else "college")
        if o.status == "rendered":
            by_level.setdefault(level, []).append(o.seconds)
    return {
        **tree_summary(codes, outcomes, seconds, load_before),
        "jobs": jobs,
        "per_level": {k: [len(v), statistics.median(v)] for k, v in by_level.items()},
        # The largest worker's peak (children are reaped when the pool closes).
        "worker_maxrss_mb": resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024,
    }


def tree_summary(codes: list[str], outcomes: list, seconds: float, load_before: float) -> dict:
    """What every tree run reports (local pool or queue); a failed report stops the bench."""
    failed = [o for o in outcomes if o.status == "failed"]
    if failed:
        raise RuntimeError(f"{len(failed)} failed, e.g. {failed[0].unit}: {failed[0].error}")
    return {
        "units": len(codes),
        "seconds": seconds,
        "rendered": sum(o.status == "rendered" for o in outcomes),
        "unchanged": sum(o.status == "unchanged" for o in outcomes),
        "pages": sum(o.pages for o in outcomes),
        "worker_seconds": sum(o.seconds for o in outcomes),
        "load_1min": [load_before, os.getloadavg()[0]],
    }


def measure_tree_queue(
    url: str, out_dir: str, workers: int, colleges: int | None, force: bool
) -> dict:
    """The same tree put on the report queue (RQ on Redis) and rendered by ``workers``
    ``evalsys worker`` processes, started and warmed up (renderer imported, stylesheet
    parsed, fonts found) before the clock starts — as a site keeps its workers running."""
    from redis import Redis
    from rq import Worker

    from evalsys.reports.render import render_units

    name = f"evalsys-bench-{os.getpid()}"
    app = bench_app(url, Path(out_dir), queue=name)
    codes = tree(url, colleges)
    procs = [
        subprocess.Popen(
            [
                sys.executable,
                __file__,
                "--child",
                "worker",
                json.dumps({"url": url, "out_dir": out_dir, "queue": name}),
            ],
            env={**os.environ, "PYTHONPATH": str(ROOT)},
        )
        for _ in range(workers)
    ]
    try:
        redis = Redis.from_url(REDIS_URL)
        deadline = time.monotonic() + 120
        while sum(name in w.queue_names() for w in Worker.all(connection=redis)) < workers:
            if time.monotonic() > deadline or any(p.poll() is not None for p in procs):
                raise RuntimeError("the queue workers did not start")
            time.sleep(0.2)
        load_before = os.getloadavg()[0]
        started = time.perf_counter()
        outcomes = render_units(
            app, term_code=TERM, unit_codes=codes, force=force, queue=True, wait=True
        )
        seconds = time.perf_counter() - started
    finally:
        for p in procs:
            p.terminate()
        for p in procs:
            p.wait(timeout=60)
    return {**tree_summary(codes, outcomes, seconds, load_before), "queue_workers": workers}


def queue_worker(url: str, out_dir: str, queue: str) -> dict:
    """A queue worker process of :func:`measure_tree_queue` (runs until terminated)."""
    from evalsys.reports.queue_worker import run_worker

    run_worker(bench_app(url, Path(out_dir), queue=queue))
    return {}


def measure_overhead(url: str, out_dir: str, units: list[str], repeat: int) -> dict:
    """Our whole pipeline against WeasyPrint alone on the same HTML, in one warm process."""
    from evalsys.db import get_engine
    from evalsys.reports import charts, render
    from evalsys.reports.pdf import render_pdf

    app = bench_app(url, Path(out_dir))
    results = {}
    with app.app_context(), Session(get_engine(app), expire_on_commit=False) as session:
        # Warm up: fonts, the stylesheet, the templates.
        render.render_unit(session, app, term_code=TERM, unit_code=units[-1], force=True)
        for code in units:
            ours, alone, pages = [], [], 0
            for _ in range(repeat):
                charts.clear_memo()  # every chart drawn anew, as in a cold worker
                t = time.perf_counter()
                outcome = render.render_unit(
                    session, app, term_code=TERM, unit_code=code, force=True
                )
                ours.append(time.perf_counter() - t)
                pages = outcome.pages
                data = render.report_data(
                    session, term_code=TERM, unit_code=code, config=app.config
                )
                session.rollback()
                html = render.build_html(app, data, generated="2027-01-20 03:00")
                t = time.perf_counter()
                render_pdf(html)
                alone.append(time.perf_counter() - t)
            stages = _stages(session, app, code)
            results[code] = {
                "pages": pages,
                "ours": statistics.median(ours),
                "weasyprint": statistics.median(alone),
                "stages": stages,
            }
    return results


def _stages(session, app, code: str) -> dict[str, float]:
    """One more rendering, timed stage by stage."""
    from evalsys.reports import charts, render
    from evalsys.reports.data import input_hash
    from evalsys.reports.pdf import render_pdf

    charts.clear_memo()
    out = {}
    t = time.perf_counter()
    data = render.report_data(session, term_code=TERM, unit_code=code, config=app.config)
    out["queries"] = time.perf_counter() - t
    t = time.perf_counter()
    input_hash(data, render.template_version())
    out["hash"] = time.perf_counter() - t
    session.rollback()
    t = time.perf_counter()
    charts = render.chart_svgs(data)
    out["charts"] = time.perf_counter() - t
    template = app.jinja_env.get_template(render.TEMPLATE)
    t = time.perf_counter()
    html = template.render(
        data=data, charts=charts, generated="2027-01-20 03:00", html_lang=data["locale"]
    )
    out["template"] = time.perf_counter() - t
    t = time.perf_counter()
    render_pdf(html)
    out["weasyprint"] = time.perf_counter() - t
    return out


def measure_chromium(url: str, out_dir: str, code: str, repeat: int) -> dict:
    """One report's HTML, stylesheet inlined, printed by WeasyPrint and by headless Chromium."""
    from evalsys.db import get_engine
    from evalsys.reports import render
    from evalsys.reports.pdf import STYLESHEET, render_pdf

    app = bench_app(url, Path(out_dir))
    with app.app_context(), Session(get_engine(app)) as session:
        data = render.report_data(session, term_code=TERM, unit_code=code, config=app.config)
    html = render.build_html(app, data, generated="2027-01-20 03:00")
    render_pdf(html)  # warm
    weasy = []
    for _ in range(repeat):
        t = time.perf_counter()
        rendered = render_pdf(html)
        weasy.append(time.perf_counter() - t)
    css = STYLESHEET.read_text(encoding="utf-8")
    page = Path(out_dir) / f"{code}.html"
    page.write_text(html.replace("</head>", f"<style>{css}</style></head>", 1), encoding="utf-8")
    blank = Path(out_dir) / "blank.html"
    blank.write_text("<!doctype html><title>x</title><p>x</p>", encoding="utf-8")

    def chromium(src: Path, dest: Path) -> float:
        t = time.perf_counter()
        subprocess.run(
            [
                CHROMIUM,
                "--headless",
                "--no-sandbox",
                "--disable-gpu",
                "--no-pdf-header-footer",
                f"--print-to-pdf={dest}",
                src.as_uri(),
            ],
            check=True,
            capture_output=True,
        )
        return time.perf_counter() - t

    chromium(blank, Path(out_dir) / "blank.pdf")  # warm the disk cache
    start_up = statistics.median(
        chromium(blank, Path(out_dir) / "blank.pdf") for _ in range(repeat)
    )
    chrome_pdf = Path(out_dir) / f"{code}-chromium.pdf"
    chrome = [chromium(page, chrome_pdf) for _ in range(repeat)]
    pages = subprocess.run(
        ["pdfinfo", str(chrome_pdf)], capture_output=True, text=True, check=True
    ).stdout
    chrome_pages = int(next(ln for ln in pages.splitlines() if ln.startswith("Pages:")).split()[1])
    return {
        "unit": code,
        "weasyprint": statistics.median(weasy),
        "weasyprint_pages": rendered.pages,
        "weasyprint_bytes": len(rendered.pdf),
        "chromium": statistics.median(chrome),
        "chromium_blank_page": start_up,
        "chromium_pages": chrome_pages,
        "chromium_bytes": chrome_pdf.stat().st_size,
    }


def anchor_html(rows: int) -> str:
    """A plain CJK table document: one table of ``rows`` rows (a name in Chinese and five
    figures), no chart, no nesting: what WeasyPrint needs at least for that many pages."""
    body = "".join(
        f"<tr><th>第{i}学院 软件工程系 课程{i:04d}</th><td>{20 + i % 17}</td>"
        f"<td>{60 + (i * 7) % 40}.{i % 10}</td><td>+{i % 9}.{i % 7}</td>"
        f"<td>{i % 13}/{13 + i % 5} 个班</td><td>低于阈值 ×{i % 3}</td></tr>"
        for i in range(rows)
    )
    return (
        '<!doctype html><html lang="zh-Hans"><head><meta charset="utf-8"><title>基准</title>'
        "</head><body><h1>基准表格</h1><table><thead><tr><th>单位</th><th>n</th><th>均值</th>"
        f"<th>变化</th><th>覆盖</th><th>标记</th></tr></thead><tbody>{body}</tbody></table>"
        "</body></html>"
    )


def anchor_seconds(pages: int, repeat: int) -> tuple[float, int]:
    """Seconds WeasyPrint needs for the plain CJK table document of ``pages`` pages (median
    of ``repeat``), and the pages it really has (the rows are fitted to the count first)."""
    from evalsys.reports.pdf import render_pdf

    rows = max(1, 40 * pages)
    got = render_pdf(anchor_html(rows)).pages
    for _ in range(6):
        if got == pages:
            break
        rows = max(1, round(rows * pages / got) - (1 if got > pages else -1))
        got = render_pdf(anchor_html(rows)).pages
    html = anchor_html(rows)
    times = []
    for _ in range(repeat):
        t = time.perf_counter()
        got = render_pdf(html).pages
        times.append(time.perf_counter() - t)
    return statistics.median(times), got


def measure_single(url: str, out_dir: str, units: list[str], repeat: int, locale: str) -> dict:
    """Single reports of the benchmark university, each against the anchor: the plain CJK
    table document of the same page count, measured in the same process, alternately."""
    from evalsys.db import get_engine
    from evalsys.reports import charts, render

    app = bench_app(url, Path(out_dir))
    results = {}
    with app.app_context(), Session(get_engine(app), expire_on_commit=False) as session:
        # Warm up: fonts, the stylesheet, the templates.
        render.render_unit(
            session, app, term_code=TERM, unit_code=units[-1], force=True, locale=locale
        )
        anchor_seconds(1, 1)
        for code in units:
            ours, anchors, pages, anchor_pages = [], [], 0, 0
            load = os.getloadavg()[0]
            for _ in range(repeat):
                charts.clear_memo()  # every chart drawn anew, as in a cold worker
                t = time.perf_counter()
                outcome = render.render_unit(
                    session, app, term_code=TERM, unit_code=code, force=True, locale=locale
                )
                ours.append(time.perf_counter() - t)
                pages = outcome.pages
                seconds, anchor_pages = anchor_seconds(pages, 1)
                anchors.append(seconds)
            results[code] = {
                "pages": pages,
                "ours": statistics.median(ours),
                "anchor": statistics.median(anchors),
                "anchor_pages": anchor_pages,
                "load_1min": [load, os.getloadavg()[0]],
                "path": outcome.path,
            }
    return results


def measure_layout(url: str, out_dir: str, units: list[str], repeat: int, locale: str) -> dict:
    """``table-layout: fixed`` (report.css) against ``auto`` on the same HTML, WeasyPrint
    alone, alternately: does giving the tables' column widths pay?"""
    from weasyprint import CSS, HTML

    from evalsys.db import get_engine
    from evalsys.reports import pdf, render
    from evalsys.reports.fetcher import AssetFetcher

    fixed = "table.fixed { table-layout: fixed; }"
    source = pdf.STYLESHEET.read_text(encoding="utf-8")
    if fixed not in source:
        raise RuntimeError("report.css has no fixed table layout to compare")
    sheets = {
        "fixed": pdf.stylesheet(),
        "auto": CSS(
            string=source.replace(fixed, "table.fixed { table-layout: auto; }"),
            font_config=pdf.font_config(),
            url_fetcher=AssetFetcher(),
        ),
    }
    app = bench_app(url, Path(out_dir))
    results = {}
    with app.app_context(), Session(get_engine(app), expire_on_commit=False) as session:
        for code in units:
            data = render.report_data(
                session, term_code=TERM, unit_code=code, config=app.config, locale=locale
            )
            session.rollback()
            html = render.build_html(app, data, generated="2027-01-20 03:00")
            times: dict[str, list[float]] = {"auto": [], "fixed": []}
            pages = {}
            for _ in range(repeat):
                for name, sheet in sheets.items():
                    t = time.perf_counter()
                    document = HTML(
                        string=html, base_url="evalsys-asset:/", url_fetcher=AssetFetcher()
                    ).render(stylesheets=[sheet], font_config=pdf.font_config())
                    document.write_pdf()
                    times[name].append(time.perf_counter() - t)
                    pages[name] = len(document.pages)
            results[code] = {
                name: {"seconds": statistics.median(v), "pages": pages[name]}
                for name, v in times.items()
            } | {"load_1min": os.getloadavg()[0]}
    return results


def child(kind: str, **kwargs) -> dict:
    """Run one measurement in a fresh interpreter (its own peak memory, cold caches)."""
    proc = subprocess.run(
        [sys.executable, __file__, "--child", kind, json.dumps(kwargs)],
        capture_output=True,
        text=True,
        check=False,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )
    if proc.returncode != 0:
        raise RuntimeError(proc.stderr[-3000:])
    return json.loads(proc.stdout.strip().splitlines()[-1])


# --- the driver ----------------------------------------------------------------------------------


def machine() -> str:
    cpu = "?"
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            cpu = line.split(":", 1)[1].strip()
            break
    mem = Path("/proc/meminfo").read_text().splitlines()[0].split()[1]
    import weasyprint

    chrome = subprocess.run([CHROMIUM, "--version"], capture_output=True, text=True).stdout.strip()
    return (
        f"{cpu}, {os.cpu_count()} CPUs, {int(mem) // 1024 // 1024 + 1} GB; "
        f"{platform.platform()}; Python {platform.python_version()}; "
        f"WeasyPrint {weasyprint.__version__}; {chrome}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--records", type=int, default=25_000, help="records per term")
    parser.add_argument(
        "--colleges",
        type=int,
        default=None,
        help="render the school and only this many colleges (with their departments)",
    )
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--keep", metavar="FILE", help="build into (or reuse) this SQLite file")
    parser.add_argument("--json", metavar="FILE", help="also write the raw figures here")
    parser.add_argument(
        "--single-only",
        action="store_true",
        help="only the single reports (school, a college, a department) against the anchor",
    )
    parser.add_argument("--locale", default="zh", help="the single reports' language")
    parser.add_argument(
        "--tree-only",
        action="store_true",
        help="only the tree: local processes (1, 2) and queue workers (1, 2), nothing else",
    )
    parser.add_argument(
        "--modes",
        default="local1,local2,queue1,queue2",
        help="the tree's runs: localN = N local processes, queueN = N queue workers",
    )
    parser.add_argument("--child", nargs=2, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        kind, kwargs = args.child[0], json.loads(args.child[1])
        func = {
            "tree": measure_tree,
            "tree_queue": measure_tree_queue,
            "worker": queue_worker,
            "overhead": measure_overhead,
            "chromium": measure_chromium,
            "single": measure_single,
            "layout": measure_layout,
        }[kind]
        print(json.dumps(func(**kwargs)))
        return

    with tempfile.TemporaryDirectory(prefix="evalsys-reports-bench-") as tmpdir:
        tmp = Path(tmpdir)
        db = Path(args.keep) if args.keep else tmp / "bench.sqlite3"
        url = f"sqlite:///{db}"
        results: dict = {"machine": machine(), "records": args.records}
        if not db.exists():
            print(f"building the university with {args.records:,} records per term ...", flush=True)
            results["build"] = build(url, args.records)
            print(f"  {results['build']}", flush=True)
        common = {"url": url, "colleges": args.colleges}
        units = ["U", "C00", "C00-D0"]
        if args.tree_only:
            run_tree(results, tmp, common, args.modes.split(","))
            print()
            print(tree_report(results))
            if args.json:
                Path(args.json).write_text(json.dumps(results, indent=1), encoding="utf-8")
            return
        results["single"] = child(
            "single",
            url=url,
            out_dir=str(tmp / "single"),
            units=units,
            repeat=args.repeat,
            locale=args.locale,
        )
        print(f"single: {results['single']}", flush=True)
        results["layout"] = child(
            "layout",
            url=url,
            out_dir=str(tmp / "layout"),
            units=units,
            repeat=args.repeat,
            locale=args.locale,
        )
        print(f"table layout: {results['layout']}", flush=True)
        if args.single_only:
            print()
            print(single_report(results["single"], results["layout"]))
            return
        run_tree(results, tmp, common, args.modes.split(","))
        results["overhead"] = child(
            "overhead", url=url, out_dir=str(tmp / "ov"), units=units, repeat=args.repeat
        )
        print(f"overhead: {results['overhead']}", flush=True)
        results["chromium"] = child(
            "chromium", url=url, out_dir=str(tmp / "ch"), code="C00", repeat=args.repeat
        )
        print(f"chromium: {results['chromium']}", flush=True)
    print()
    print(report(results))
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=1), encoding="utf-8")


def run_tree(results: dict, tmp: Path, common: dict, modes: list[str]) -> None:
    """The tree in each mode, forced (every report rendered, cold charts); after each local
    run the same again with no data change (every report found unchanged)."""
    for mode in modes:
        out = tmp / f"out-{mode}"
        if mode.startswith("local"):
            jobs = int(mode.removeprefix("local"))
            first = child("tree", out_dir=str(out), jobs=jobs, force=True, **common)
            print(f"tree, {jobs} process(es): {first}", flush=True)
            results[f"tree_{jobs}"] = first
            again = child("tree", out_dir=str(out), jobs=jobs, force=False, **common)
            print(f"  again, no change: {again}", flush=True)
            results[f"again_{jobs}"] = again
        elif mode.startswith("queue"):
            workers = int(mode.removeprefix("queue"))
            first = child("tree_queue", out_dir=str(out), workers=workers, force=True, **common)
            print(f"tree, {workers} queue worker(s): {first}", flush=True)
            results[f"queue_{workers}"] = first
        else:
            raise SystemExit(f"--modes: {mode!r} is neither localN nor queueN")


def tree_report(r: dict) -> str:
    lines = [
        "| how | reports | pages | wall (s) | s per report | largest worker RSS (MB) | "
        "again, no change (s) | load (1 min) before–after |",
        "|---|---:|---:|---:|---:|---:|---:|---|",
    ]
    for key in sorted(k for k in r if k.startswith(("tree_", "queue_"))):
        t = r[key]
        how = (
            f"{t['jobs']} local process(es)"
            if key.startswith("tree_")
            else f"{t['queue_workers']} queue worker(s)"
        )
        again = r.get(f"again_{t['jobs']}") if key.startswith("tree_") else None
        rss = f"{t['worker_maxrss_mb']:.0f}" if "worker_maxrss_mb" in t else "—"
        lines.append(
            f"| {how} | {t['rendered']} | {t['pages']:,} | {t['seconds']:.1f} | "
            f"{t['seconds'] / max(1, t['rendered']):.2f} | {rss} | "
            + (f"{again['seconds']:.1f} ({again['unchanged']} unchanged)" if again else "—")
            + f" | {t['load_1min'][0]:.1f}–{t['load_1min'][1]:.1f} |"
        )
    return "\n".join(lines)


def single_report(single: dict, layout: dict) -> str:
    """The single reports against the anchor (target: ours ≤ 2× the anchor), and the
    table layouts compared."""
    lines = [
        "| report | pages | ours (s) | anchor: plain CJK table, same pages (s) | ratio | "
        "load (1 min) |",
        "|---|---:|---:|---:|---:|---|",
    ]
    for code, o in single.items():
        lines.append(
            f"| {code} | {o['pages']} | {o['ours']:.2f} | {o['anchor']:.2f} "
            f"({o['anchor_pages']} pages) | {o['ours'] / o['anchor']:.2f} | "
            f"{o['load_1min'][0]:.1f}–{o['load_1min'][1]:.1f} |"
        )
    lines += ["", "| report | table-layout auto (s) | fixed (s) | change | load (1 min) |"]
    lines.append("|---|---:|---:|---:|---:|")
    for code, o in layout.items():
        auto, fixed = o["auto"]["seconds"], o["fixed"]["seconds"]
        lines.append(
            f"| {code} | {auto:.2f} ({o['auto']['pages']} pages) | {fixed:.2f} "
            f"({o['fixed']['pages']} pages) | {100 * (fixed - auto) / auto:+.0f} % | "
            f"{o['load_1min']:.1f} |"
        )
    return "\n".join(lines)


def report(r: dict) -> str:
    lines = [f"Machine: {r['machine']}", f"Records per term: {r['records']:,}", ""]
    lines += [single_report(r["single"], r["layout"]), ""]
    lines.append(tree_report(r))
    lines += ["", "| report | pages | ours (s) | WeasyPrint alone (s) | ratio | stages (s) |"]
    lines.append("|---|---:|---:|---:|---:|---|")
    for code, o in r["overhead"].items():
        stages = ", ".join(f"{k} {v:.2f}" for k, v in o["stages"].items())
        lines.append(
            f"| {code} | {o['pages']} | {o['ours']:.2f} | {o['weasyprint']:.2f} | "
            f"{o['ours'] / o['weasyprint']:.2f} | {stages} |"
        )
    c = r["chromium"]
    lines += [
        "",
        f"College {c['unit']}: WeasyPrint {c['weasyprint']:.2f} s ({c['weasyprint_pages']} pages, "
        f"{c['weasyprint_bytes'] // 1024} KB); Chromium {c['chromium']:.2f} s "
        f"({c['chromium_pages']} pages, {c['chromium_bytes'] // 1024} KB), of which "
        f"{c['chromium_blank_page']:.2f} s start-up (a blank page); ratio WeasyPrint/Chromium "
        f"{c['weasyprint'] / c['chromium']:.2f}, without the start-up "
        f"{c['weasyprint'] / max(0.001, c['chromium'] - c['chromium_blank_page']):.2f}",
    ]
    return "\n".join(lines)


if __name__ == "__main__":
    main()
