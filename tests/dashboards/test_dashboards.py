"""The role dashboards on the home page: scoped, right against an independent count, bounded.

Expected figures are computed here from the feedback records themselves (Python's
``statistics`` over the submitted records), never from the aggregation's tables.
"""

from __future__ import annotations

import math
import re
import statistics
from collections import defaultdict
from datetime import date

import pytest
from sqlmodel import select

from evalsys.accounts.models import User
from evalsys.aggregation import service
from evalsys.aggregation.models import AggregateFlag, AggregateResult, AggregationRun
from evalsys.clock import local_today
from evalsys.dashboards.admin import admin_dashboard, current_term
from evalsys.dashboards.leader import leader_dashboard
from evalsys.dashboards.teacher import mine_against_department
from evalsys.feedback.models import Feedback
from evalsys.org.models import Course, OrgUnit, OrgUnitClosure, Section
from evalsys.scheduler.models import JobRun


def user(session, username: str) -> User:
    return session.exec(select(User).where(User.username == username)).one()


def submitted(session) -> list[Feedback]:
    return list(session.exec(select(Feedback).where(Feedback.status == "submitted")).all())


def score(f: Feedback) -> float:
    """A record's overall score as the aggregation counts it: rounded to 6 decimals."""
    return round(f.overall_score, 6)  # type: ignore[arg-type]


def subtree(session, code: str) -> set[int]:
    unit = session.exec(select(OrgUnit).where(OrgUnit.code == code)).one()
    return set(
        session.exec(
            select(OrgUnitClosure.descendant_id).where(OrgUnitClosure.ancestor_id == unit.id)
        ).all()
    )


def home(client, auth, username: str) -> str:
    auth.logout()
    auth.login(username)
    response = client.get("/")
    assert response.status_code == 200
    return response.get_data(as_text=True)


def part(page: str, element_id: str) -> str:
    """The HTML of one dashboard (an <article id=...>), or '' when it is not on the page."""
    match = re.search(rf'<article class="dashboard" id="{element_id}">(.*?)</article>', page, re.S)
    return match.group(1) if match else ""


def close(a, b, tol=1e-9) -> bool:
    return math.isclose(a, b, rel_tol=tol, abs_tol=tol)


# --- teacher ---------------------------------------------------------------------------------


def test_teacher_means_against_department_match_the_records(aggregated, session):
    teacher = user(session, "t0")
    sections = {s.id: s for s in session.exec(select(Section)).all()}
    courses = {c.id: c for c in session.exec(select(Course)).all()}
    codes = {u.id: u.code for u in session.exec(select(OrgUnit)).all()}
    terms = {t.id: t.code for t in aggregated.terms.values()}
    mine: dict[tuple, list[float]] = defaultdict(list)
    dept: dict[tuple, list[float]] = defaultdict(list)
    for f in submitted(session):
        if f.kind == "tutor_group":
            continue
        key = (terms[f.term_id], codes[f.department_id], f.kind)
        dept[key].append(score(f))
        section = sections[f.section_id]  # type: ignore[index]
        if section.teacher_id == teacher.id:
            assert courses[section.course_id].department_id == f.department_id
            mine[key].append(score(f))

    rows = mine_against_department(session, user=teacher, min_n=3)

    assert {(r["term"], r["department"], r["kind"]) for r in rows} == set(mine)
    assert any(not r["insufficient"] for r in rows) and any(r["insufficient"] for r in rows)
    for r in rows:
        key = (r["term"], r["department"], r["kind"])
        assert r["n"] == len(mine[key])
        assert close(r["mean"], statistics.fmean(mine[key]))
        assert r["insufficient"] == (len(mine[key]) < 3)
        assert r["dept_n"] == len(dept[key])
        assert close(r["dept_mean"], statistics.fmean(dept[key]))
        if r["insufficient"] or len(dept[key]) < 3:
            assert r["diff"] is None
        else:
            assert close(r["diff"], statistics.fmean(mine[key]) - statistics.fmean(dept[key]))
    # Latest term first.
    order = [r["term"] for r in rows]
    assert order == sorted(order, reverse=True)


