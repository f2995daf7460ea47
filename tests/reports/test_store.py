"""Report files and rows in step: :func:`store.settle` after writers that died at each step.

The states are made with the store's own steps (a part written, a row committed, no
rename), as a writer killed at that point leaves them; tests/reports/test_render_killed.py
kills real renderers.
"""

from __future__ import annotations

import hashlib
import subprocess
import sys
from pathlib import Path

import pytest

from evalsys.reports import store
from evalsys.reports.models import Report

OLD = b"%PDF-1.7 old version %%EOF"
NEW = b"%PDF-1.7 new version %%EOF"


@pytest.fixture
def target(factory, tmp_path) -> Path:
    factory.term()
    factory.unit("CS", "school")
    return (tmp_path / "2026-2027-1" / "CS.zh.pdf").resolve()


def _record(session, path: Path, data: bytes) -> Report:
    from sqlmodel import select

    from evalsys.org.models import OrgUnit, Term

    row = Report(
        term_id=session.exec(select(Term.id)).one(),
        unit_id=session.exec(select(OrgUnit.id)).one(),
        locale="zh",
        path=str(path),
        sha256=hashlib.sha256(data).hexdigest(),
        input_hash="i" * 64,
        pages=1,
        size=len(data),
    )
    session.add(row)
    session.commit()
    return row


def _parts(directory: Path) -> list[str]:
    return sorted(p.name for p in directory.glob(".*.part"))


def _installed(session, target: Path, data: bytes) -> None:
    """The old pair: a file and its row."""
    store.write_atomically(target, data)
    _record(session, target, data)


def test_a_row_committed_before_the_rename_gets_its_file_at_the_next_settle(session, target):
    _installed(session, target, OLD)
    part = store.write_part(target, NEW)
    _record(session, target, NEW)
    part.release()  # the writer dies here: row in, file not renamed
    assert target.read_bytes() == OLD and _parts(target.parent)

    settled = store.settle(session, target.parent)
    assert settled.installed == (target.name,) and settled.removed == 0
    assert target.read_bytes() == NEW
    assert _parts(target.parent) == []


def test_a_part_whose_row_never_came_is_deleted_and_the_old_pair_stays(session, target):
    _installed(session, target, OLD)
    store.write_part(target, NEW).release()  # dies before the commit
    settled = store.settle(session, target.parent)
    assert settled == store.Settled((), 1)
    assert target.read_bytes() == OLD and _parts(target.parent) == []


def test_a_live_writers_part_is_left_alone(session, target):
    _installed(session, target, OLD)
    part = store.write_part(target, NEW)  # locked: its writer (this test) is alive
    _record(session, target, NEW)
    assert store.settle(session, target.parent) == store.Settled()
    assert target.read_bytes() == OLD and _parts(target.parent) == [part.path.name]
    part.install()  # the writer goes on as if nothing happened
    assert target.read_bytes() == NEW and _parts(target.parent) == []


def test_a_part_held_by_another_live_process_is_left_alone(session, target):
    _installed(session, target, OLD)
    part = store.write_part(target, NEW)
    part.release()
    with subprocess.Popen(
        [sys.executable, "-c", HOLD, str(part.path)], stdout=subprocess.PIPE, text=True
    ) as holder:
        try:
            assert holder.stdout.readline().strip() == "locked"
            assert store.settle(session, target.parent) == store.Settled()
            assert _parts(target.parent) == [part.path.name]
        finally:
            holder.kill()
    assert store.settle(session, target.parent) == store.Settled((), 1)  # now a dead one's


HOLD = """
import fcntl, os, sys, time
fd = os.open(sys.argv[1], os.O_RDWR)
fcntl.flock(fd, fcntl.LOCK_EX)
print("locked", flush=True)
time.sleep(60)
"""


def test_only_the_newest_rows_part_is_installed_and_only_when_it_hashes_right(session, target):
    _installed(session, target, OLD)
    # An older version's part (its row since superseded) ...
    store.write_part(target, NEW).release()
    _record(session, target, NEW)
    # ... and a part named after the newest row whose bytes are not that row's.
    newest = b"%PDF-1.7 newest %%EOF"
    _record(session, target, newest)
    sha = hashlib.sha256(newest).hexdigest()
    bad = target.parent / f".{target.name}.{sha[:16]}.zzz.part"
    bad.write_bytes(b"%PDF-1.7 truncat")
    settled = store.settle(session, target.parent)
    assert settled == store.Settled((), 2)
    assert target.read_bytes() == OLD  # disagrees with its row: the next run re-renders it
    assert _parts(target.parent) == []


def test_a_writer_that_loses_its_part_to_a_cleaner_before_locking_it_writes_another(
    session, target, monkeypatch
):
    """The instant between creating a part and locking it: a cleaner may take it for a dead
    writer's and delete it; the writer sees that (no link left) and starts over."""
    import fcntl

    real_flock = fcntl.flock
    lost: list[str] = []

    def flock_after_a_cleaner(fd, op):
        if not lost:
            [name] = _parts(target.parent)
            (target.parent / name).unlink()  # what settle does to an unlocked part
            lost.append(name)
        return real_flock(fd, op)

    target.parent.mkdir(parents=True)
    monkeypatch.setattr(store.fcntl, "flock", flock_after_a_cleaner)
    part = store.write_part(target, NEW)
    monkeypatch.undo()
    assert lost and part.path.name != lost[0] and part.path.read_bytes() == NEW
    part.install()
    assert target.read_bytes() == NEW


def test_sha256_of_and_read_verified(tmp_path):
    path = tmp_path / "a.pdf"
    assert store.sha256_of(path) is None and store.read_verified(path, "x") is None
    path.write_bytes(NEW)
    digest = hashlib.sha256(NEW).hexdigest()
    assert store.sha256_of(path) == digest
    assert store.read_verified(path, digest) == NEW
    assert store.read_verified(path, hashlib.sha256(OLD).hexdigest()) is None
