"""The report renderer killed with SIGKILL half-way: no partial PDF visible, the next run completes.

Real processes: ``python -m evalsys.cli report`` (with its worker processes) is
killed as a group while it renders the tree, and a process writing one large
file through :func:`write_atomically` is killed in the middle of the write.
"""

from __future__ import annotations

import hashlib
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from pypdf import PdfReader
from sqlmodel import select

from evalsys import ROOT
from evalsys.reports.models import Report
from tests.reports.test_cli_and_views import TERM, TREE


def _env(app, tmp_path: Path) -> dict[str, str]:
    env = dict(os.environ)
    env.update(
        EVALSYS_DATABASE_URL=app.config["DATABASE_URL"],
        EVALSYS_INSTANCE_PATH=str(tmp_path / "instance-cli"),
        PYTHONPATH=str(ROOT),
    )
    return env


def _visible(directory: Path) -> list[Path]:
    return sorted(p for p in directory.iterdir() if not p.name.startswith("."))


def _complete_pdf(path: Path) -> int:
    data = path.read_bytes()
    assert data.startswith(b"%PDF") and data.rstrip().endswith(b"%%EOF"), path
    return len(PdfReader(path).pages)


def test_killed_report_run_leaves_only_whole_pdfs_and_the_next_run_completes(
    aggregated, session, app, cli, tmp_path
):
    out = tmp_path / "out"
    term_dir = out / TERM
    proc = subprocess.Popen(
        [sys.executable, "-m", "evalsys.cli", "report", "--term", TERM, "--out", str(out)]
        + ["--jobs", "2"],
        env=_env(app, tmp_path),
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,  # its workers share its process group: kill them all
    )
    try:
        deadline = time.monotonic() + 300
        while not (term_dir.is_dir() and list(term_dir.glob("*.pdf"))):
            assert proc.poll() is None, "the report run ended before it could be killed"
            assert time.monotonic() < deadline, "no report appeared in time"
            time.sleep(0.005)
    finally:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
    time.sleep(0.2)  # the workers die with the group

    shown = _visible(term_dir)
    assert 0 < len(shown) < len(TREE), "killed half-way: some reports done, not all"
    for path in shown:
        assert path.suffix == ".pdf"
        assert _complete_pdf(path) >= 2
    session.rollback()
    for record in session.exec(select(Report)).all():  # a record only for a whole file
        path = Path(record.path)
        assert hashlib.sha256(path.read_bytes()).hexdigest() == record.sha256

    # A temporary file like one left by a writer killed mid-write, older than any live writer.
    stale = term_dir / ".CS.pdf.abc123.part"
    stale.write_bytes(b"%PDF-1.7 half")
    old = time.time() - 3 * 3600
    os.utime(stale, (old, old))

    result = cli("report", "--term", TERM, "--out", str(out), "--jobs", "2")
    assert result.exit_code == 0, result.output
    assert "0 failed" in result.output
    assert sorted(p.name for p in _visible(term_dir)) == sorted(f"{c}.en.pdf" for c in TREE)
    assert not stale.exists()
    session.rollback()
    records = session.exec(select(Report)).all()
    latest = {}
    for record in records:
        latest[record.unit_id] = record
    assert len(latest) == len(TREE)
    for record in latest.values():
        path = Path(record.path)
        assert _complete_pdf(path) == record.pages
        assert hashlib.sha256(path.read_bytes()).hexdigest() == record.sha256


WRITER = """
import sys
from pathlib import Path
from evalsys.reports.pdf import write_atomically
write_atomically(Path(sys.argv[1]), b"%PDF-1.7\\n" + b"x" * (64 * 1024 * 1024) + b"\\n%%EOF\\n")
"""


def test_a_writer_killed_mid_write_leaves_the_previous_file(tmp_path):
    target = tmp_path / "TERM" / "CS.pdf"
    target.parent.mkdir()
    target.write_bytes(b"%PDF-1.7 previous version %%EOF")
    proc = subprocess.Popen(
        [sys.executable, "-c", WRITER, str(target)],
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        cwd=ROOT,
    )
    try:
        deadline = time.monotonic() + 60
        while not any(p.stat().st_size > 0 for p in target.parent.glob(".CS.pdf.*.part")):
            assert proc.poll() is None, "the writer finished before it could be killed"
            assert time.monotonic() < deadline
            time.sleep(0.001)
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait()
    assert proc.returncode == -signal.SIGKILL
    assert target.read_bytes() == b"%PDF-1.7 previous version %%EOF"
    assert _visible(target.parent) == [target]