def test_teacher_sees_only_their_own_sections(client, auth, aggregated, session):
    teacher = user(session, "t0")
    page = part(home(client, auth, "t0"), "dash-teacher")
    assert page
    shown = set(re.findall(r"<strong>([\w-]+)</strong>", page))
    taught = {s.code for s in session.exec(select(Section)).all() if s.teacher_id == teacher.id}
    others = {s.code for s in session.exec(select(Section)).all()} - taught
    assert shown and shown <= taught
    assert not any(f">{code}<" in page for code in others)
    total = sum(
        1
        for f in submitted(session)
        if f.section_id and session.get(Section, f.section_id).teacher_id == teacher.id  # type: ignore[union-attr]
    )
    assert f"All {total} records on my sections" in page
    # A teacher reads no unit's statistics and administers nothing.
    full = home(client, auth, "t0")
    assert not part(full, "dash-leader") and not part(full, "dash-admin")


def test_teacher_table_on_the_page(client, auth, aggregated, session):
    page = part(home(client, auth, "t0"), "dash-teacher")
    rows = mine_against_department(session, user=user(session, "t0"), min_n=3)
    sufficient = next(r for r in rows if not r["insufficient"] and r["diff"] is not None)
    assert f"{sufficient['mean']:.1f}" in page and f"{sufficient['diff']:+.1f}" in page
    # My own mean is shown even from too few records (they are mine), but not compared.
    assert page.count("too few to compare") >= sum(r["insufficient"] for r in rows)


# --- head / dean / leader --------------------------------------------------------------------


def test_dean_kpis_match_the_records(aggregated, session):
    dean = user(session, "dean")
    term = aggregated.terms["T2"]
    board = leader_dashboard(session, user=dean, min_n=3)
    assert board is not None and board.term.id == term.id  # type: ignore[union-attr]
    assert [p.unit.code for p in board.panels] == ["CS"]
    panel = board.panels[0]
    cs = subtree(session, "CS")
    records = [f for f in submitted(session) if f.term_id == term.id and f.department_id in cs]
    scores = [score(f) for f in records]
    assert panel.overall["n"] == len(records)  # type: ignore[index]
    assert close(panel.overall["mean"], statistics.fmean(scores))  # type: ignore[index,arg-type]
    assert close(panel.overall["sd"], statistics.stdev(scores))  # type: ignore[index,arg-type]
    edges = (60, 70, 80, 90)
    bands = [0] * 5
    for x in scores:
        bands[sum(x >= e for e in edges)] += 1
    assert panel.overall["bands"] == bands  # type: ignore[index]
    by_kind = {k["kind"]: k["n"] for k in panel.by_kind}
    expected = defaultdict(int)
    for f in records:
        expected[f.kind] += 1
    assert by_kind == dict(expected)
    # Coverage: sections of CS this term with at least one spot check.
    in_cs = [
        s
        for s in session.exec(select(Section).where(Section.term_id == term.id)).all()
        if session.get(Course, s.course_id).department_id in cs  # type: ignore[union-attr]
    ]
    spotted = {f.section_id for f in records if f.kind == "spot_check"}
    assert panel.coverage["spot"] == {  # type: ignore[index]
        "part": sum(s.id in spotted for s in in_cs),
        "total": len(in_cs),
        "percent": 100.0 * sum(s.id in spotted for s in in_cs) / len(in_cs),
    }
    # Flagged children: exactly the departments of CS with a flag, with their flag counts.
    flags = session.exec(select(AggregateFlag).where(AggregateFlag.term_id == term.id)).all()
    dept_ids = {u.id: u.code for u in session.exec(select(OrgUnit)).all()}
    expected_flags: dict[str, int] = defaultdict(int)
    for f in flags:
        if f.level == "department" and f.unit_id in cs:
            expected_flags[dept_ids[f.unit_id]] += 1
    assert {c["code"]: c["count"] for c in panel.flagged} == dict(expected_flags)
    assert expected_flags, "the generated data has flags in CS"


def test_a_dean_of_one_college_sees_nothing_of_another(client, auth, aggregated, session):
    cs = part(home(client, auth, "dean"), "dash-leader")
    math_ = part(home(client, auth, "mdean"), "dash-leader")
    assert 'id="kpi-CS"' in cs and 'id="kpi-MATH"' not in cs
    assert 'id="kpi-MATH"' in math_ and 'id="kpi-CS"' not in math_

    def named(page: str, code: str) -> bool:
        return any(
            mark in page
            for mark in (f">{code}<", f'data-code="{code}"', f"/units/{code}?", f">{code} ·")
        )

    assert named(cs, "CS-AI") and named(math_, "MATH-PURE")  # the marks do find units
    for code in ("MATH", "MATH-PURE", "MATH-APP", "MP1", "MP2", "ART", "ART-DES", "U"):
        assert not named(cs, code), code
    for code in ("CS", "CS-SE", "CS-AI", "SE1", "AI1", "ART-DES"):
        assert not named(math_, code), code
    # The distribution is drawn and spelled out.
    board = leader_dashboard(session, user=user(session, "dean"), min_n=3)
    counts = board.panels[0].overall["bands"]  # type: ignore[union-attr,index]
    legend = re.search(r'class="muted small-print band-legend">(.*?)</p>', cs, re.S)
    assert legend and re.findall(r": (\d+)", legend.group(1)) == [str(c) for c in counts]
    assert cs.count('class="band band-') == sum(1 for c in counts if c)
    # Drill-down: each flagged department links to its page for the term.
    t2 = aggregated.terms["T2"].code
    assert f'href="/units/CS-AI?term={t2}"' in cs


