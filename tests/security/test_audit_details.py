"""Audit details in the reader's language: the structured ones evalsys writes are said in
words, free text stays as typed, and what is stored does not change."""

from __future__ import annotations

import pytest
from sqlmodel import col, select

from evalsys.accounts import service
from evalsys.accounts.models import AuditEvent
from evalsys.i18n import in_locale
from evalsys.security.details import detail_text
from tests.factories import Factory
from tests.i18n.visible import visible_text


@pytest.fixture
def people(factory: Factory):
    factory.university()
    return {"root": factory.user("root", "admin@U"), "dean": factory.user("dean", "dean@CS")}


def _details(session) -> dict[str, str]:
    session.expire_all()
    rows = session.exec(select(AuditEvent).order_by(col(AuditEvent.id))).all()
    return {e.action: e.detail for e in rows if e.detail}


def test_stored_details_stay_english_and_are_shown_translated(app, session, people):
    service.set_active(session, people["dean"], False, by=people["root"].id)
    service.replace_grants(session, people["dean"], [service.parse_role_spec("teacher@CS-SE")])
    session.commit()
    stored = _details(session)
    # What is stored is what evalsys always wrote (other tests and searches read it).
    assert stored["user.deactivate"] == "before: active; after: inactive"
    assert stored["role.grant"] == "teacher@CS-SE"

    with app.test_request_context(), in_locale("zh"):
        assert (
            detail_text("user.deactivate", stored["user.deactivate"])
            == "变更前：启用；变更后：停用"
        )
        assert detail_text("role.grant", stored["role.grant"]) == "教师@CS-SE"
    with app.test_request_context(), in_locale("en"):
        assert detail_text("user.deactivate", stored["user.deactivate"]) == (
            "before: active; after: inactive"
        )
        assert detail_text("role.grant", stored["role.grant"]) == "Teacher@CS-SE"


@pytest.mark.parametrize(
    ("action", "stored", "zh"),
    [
        (
            "role.grant",
            "dean@CS (before: teacher@CS; after: dean@CS;teacher@CS)",
            "院长@CS（变更前：教师@CS；变更后：院长@CS;教师@CS）",
        ),
        ("role.revoke", "tutor@CS-AI (import)", "导师@CS-AI（导入）"),
        ("user.activate", "before: inactive; after: active", "变更前：停用；变更后：启用"),
        ("password.change", "2 other sessions ended", "已结束 2 个会话"),
        ("sessions.end", "1 session ended (roles)", "已结束 1 个会话（角色已变更）"),
        # The loop's statuses are named; what the user typed after the colon stays as typed.
        (
            "problem.status",
            "open → dismissed: not a real problem",
            "已确认 → 不予处理：not a real problem",
        ),
        (
            "action.status",
            "status: open → done; note: '' → 'ok'",
            "状态：未开始 → 已完成; note: '' → 'ok'",
        ),
        ("aggregates.export", "csv, 12 rows, web", "CSV, 12 行；网页导出"),
        ("feedback.export", "xlsx, 3 records, to out.xlsx", "XLSX, 3 条记录；导出至 out.xlsx"),
        ("plan.draw", "week 5 seed 2026", "第 5 周，种子 2026"),
        (
            "import",
            "units.csv: 3 created, 1 updated, 10 unchanged; "
            "terms.csv: 0 created, 0 updated, 2 unchanged",
            "units.csv：新增 3 条，更新 1 条，未变 10 条；"
            "terms.csv：新增 0 条，更新 0 条，未变 2 条",
        ),
        (
            "action.create",
            "problem 4; owner 7; due 2026-12-31",
            "问题 #4；负责人：用户 7；截止 2026-12-31",
        ),
        (
            "meeting.create",
            "CS-SE 2026-11-30: 教学方法研讨; problems [3, 4]",
            "CS-SE，2026-11-30：教学方法研讨；问题 #3, #4",
        ),
        # Free text is shown as typed, with the reader's punctuation around it.
        ("problem.create", "CS: 课堂纪律松散; 迟到多", "CS：课堂纪律松散; 迟到多"),
        # Details no rule knows are shown as stored.
        ("role.grant", "something else entirely", "something else entirely"),
        ("custom.thing", "before: active; after: inactive", "before: active; after: inactive"),
    ],
)
def test_each_structured_detail_reads_in_chinese(app, action, stored, zh):
    with app.test_request_context(), in_locale("zh"):
        assert detail_text(action, stored) == zh


def test_the_chinese_page_shows_the_translated_detail(app, session, people):
    service.set_active(session, people["dean"], False, by=people["root"].id)
    people["root"].locale = "zh"
    session.add(people["root"])
    session.commit()
    client = app.test_client()
    r = client.post("/login", data={"username": "root", "password": Factory.PASSWORD})
    assert r.status_code == 302
    text = visible_text(client.get("/admin/audit/?action=user.deactivate").get_data(as_text=True))
    assert "变更前：启用；变更后：停用" in text
    assert "before: active" not in text


def test_every_action_evalsys_records_has_a_name_for_people():
    """A code without a name shows raw on the page (``report.view``, say): every literal
    action code passed to an audit call in evalsys must be in the page's list."""
    import re

    from evalsys import ROOT
    from evalsys.security.views import ACTION_NAMES

    call = re.compile(r"\baudit\(\s*(?:session,\s*)?(?:[\w.]+,\s*)?\"([a-z_]+(?:\.[a-z_]+)*)\"")
    used = {
        code
        for path in (ROOT / "evalsys").rglob("*.py")
        for code in call.findall(path.read_text(encoding="utf-8"))
    }
    assert {"login", "import", "report.view", "problem.status"} <= used  # the scan finds them
    assert sorted(used - set(ACTION_NAMES)) == []


def test_loop_targets_name_what_the_number_is_of(app):
    from evalsys.security.details import target_text

    with app.test_request_context(), in_locale("zh"):
        assert target_text("problem 12") == "问题 #12"
        assert target_text("action 3") == "整改措施 #3"
        assert target_text("meeting 5") == "研讨会 #5"
        assert target_text("2026-2027-1 CS") == "2026-2027-1 CS"  # codes stay codes
    with app.test_request_context(), in_locale("en"):
        assert target_text("problem 12") == "problem #12"
