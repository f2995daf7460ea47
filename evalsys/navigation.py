"""The site's menu: the pages each user may open, computed from their grants in two queries.

The header (``templates/base.html``) shows it on every page: a row of links on a desktop,
a "Menu" button that opens the same links on a phone. An entry is shown only where its
page lets the user in — the same rules the views apply (``accounts.access``): a menu
entry that leads to a 403 is a bug (``tests/browser/test_layout.py`` opens every entry of
every role). Deny by default: a role not named below adds nothing.

The menu is computed once per request, on first use (pages that do not extend
``base.html``, such as the PDF templates, never ask), and kept on :data:`flask.g`:

1. the user's grants with their units (the roles, and the units "my units" links to);
2. one row of yes/no answers: do they teach a section, tutor a group, own an action,
   have a record of their own, and are they admin of every root unit (the school-wide
   pages' rule, :func:`evalsys.accounts.access.is_school_admin`).

:func:`unit_trail` gives the breadcrumb of a page about a unit (``_macros.breadcrumb``):
the units above it, each with whether the user may open its page, in one query.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from flask import g, request, url_for
from flask_babel import lazy_gettext as _l
from flask_login import current_user
from sqlalchemy import exists, func
from sqlalchemy import select as sa_select
from sqlalchemy.orm import aliased
from sqlmodel import Session, col, select

from evalsys.accounts.access import ROLE_PERMS, Perm, roles_with
from evalsys.accounts.models import Role, RoleGrant, User
from evalsys.feedback.models import Feedback
from evalsys.loop.models import Action
from evalsys.org.models import OrgUnit, OrgUnitClosure, Section, TutorGroup

#: The closure table again, for "is a grant of the user above this step".
Up = aliased(OrgUnitClosure)

#: Roles whose holders look after units: their units are one tap away.
UNIT_ROLES = (Role.ADMIN, Role.DEAN, Role.HEAD, Role.LEADER)

#: More units than this, and "my units" becomes a list under one entry.
MAX_UNIT_LINKS = 1


@dataclass(frozen=True)
class Entry:
    """One link of the menu. ``key`` names it for tests and styles (``data-nav``)."""

    key: str
    label: Any
    endpoint: str
    args: dict[str, Any] = field(default_factory=dict)
    #: Pages the entry's page may send on to (the form chosen, the one unit's problems):
    #: the entry is current there too.
    also: tuple[str, ...] = ()

    @property
    def url(self) -> str:
        return url_for(self.endpoint, **self.args)

    @property
    def current(self) -> bool:
        """This entry's page is the one shown (its aria-current="page")."""
        if request.endpoint in self.also:
            return True
        if request.endpoint != self.endpoint:
            return False
        given = request.view_args or {}
        return all(str(given.get(k)) == str(v) for k, v in self.args.items())


@dataclass(frozen=True)
class Menu:
    main: list[Entry]
    units: list[Entry]  # the user's units (one entry each; a list when more than one)
    admin: list[Entry]  # administration pages, grouped under one entry

    @property
    def entries(self) -> list[Entry]:
        return [*self.main, *self.units, *self.admin]

    @property
    def units_current(self) -> bool:
        return any(e.current for e in self.units)

    @property
    def admin_current(self) -> bool:
        return any(e.current for e in self.admin)


EMPTY = Menu([], [], [])


@dataclass(frozen=True)
class Facts:
    """What the menu needs to know about a user (the two queries' answers)."""

    roles: frozenset[Role]
    units: list[OrgUnit]  # units of grants in UNIT_ROLES, in code order, once each
    teaches: bool
    tutors: bool
    owns_action: bool
    wrote: bool
    school_admin: bool

    @property
    def perms(self) -> frozenset[Perm]:
        return frozenset().union(*(ROLE_PERMS[r] for r in self.roles))


def facts(session: Session, user: User) -> Facts:
    grants = session.exec(
        select(RoleGrant.role, OrgUnit)
        .join(OrgUnit, col(OrgUnit.id) == RoleGrant.unit_id)
        .where(RoleGrant.user_id == user.id)
        .order_by(OrgUnit.code)
    ).all()
    roles = frozenset(Role(role) for role, _unit in grants)
    units: dict[int | None, OrgUnit] = {}
    for role, unit in grants:
        if Role(role) in UNIT_ROLES:
            units.setdefault(unit.id, unit)
    admin_roots = {u.id for r, u in grants if Role(r) == Role.ADMIN and u.parent_id is None}
    row = session.execute(
        sa_select(
            exists().where(col(Section.teacher_id) == user.id),
            exists().where(col(TutorGroup.tutor_id) == user.id),
            exists().where(col(Action.owner_id) == user.id),
            exists().where(col(Feedback.observer_id) == user.id),
            select(func.count(col(OrgUnit.id)))
            .where(col(OrgUnit.parent_id).is_(None))
            .scalar_subquery(),
        )
    ).one()
    teaches, tutors, owns, wrote, roots = row
    return Facts(
        roles=roles,
        units=list(units.values()),
        teaches=bool(teaches),
        tutors=bool(tutors),
        owns_action=bool(owns),
        wrote=bool(wrote),
        # Admin of every root: a root's only ancestor is itself, so the grant sits on it.
        school_admin=bool(roots) and len(admin_roots) == int(roots),
    )