def test_a_head_drills_down_to_courses_through_the_department_page(
    client, auth, aggregated, session
):
    page = part(home(client, auth, "head"), "dash-leader")
    assert 'id="kpi-CS-SE"' in page and 'id="kpi-CS"' not in page
    board = leader_dashboard(session, user=user(session, "head"), min_n=3)
    courses = {c["code"] for c in board.panels[0].flagged}  # type: ignore[union-attr]
    assert courses <= {"SE1", "SE2", "SE3"}
    t2 = aggregated.terms["T2"].code
    for code in courses:
        item = re.search(rf'data-code="{code}">(.*?)</li>', page, re.S)
        assert item and f'href="/units/CS-SE?term={t2}"' in item.group(1)


def test_no_statistics_before_any_aggregation(client, auth, uni):
    uni.factory.user("dean", "dean@CS")
    page = part(home(client, auth, "dean"), "dash-leader")
    assert "No term has been aggregated yet" in page


# --- supervisor / tutor ----------------------------------------------------------------------


def test_supervisor_sees_own_recent_records_and_the_planner_place(
    client, auth, aggregated, session
):
    page = part(home(client, auth, "o1"), "dash-observer")
    me = user(session, "o1")
    mine = [f for f in session.exec(select(Feedback)).all() if f.observer_id == me.id]
    assert f"All {len(mine)} of my records" in page
    ids = set(map(int, re.findall(r'href="/feedback/(\d+)"', page)))
    assert ids and ids <= {f.id for f in mine}
    assert 'id="this-weeks-assignments"' in page and "This week's assignments" in page
    assert 'href="/feedback/new/spot_check"' in page
    assert not part(home(client, auth, "t0"), "dash-observer")


# --- admin -----------------------------------------------------------------------------------


def never_visited(session, term_id: int, departments: set[int]) -> set[str]:
    visited = {
        f.section_id
        for f in submitted(session)
        if f.kind in ("spot_check", "open_class") and f.section_id
    }
    return {
        s.code
        for s in session.exec(select(Section).where(Section.term_id == term_id)).all()
        if session.get(Course, s.course_id).department_id in departments  # type: ignore[union-attr]
        and s.id not in visited
    }


@pytest.mark.parametrize(("username", "unit"), [("boss", "U"), ("csadmin", "CS")])
def test_admin_data_health_counts_never_visited_sections(aggregated, session, username, unit):
    term = aggregated.terms["T2"]
    board = admin_dashboard(session, user=user(session, username), today=date(2026, 11, 1))
    assert board is not None and board.term.id == term.id  # type: ignore[union-attr]
    expected = never_visited(session, term.id, subtree(session, unit))  # type: ignore[arg-type]
    all_sections = [
        s
        for s in session.exec(select(Section).where(Section.term_id == term.id)).all()
        if session.get(Course, s.course_id).department_id in subtree(session, unit)  # type: ignore[union-attr]
    ]
    assert board.never_visited == len(expected) and expected
    assert board.sections == len(all_sections)
    assert {s["code"] for s in board.unvisited} == expected
    # Only an admin of the school sees the schedule's and the aggregation's state.
    assert (board.job_runs is not None) == (unit == "U")


def test_a_college_admin_sees_no_other_college(client, auth, aggregated, session):
    page = part(home(client, auth, "csadmin"), "dash-admin")
    assert "T2-AD1" not in page and "ART-DES" not in page and "MATH" not in page
    assert "Last job runs" not in page
    school = part(home(client, auth, "boss"), "dash-admin")
    assert "T2-AD1-0" in school and "Last job runs" in school


