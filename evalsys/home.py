"""The home page: each role's entry points, and a dashboard per role (evalsys.dashboards)."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, current_app, render_template, url_for
from flask_babel import lazy_gettext as _l
from flask_login import current_user
from sqlmodel import Session, select

from evalsys.accounts.access import (
    ROLE_PERMS,
    Perm,
    is_school_admin,
    login_required,
    top_units,
    user_roles,
)
from evalsys.accounts.models import Role, User
from evalsys.clock import local_today
from evalsys.dashboards.admin import admin_dashboard
from evalsys.dashboards.leader import leader_dashboard
from evalsys.dashboards.observer import observer_dashboard
from evalsys.dashboards.teacher import teacher_dashboard
from evalsys.db import get_session
from evalsys.feedback.choices import submittable_kinds
from evalsys.feedback.models import Feedback
from evalsys.feedback.vocab import FEEDBACK_STATUS_NAMES, GRADE_NAMES, KIND_NAMES, FeedbackKind
from evalsys.loop.models import Action
from evalsys.org.models import Section, UnitKind

bp = Blueprint("home", __name__)

#: The roles as their holders call them.
ROLE_NAMES = {
    Role.ADMIN: _l("Administrator"),
    Role.SUPERVISOR: _l("Supervisor"),
    Role.LEADER: _l("Leader"),
    Role.TUTOR: _l("Tutor"),
    Role.DEAN: _l("Dean"),
    Role.HEAD: _l("Head of department"),
    Role.TEACHER: _l("Teacher"),
}

#: What each role is for, in the words of its users.
ROLE_TASKS = {
    Role.ADMIN: [_l("Manage users, imports, rubrics and schedules"), _l("See every unit")],
    Role.SUPERVISOR: [_l("Log spot checks of class sessions in your units")],
    Role.LEADER: [_l("Assess open classes"), _l("Read feedback and term reports of your units")],
    Role.TUTOR: [_l("Report on your tutor-group meetings and student discussions")],
    Role.DEAN: [
        _l("Read your college's feedback and term reports"),
        _l("Follow up problems and actions"),
    ],
    Role.HEAD: [
        _l("Read your department's feedback and term reports"),
        _l("Follow up problems and actions"),
    ],
    Role.TEACHER: [_l("Read the feedback on your own sections and respond")],
}

#: The button that opens each kind's form (StrEnum keys: looked up by the plain kind string).
NEW_LABELS: dict[str, Any] = {
    FeedbackKind.SPOT_CHECK: _l("New spot check"),
    FeedbackKind.OPEN_CLASS: _l("New open class"),
    FeedbackKind.TUTOR_GROUP: _l("New tutor-group report"),
}

#: How the reviewers' list is named after the kind of unit it covers.
SCOPE_LABELS = {
    UnitKind.SCHOOL: _l("Feedback in the school"),
    UnitKind.COLLEGE: _l("Feedback in my college"),
    UnitKind.DEPARTMENT: _l("Feedback in my department"),
}


@bp.route("/")
@login_required
def index():
    session = get_session()
    grants = user_roles(session, current_user)
    by_role: dict[str, list] = {}
    for role, unit in grants:
        by_role.setdefault(role, []).append(unit)
    cards = [
        {
            "role": role,
            "name": ROLE_NAMES.get(role, role),
            "units": units,
            "tasks": ROLE_TASKS.get(role, []),
            "can_view": Perm.VIEW_UNIT in ROLE_PERMS[Role(role)],
            # The admin card promises "manage users": it leads to where that is done.
            "users_url": url_for("users.index") if role == Role.ADMIN else None,
        }
        for role, units in sorted(by_role.items(), key=lambda kv: list(Role).index(Role(kv[0])))
    ]
    user = current_user._get_current_object()
    return render_template(
        "home/index.html",
        cards=cards,
        actions=_actions(session, user, by_role),
        **_dashboards(session, user, by_role),
    )


def _dashboards(session: Session, user: User, by_role: dict[str, list]) -> dict:
    """The dashboards this user has a use for (None where not), each scoped by its own query."""
    config = current_app.config
    min_n = int(config.get("MIN_N", 3))
    teaches = session.exec(select(Section.id).where(Section.teacher_id == user.id).limit(1))
    return {
        "teacher_board": (
            teacher_dashboard(session, user=user, min_n=min_n)
            if Role.TEACHER in by_role or teaches.first() is not None
            else None
        ),
        "leader_board": leader_dashboard(
            session, user=user, min_n=min_n, today=local_today(config)
        ),
        "observer_board": observer_dashboard(session, user=user),
        "admin_board": admin_dashboard(session, user=user, today=local_today(config)),
        "kind_names": KIND_NAMES,
        "new_labels": NEW_LABELS,
        "status_names": FEEDBACK_STATUS_NAMES,
        "grade_names": GRADE_NAMES,
        "show_observer": bool(config.get("FEEDBACK_SHOW_OBSERVER_TO_TEACHER", False)),
    }


def _actions(session: Session, user: User, by_role: dict[str, list]) -> list[dict]:
    """The feedback pages this user has a use for, most used first."""
    actions = []
    kinds = submittable_kinds(session, user=user)
    for kind in kinds:
        actions.append({"label": NEW_LABELS[kind], "url": url_for("feedback.new", kind=kind)})
    wrote = session.exec(select(Feedback.id).where(Feedback.observer_id == user.id).limit(1))
    if kinds or wrote.first() is not None:
        actions.append({"label": _l("My records"), "url": url_for("feedback.mine")})
    tops = top_units(session, user, Perm.VIEW_FEEDBACK)
    if tops:
        label = _l("Feedback in my units")
        if len(tops) == 1:
            label = SCOPE_LABELS.get(UnitKind(tops[0].kind), label)
        actions.append({"label": label, "url": url_for("feedback.index")})
    if top_units(session, user, Perm.MANAGE_LOOP) or top_units(session, user, Perm.VIEW_REPORTS):
        actions.append({"label": _l("Problems and actions"), "url": url_for("loop.index")})
    owns = session.exec(select(Action.id).where(Action.owner_id == user.id).limit(1))
    if owns.first() is not None:
        actions.append({"label": _l("My actions"), "url": url_for("loop.mine")})
    if Role.SUPERVISOR in by_role:
        actions.append({"label": _l("My assignments"), "url": url_for("planner.mine")})
    if top_units(session, user, Perm.MANAGE):
        actions.append({"label": _l("Spot-check plans"), "url": url_for("planner.terms")})
        # The role card's "manage users": the users of their units (all, for school admins).
        actions.append({"label": _l("Users"), "url": url_for("users.index")})
    teaches = session.exec(select(Section.id).where(Section.teacher_id == user.id).limit(1))
    if Role.TEACHER in by_role or teaches.first() is not None:
        actions.append(
            {
                "label": _l("Feedback on my classes"),
                "url": url_for("feedback.teaching"),
            }
        )
    if is_school_admin(session, user):
        # School admins: the pages only they may open (the same rule those pages apply).
        actions.append({"label": _l("Schedule"), "url": url_for("schedule.index")})
        actions.append({"label": _l("Audit log"), "url": url_for("audit.index")})
        actions.append({"label": _l("Rubrics"), "url": url_for("rubrics.index")})
        actions.append({"label": _l("Import"), "url": url_for("imports.index")})
    return actions