def menu_for(f: Facts, *, unit_label: Any) -> Menu:
    """The entries, as the views decide who may open their pages (see the module doc)."""
    perms = f.perms
    main = [Entry("home", _l("Home"), "home.index")]
    # feedback.choose: some kind the user may record (feedback.choices.submittable_kinds).
    visits = bool(perms & {Perm.SUBMIT_SPOT_CHECK, Perm.SUBMIT_OPEN_CLASS})
    observes = visits or Perm.SUBMIT_TUTOR_REPORT in perms or f.tutors
    if observes:
        # A tutor group's meeting is no class visit (听课): a tutor's entry says what it is.
        label = _l("Record a visit") if visits else _l("New tutor-group report")
        main.append(Entry("record", label, "feedback.choose", also=("feedback.new",)))
    if Role.SUPERVISOR in f.roles:
        main.append(Entry("assignments", _l("My assignments"), "planner.mine"))
    if observes or f.wrote:
        main.append(Entry("records", _l("My records"), "feedback.mine"))
    if Role.TEACHER in f.roles or f.teaches:
        main.append(Entry("teaching", _l("Feedback on my classes"), "feedback.teaching"))
    if Perm.VIEW_FEEDBACK in perms:  # feedback.index: 403 without a VIEW_FEEDBACK unit
        main.append(Entry("feedback", _l("Feedback"), "feedback.index"))
    if Perm.VIEW_REPORTS in perms:
        main.append(Entry("reports", _l("Term reports"), "reports.index"))
    if perms & {Perm.VIEW_REPORTS, Perm.MANAGE_LOOP}:  # loop.index lists those units
        main.append(
            Entry("loop", _l("Problems and actions"), "loop.index", also=("loop.problems",))
        )
    if f.owns_action:
        main.append(Entry("actions", _l("My actions"), "loop.mine"))
    units = [Entry(f"unit:{u.code}", unit_label(u), "org.unit", {"code": u.code}) for u in f.units]
    admin: list[Entry] = []
    if Role.ADMIN in f.roles:  # users.index and planner.terms: an admin grant anywhere
        admin.append(Entry("users", _l("Users"), "users.index"))
        admin.append(Entry("terms", _l("Spot-check plans"), "planner.terms"))
    if f.school_admin:  # require_school_admin
        admin.append(Entry("rubrics", _l("Rubrics"), "rubrics.index"))
        admin.append(Entry("import", _l("Import"), "imports.index"))
        admin.append(Entry("schedule", _l("Schedule"), "schedule.index"))
        admin.append(Entry("audit", _l("Audit log"), "audit.index"))
    return Menu(main, units, admin)


def current_menu() -> Menu:
    """The logged-in user's menu, computed on the first call of a request."""
    cached = g.get("_evalsys_menu")
    if cached is not None:
        return cached
    menu = EMPTY
    if current_user.is_authenticated and current_user.active:
        from evalsys.db import get_session
        from evalsys.i18n import localized

        user = current_user._get_current_object()
        menu = menu_for(facts(get_session(), user), unit_label=lambda u: localized(u, "name"))
    g._evalsys_menu = menu
    return menu


def unit_trail(unit: OrgUnit | str | None) -> list[tuple[OrgUnit, bool]]:
    """The path from the root down to ``unit`` (or the unit of that code), each step with
    whether the user may open its page: one query. Empty for no unit or an unknown code."""
    if unit is None or not current_user.is_authenticated:
        return []
    from evalsys.db import get_session

    session = get_session()
    target = (
        select(OrgUnit.id).where(OrgUnit.code == unit).scalar_subquery()
        if isinstance(unit, str)
        else unit.id
    )
    # Below: may the user open this step's page (accounts.access.may, asked per row)?
    viewable = exists().where(
        col(RoleGrant.user_id) == current_user.id,
        col(RoleGrant.role).in_(roles_with(Perm.VIEW_UNIT)),
        col(Up.ancestor_id) == RoleGrant.unit_id,
        col(Up.descendant_id) == OrgUnit.id,
    )
    rows = session.exec(
        select(OrgUnit, viewable)
        .join(OrgUnitClosure, col(OrgUnitClosure.ancestor_id) == OrgUnit.id)
        .where(col(OrgUnitClosure.descendant_id) == target)
        .order_by(col(OrgUnitClosure.depth).desc())
    ).all()
    return [(step, bool(may_open) and bool(current_user.active)) for step, may_open in rows]


def init_app(app: Any) -> None:
    @app.context_processor
    def _menu() -> dict:
        # A function, not its value: a template that shows no menu runs no query.
        return {"main_menu": current_menu, "max_unit_links": MAX_UNIT_LINKS}

    app.add_template_global(unit_trail)