def test_admin_sees_last_job_and_aggregation_runs(aggregated, session):
    t2 = aggregated.terms["T2"]
    session.add(JobRun(job_id="aggregate-open-terms", status="failed", owner="h:1", detail="x"))
    session.add(JobRun(job_id="aggregate-open-terms", status="succeeded", owner="h:1"))
    session.add(AggregationRun(term_id=t2.id, status="failed", error="boom"))
    session.commit()
    board = admin_dashboard(session, user=user(session, "boss"), today=date(2026, 11, 1))
    assert board is not None
    assert [(r.job_id, r.status) for r in board.job_runs] == [  # type: ignore[union-attr]
        ("aggregate-open-terms", "succeeded")
    ]
    # Open on 2026-11-01: only T2 (T1 ended in July). Its last run failed; the success before.
    (row,) = board.open_terms  # type: ignore[misc]
    assert row["term"].id == t2.id
    assert (row["last"].status, row["last"].error) == ("failed", "boom")
    assert row["succeeded"].status == "succeeded" and row["succeeded"].id < row["last"].id


def test_current_term_is_the_running_one_else_the_latest_begun(aggregated, session):
    t1, t2 = aggregated.terms["T1"], aggregated.terms["T2"]
    assert current_term(session, date(2026, 3, 1)).id == t1.id  # type: ignore[union-attr]
    assert current_term(session, date(2026, 8, 1)).id == t1.id  # type: ignore[union-attr]
    assert current_term(session, date(2026, 9, 2)).id == t2.id  # type: ignore[union-attr]
    assert current_term(session, date(2020, 1, 1)) is None


# --- queries do not grow with the data ---------------------------------------------------


def test_queries_per_dashboard_do_not_grow_with_the_data(
    app, client, auth, aggregated, session, queries
):
    def count(username: str) -> int:
        auth.logout()
        auth.login(username)
        return queries.page(client, "/")

    users = ("t0", "dean", "head", "o0", "boss", "csadmin")
    before = {u: count(u) for u in users}
    f = aggregated.factory
    t0 = user(session, "t0")
    for term_key in ("T1", "T2"):
        term = aggregated.terms[term_key]
        for i in range(8):
            course = f.course(f"X{term_key}{i}", aggregated.units["CS-AI" if i % 2 else "CS-SE"])
            for j in range(2):
                section = f.section(f"{course.code}-{j}", course, term, teacher=t0)
                aggregated.sections[section.code] = section
                for observer in aggregated.observers[: 1 + i % 3]:
                    aggregated.add(
                        "spot_check",
                        observer=observer,
                        section=section.code,
                        scores={it.code: 2.0 for it in aggregated.item_codes("spot_check")},
                    )
    session.commit()
    for term in aggregated.terms.values():
        service.aggregate_term(session, term=term.code)
    grown = session.exec(select(AggregateResult)).all()
    assert len(grown) > 0
    after = {u: count(u) for u in users}
    assert after == before


def test_leader_sees_the_loops_open_work_in_their_units_only(client, auth, aggregated, session):
    """Problems to confirm, open problems, actions under way and overdue, at and below the unit."""
    from datetime import timedelta

    from evalsys.loop.actions import ActionInput, create_action
    from evalsys.loop.models import Problem
    from evalsys.loop.problems import create_problem

    term = aggregated.terms["T2"]
    dean, mdean = user(session, "dean"), user(session, "mdean")
    units = {u.code: u for u in session.exec(select(OrgUnit)).all()}
    today = date(2026, 11, 30)

    def problem(unit: str, who: User, status: str | None = None) -> Problem:
        made = create_problem(
            session,
            term=term,
            unit=units[unit],
            user=who,
            title=f"问题 {unit}",
            category="method",
            severity="medium",
        )
        if status:
            made.status = status
            made.dismiss_reason = "与另一问题重复" if status == "dismissed" else None
            session.add(made)
        session.flush()
        return made

    open_one = problem("CS-SE", dean)
    problem("CS", dean, status="proposed")
    problem("CS-SE", dean, status="dismissed")
    for due in (today - timedelta(days=3), today + timedelta(days=10)):
        create_action(
            session,
            problem=open_one,
            user=dean,
            today=due - timedelta(days=20),
            data=ActionInput(title="加强课堂互动培训", owner_id=dean.id, due_date=due),
        )
    math_problem = problem("MATH", mdean)
    create_action(
        session,
        problem=math_problem,
        user=mdean,
        today=today - timedelta(days=20),
        data=ActionInput(title="整改", owner_id=mdean.id, due_date=today - timedelta(days=1)),
    )
    session.commit()

    board = leader_dashboard(session, user=dean, min_n=3, today=today)
    # The open problem moved to "in progress" with its first action: still open work.
    assert board.panels[0].loop == {"proposed": 1, "open": 1, "actions": 2, "overdue": 1}
    mboard = leader_dashboard(session, user=mdean, min_n=3, today=today)
    assert mboard.panels[0].loop == {"proposed": 0, "open": 1, "actions": 1, "overdue": 1}
    page = part(home(client, auth, "dean"), "dash-leader")
    assert 'href="/loop/units/CS"' in page and "proposed to confirm" in page


