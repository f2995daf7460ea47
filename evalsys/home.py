"""The home page: each role's entry points and what it may do there."""

from __future__ import annotations

from flask import Blueprint, render_template
from flask_login import current_user

from evalsys.accounts.access import ROLE_PERMS, Perm, login_required, user_roles
from evalsys.accounts.models import Role
from evalsys.db import get_session

bp = Blueprint("home", __name__)

#: What each role is for, in the words of its users.
ROLE_TASKS: dict[str, list[str]] = {
    Role.ADMIN: ["Manage users, imports, rubrics and schedules", "See every unit"],
    Role.SUPERVISOR: ["Log spot checks of class sessions in your units"],
    Role.LEADER: ["Assess open classes", "Read feedback and term reports of your units"],
    Role.TUTOR: ["Report on your tutor-group meetings and student discussions"],
    Role.DEAN: ["Read your college's feedback and term reports", "Follow up problems and actions"],
    Role.HEAD: [
        "Read your department's feedback and term reports",
        "Follow up problems and actions",
    ],
    Role.TEACHER: ["Read the feedback on your own sections and respond"],
}


@bp.route("/")
@login_required
def index():
    grants = user_roles(get_session(), current_user)
    by_role: dict[str, list] = {}
    for role, unit in grants:
        by_role.setdefault(role, []).append(unit)
    cards = [
        {
            "role": role,
            "units": units,
            "tasks": ROLE_TASKS.get(role, []),
            "can_view": Perm.VIEW_UNIT in ROLE_PERMS[Role(role)],
        }
        for role, units in sorted(by_role.items(), key=lambda kv: list(Role).index(Role(kv[0])))
    ]
    return render_template("home/index.html", cards=cards)
