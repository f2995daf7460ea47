"""The bulletin as a PDF, rendered by the command, read back with pdftotext.

Rendering is the expensive part: this module renders three PDFs in one test (a busy week
in Chinese and English, an empty week) and checks the rest without rendering.
"""

from __future__ import annotations

import shutil
import subprocess
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlmodel import col, select

from evalsys.bulletins.models import Bulletin
from evalsys.loop.models import Problem
from tests.bulletins.conftest import EMPTY_WEEK, TEACHER_EN, TEACHER_ZH, WEEK

pytestmark = pytest.mark.skipif(shutil.which("pdftotext") is None, reason="needs poppler-utils")


def _text(path: Path) -> str:
    out = subprocess.run(["pdftotext", "-layout", str(path), "-"], capture_output=True, check=True)
    return out.stdout.decode()


def test_rendered_read_back_in_both_languages(bulletin_world, session, cli):
    results = {}
    for week, lang in ((WEEK, "zh"), (WEEK, "en"), (EMPTY_WEEK, "en")):
        result = cli("bulletin", "--week", week, "--unit", "CS", "--lang", lang)
        assert result.exit_code == 0, result.output
        results[(week, lang)] = result.output
    rows = {(r.week, r.locale): r for r in session.exec(select(Bulletin))}
    assert set(rows) == {(WEEK, "zh"), (WEEK, "en"), (EMPTY_WEEK, "en")}
    for row in rows.values():
        assert 1 <= row.pages <= 3
        assert Path(row.path).read_bytes()[:5] == b"%PDF-"
    zh = _text(Path(rows[(WEEK, "zh")].path))
    en = _text(Path(rows[(WEEK, "en")].path))
    empty = _text(Path(rows[(EMPTY_WEEK, "en")].path))
    assert "督导简报" in zh and "计算机学院" in zh and "2026-W45" in zh
    assert "得分最低的维度" in zh and "第 10 教学周" in zh
    assert "Weekly supervision bulletin" in en and "Lowest dimensions" in en
    assert "problem in_cs_monday_site" in en and "overdue open" in en
    for text in (zh, en):
        for name in (TEACHER_ZH, TEACHER_EN, "T2-SE1-0"):
            assert name not in text
    assert "Nothing to report this week" in empty and "Visits" not in empty
    assert not rows[(WEEK, "en")].empty and rows[(EMPTY_WEEK, "en")].empty

    # A busy week still fits in three pages: the lists are cut, the rest counted.
    when = datetime(2026, 11, 3, 4, tzinfo=UTC)
    for i in range(40):
        session.add(
            Problem(
                term_id=bulletin_world.uni.terms["T2"].id,
                unit_id=bulletin_world.uni.units["CS-AI"].id,
                title=f"busy problem {i} " + "很长的问题描述" * 12,
                created_at=when,
                updated_at=when,
            )
        )
    session.commit()
    result = cli("bulletin", "--week", WEEK, "--unit", "CS", "--lang", "zh")
    assert result.exit_code == 0, result.output
    busy = session.exec(select(Bulletin).order_by(col(Bulletin.id).desc())).first()
    assert busy is not None and 1 <= busy.pages <= 3
    assert "另有 33 条" in _text(Path(busy.path))


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--week", "2026-45"], "not an ISO week"),
        (["--week", "2026-W54"], "has no week 54"),
        (["--week", WEEK, "--unit", "NOPE"], "no unit has the code 'NOPE'"),
        (["--week", WEEK, "--unit", "CS-SE"], "bulletins are made for the school"),
        (["--week", WEEK, "--lang", "fr"], "Invalid value for '--lang'"),
    ],
)
def test_command_errors(bulletin_world, session, cli, args, message):
    result = cli("bulletin", *args)
    assert result.exit_code != 0
    assert message in result.output
    assert session.exec(select(Bulletin)).first() is None