def test_leader_band_bar_has_no_style_attribute(client, auth, aggregated):
    """The strict Content-Security-Policy refuses style attributes: the bar is SVG geometry."""
    page = part(home(client, auth, "dean"), "dash-leader")
    bar = page.split('<svg class="bands"', 1)[1].split("</svg>", 1)[0]
    widths = [float(w) for w in re.findall(r'width="([\d.]+)"', bar)]
    assert widths and abs(sum(widths) - 100) < 0.01
    assert "style=" not in page


def test_admin_sees_supervisors_behind_quota(client, auth, aggregated, session):
    from datetime import timedelta

    from evalsys.planner import service as planner

    today = local_today()
    f = aggregated.factory
    running = f.term("RUN", today - timedelta(days=35), today + timedelta(days=60))
    slow = f.user("slowsup", "supervisor@CS")
    planner.save_settings(session, term=running, values={"visits_per_week": 2})
    # Five weeks have ended since the term began, none of them drawn: 2 x 5 visits due by now.
    session.commit()
    board = admin_dashboard(session, user=user(session, "boss"), today=today)
    assert board.term.id == running.id
    behind = {r.username: r for r in board.behind}
    assert "slowsup" in behind and behind["slowsup"].visits == 0
    assert behind["slowsup"].expected == 10
    page = part(home(client, auth, "boss"), "dash-admin")
    assert 'data-user="slowsup"' in page
    assert slow.id


def test_teacher_pooled_figures_match_the_records_of_the_latest_terms(aggregated, session):
    """Over the latest terms together, per kind: my mean over all my records there, the
    department's over all its records in the same (term, department) pairs."""
    from evalsys.dashboards.teacher import pooled

    teacher = user(session, "t0")
    sections = {s.id: s for s in session.exec(select(Section)).all()}
    by_start = sorted(aggregated.terms.values(), key=lambda t: t.start_date, reverse=True)
    rows = mine_against_department(session, user=teacher, min_n=3)
    for keep in (1, len(by_start)):
        chosen = {t.id for t in by_start if any(r["term"] == t.code for r in rows)}
        chosen = set(sorted(chosen, key=lambda i: -next(
            t.start_date.toordinal() for t in by_start if t.id == i))[:keep])  # fmt: skip
        got = {p["kind"]: p for p in pooled(rows, terms=keep, min_n=3)}
        for kind in ("spot_check", "open_class"):
            mine = [score(f) for f in submitted(session) if f.kind == kind
                    and f.term_id in chosen and sections[f.section_id].teacher_id == teacher.id]  # type: ignore[index]  # fmt: skip
            if not mine:
                assert kind not in got
                continue
            pairs = {(f.term_id, f.department_id) for f in submitted(session) if f.kind == kind
                     and f.term_id in chosen and sections[f.section_id].teacher_id == teacher.id}  # type: ignore[index]  # fmt: skip
            dept = [score(f) for f in submitted(session)
                    if f.kind == kind and (f.term_id, f.department_id) in pairs]  # fmt: skip
            p = got[kind]
            assert p["n"] == len(mine) and close(p["mean"], statistics.fmean(mine))
            assert p["dept_n"] == len(dept) and close(p["dept_mean"], statistics.fmean(dept))
            assert p["insufficient"] == (len(mine) < 3)
            if len(mine) >= 3:
                assert close(p["diff"], statistics.fmean(mine) - statistics.fmean(dept))


def test_a_teacher_with_too_few_records_each_term_sees_a_pooled_comparison(
    client, auth, aggregated, session
):
    """Two visits a term are too few to compare; two terms of them together are not."""
    from evalsys.dashboards.teacher import pooled

    teacher = user(session, "t0")
    rows = mine_against_department(session, user=teacher, min_n=3)
    thin = [r for r in rows if r["insufficient"]]
    assert thin  # the world has such terms for t0
    page = part(home(client, auth, "t0"), "dash-teacher")
    assert "too few to compare" in page
    pooled_rows = pooled(rows, terms=4, min_n=3)
    assert 'class="striped my-pooled"' in page
    for p in pooled_rows:
        row = page.split(f'data-kind="{p["kind"]}"', 1)[1].split("</tr>", 1)[0]
        assert f'<td class="num">{p["n"]}</td>' in row
