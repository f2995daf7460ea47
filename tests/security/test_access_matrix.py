"""The access matrix: every endpoint × every role × a unit inside and outside the user's scope.

The expectations are one table, :data:`ACCESS`, keyed by endpoint name (as in
``app.url_map``; ``flask routes`` lists them). The test walks the URL map, so a
new endpoint without a row fails :func:`test_every_endpoint_has_a_row` with a
message naming it.

**Adding a row is one line.** For a new endpoint ``loop.problem`` at
``/loop/problems/<int:problem_id>`` that deans and heads may open in their scope
and only the school admin outside it::

    "loop.problem": R(REVIEWERS, out="root"),

- the first argument is who may use it on the *inside* object (a set of principal
  names, or a space-separated string; ``EVERYONE`` = every logged-in principal,
  ``PUBLIC`` = those and ``anon``);
- ``out=`` is who may use it on the *outside* object; leave it out when the
  endpoint has no scope (a list of "my" things, the home page);
- URL parameters are filled by name from :data:`PARAMS` (``code``, ``unit_code``,
  ``feedback_id``, ``term_code``, ...); a new parameter name needs one entry there
  (inside value, outside value), or give ``params={...}`` / ``params_out={...}`` on the row.
  For ids of new kinds of objects (``problem_id``, ``meeting_id``), create one inside
  CS-SE and one in MATH-PURE in ``sworld`` (``tests/fixtures/security_world.py``) and set
  ``world.extra["problem_id"] = (inside.id, outside.id)``;
- ``query=`` adds a query string, ``data=`` a form or JSON body for POSTs; a value
  ``"{name}"`` there or in ``params=`` is filled from the URL values, ``term_code``
  or ``world.extra`` (the inside or outside value, as the round goes);
- ``methods=`` limits a row to some methods (``"GET"``, ``"POST"``) for an endpoint whose
  methods differ in who may use them; give another ``endpoint[variant]`` row for the rest
  (every method of every endpoint must be covered by some row);
- ``denied=`` the status codes that mean "refused" (default 403; 404 where the
  endpoint hides what it refuses); ``allowed=`` extra codes that mean "let
  through" (a 404 for a made-up job id after the admin check, say);
- ``leak=True`` checks that an allowed page never shows the ``OUTSIDE-SCOPE``
  marker the outside objects carry (for lists and dashboards).

The principals (``tests/fixtures/security_world.py``): ``anon``; ``root`` (admin@U);
``admin`` (admin@CS); ``supervisor``, ``leader``, ``dean`` (@CS); ``tutor``,
``head``, ``teacher`` (@CS-SE). Inside objects are in CS-SE, outside ones in MATH-PURE.
Each principal uses its own session (web views) or its own API token (``@token_required``
views). Every method of the rule is tried; every HTML page that lets a principal in is
also checked to carry no inline script or style (the Content-Security-Policy forbids them).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
from flask import Flask, url_for

from evalsys.accounts.access import ACCESS_ATTR
from evalsys.accounts.models import Role
from tests.factories import Factory
from tests.fixtures.security_world import OUTSIDE, PRINCIPALS, SecurityWorld

LOGGED_IN = frozenset(p for p, grant in PRINCIPALS.items() if grant)
EVERYONE = "EVERYONE"
PUBLIC = "PUBLIC"
#: Roles that read feedback and reports of their units (Perm.VIEW_FEEDBACK).
REVIEWERS = "root admin leader dean head"
#: Roles that run the quality loop of their units (Perm.MANAGE_LOOP): problems, meetings, actions.
MANAGERS = "root admin dean head"
#: Planner pages name a term by its code in <code>.
TERM = {"code": "{term_code}"}
#: A new password the policy takes, for the password forms.
NEW_PW = "a brand new passphrase"


def _names(spec: str | Iterable[str]) -> frozenset[str]:
    if isinstance(spec, str):
        words = spec.split()
        out: set[str] = set()
        for word in words:
            if word == EVERYONE:
                out |= LOGGED_IN
            elif word == PUBLIC:
                out |= LOGGED_IN | {"anon"}
            else:
                out.add(word)
        spec = out
    names = frozenset(spec)
    unknown = names - set(PRINCIPALS)
    assert not unknown, f"unknown principals {sorted(unknown)}; known: {sorted(PRINCIPALS)}"
    return names


@dataclass(frozen=True)
class R:
    """Who may use an endpoint inside and outside their scope (see the module docstring)."""

    inside: str | Iterable[str]
    out: str | Iterable[str] | None = None
    params: dict[str, Any] = field(default_factory=dict)
    params_out: dict[str, Any] = field(default_factory=dict)
    query: dict[str, str] = field(default_factory=dict)
    data: dict[str, Any] | None = None
    denied: frozenset[int] = frozenset({403})
    allowed: frozenset[int] = frozenset()
    leak: bool = False
    methods: str | None = None

    def tried(self, rule_methods: Iterable[str]) -> list[str]:
        """The methods of the rule this row is about."""
        mine = set(self.methods.split()) if self.methods else set(rule_methods)
        return sorted((mine & set(rule_methods)) - {"HEAD", "OPTIONS"})

    def allowed_for(self, inside: bool) -> frozenset[str]:
        if inside or self.out is None:
            return _names(self.inside)
        return _names(self.out)


#: URL parameter -> (inside value, outside value), as functions of the world.
PARAMS: dict[str, Callable[[SecurityWorld], tuple[Any, Any]]] = {
    "code": lambda w: ("CS-SE", "MATH-PURE"),
    "unit_code": lambda w: ("CS-SE", "MATH-PURE"),
    "term_code": lambda w: (w.term.code, w.term.code),
    "feedback_id": lambda w: (w.inside_feedback.id, w.outside_feedback.id),
    "kind": lambda w: ("spot_check", "spot_check"),
    "filename": lambda w: ("evalsys.css", "evalsys.css"),
    "username": lambda w: ("teacher", "mteacher"),
    "course_code": lambda w: ("SE101", "MA101"),
    "programme_code": lambda w: w.extra["programme_code"],
}

#: The expectations, one row per endpoint (``endpoint[variant]`` for more rows of one).
ACCESS: dict[str, R] = {
    "static": R(PUBLIC),
    "accounts.login": R(PUBLIC),
    # Single sign-on: public by nature; on a site without a provider (this one) a 404.
    "accounts.sso_login": R(PUBLIC, allowed=frozenset({404})),
    "accounts.sso_callback": R(PUBLIC, allowed=frozenset({404})),
    "accounts.logout": R(EVERYONE),
    # A wrong current password: every logged-in user gets the form back with its error.
    "accounts.change_password": R(
        EVERYONE, data={"current": "not my password", "password": NEW_PW, "confirm": NEW_PW}
    ),
    # The same answer for an address no account has as for one that has it.
    "accounts.forgot_password": R(PUBLIC, data={"email": "nobody@example.edu"}),
    # Set-password links for a user no principal is (tests/fixtures/security_world.py): the first
    # POST sets the password, the later ones get the "used" page (410), both let through.
    "accounts.set_password": R(
        PUBLIC, params={"token": "{invite_token}"}, data={"password": NEW_PW, "confirm": NEW_PW}
    ),
    "accounts.reset_password": R(
        PUBLIC, params={"token": "{reset_token}"}, data={"password": NEW_PW, "confirm": NEW_PW}
    ),
    # The second factor at login: public, but without a pending login (no principal has one)
    # the answer is the login page again, not a login.
    "accounts.login_verify": R(PUBLIC, data={"code": "000000"}),
    "accounts.login_enrol": R(PUBLIC, data={"code": "000000"}),
    # One's own second factor: nobody here has one, so the changes send back to the page.
    "accounts.security": R(EVERYONE),
    "accounts.security_enrol": R(EVERYONE, data={"code": "000000"}),
    "accounts.recovery_codes": R(EVERYONE, data={"regenerate-code": "000000"}),
    "accounts.totp_disable": R(EVERYONE, data={"disable-password": "not my password"}),
    "i18n.switch": R(PUBLIC, data={"locale": "en", "next": "/"}),
    "home.index": R(EVERYONE, leak=True),
    "org.unit": R(EVERYONE, out="root"),
    # A course of a department: the department page's access (VIEW_UNIT on the department).
    "org.course": R(EVERYONE, out="root"),
    # The world's term is not aggregated: past the scope check the answer is a 404.
    "org.statistics": R(
        REVIEWERS,
        out="root",
        params={"fmt": "csv"},
        query={"term": "{term_code}"},
        allowed=frozenset({404}),
    ),
    "feedback.choose": R("root admin supervisor leader tutor"),
    "feedback.new": R("root admin supervisor"),
    "feedback.new[open_class]": R("root admin leader", params={"kind": "open_class"}),
    "feedback.new[tutor_group]": R("root admin tutor", params={"kind": "tutor_group"}),
    "feedback.sections": R("root admin supervisor", query={"kind": "spot_check"}, leak=False),
    "feedback.mine": R(EVERYONE, leak=True),
    "feedback.teaching": R(EVERYONE, leak=True),
    "feedback.index": R(REVIEWERS, leak=True),
    "feedback.record": R(REVIEWERS + " supervisor teacher", out="root"),
    "feedback.edit": R("supervisor", out=""),
    "feedback.withdraw": R("supervisor", out="", data={"reason": "entered twice by mistake"}),
    "feedback.respond": R("teacher", out="", data={"text": "Thank you, noted."}),
    # The form's autosave: any signed-in user reaches it; the kind, the record's author and
    # the section's scope are checked on the JSON body (tests/feedback/test_autosave.py).
    "feedback.autosave": R(EVERYONE),
    # The installable app: its service worker script and manifest hold nobody's data.
    "offline_worker": R(PUBLIC),
    "offline_manifest": R(PUBLIC),
    "reports.index": R(EVERYONE, leak=True),
    "reports.download": R(REVIEWERS, out="root"),
    "reports.view": R(REVIEWERS, out="root"),
    # Administrators of the unit; the world's term has no figures, so nothing is spawned.
    "reports.render": R("root admin", out="root"),
    # Bulletins are the school's and the colleges' (no bulletin exists in the world: an
    # allowed reader gets the 404 of a week not rendered; the rest the 403 of the unit).
    "bulletins.index": R(EVERYONE, leak=True),
    "bulletins.download": R(
        "root admin leader dean",
        out="root",
        params={"week": "2026-W45", "unit_code": "CS"},
        params_out={"week": "2026-W45", "unit_code": "MATH"},
        allowed=frozenset({404}),
    ),
    "schedule.index": R("root"),
    "schedule.run_now": R("root", params={"job_id": "no-such-job"}, allowed=frozenset({404})),
    # An unknown term: past the admin check the form refuses it, so no process is started.
    "schedule.aggregate_now": R("root", data={"term": "NO-SUCH-TERM"}),
    "schedule.render_reports": R("root", data={"reports-term": "NO-SUCH-TERM"}),
    "audit.index": R("root"),
    # User administration: admins of the user's units (teacher inside, mteacher outside);
    # an admin of another college gets a 404 for the user, as if there were none.
    "users.index": R("root admin", leak=True),
    "users.show": R("root admin", out="root", denied=frozenset({403, 404})),
    "users.grant": R(
        "root admin", out="root", data={"spec": "tutor@CS-SE"}, denied=frozenset({403, 404})
    ),
    # A role the user does not hold: the answer says so (400), and the user stays in scope.
    "users.revoke": R(
        "root admin", out="root", data={"spec": "head@CS-SE"}, denied=frozenset({403, 404})
    ),
    "users.deactivate": R("root admin", out="root", denied=frozenset({403, 404})),
    "users.reactivate": R("root admin", out="root", denied=frozenset({403, 404})),
    "users.invite": R("root admin", out="root", denied=frozenset({403, 404})),
    # The teacher has no second factor: the answer says so (400), inside the scope.
    "users.reset_totp": R("root admin", out="root", denied=frozenset({403, 404})),
    "ops.healthz": R(PUBLIC),
    "api.openapi": R(PUBLIC),
    "api.rubric": R(EVERYONE, query={"kind": "spot_check"}),
    "api.list_feedback": R(EVERYONE, out="root", query={"unit": "{unit_code}"}),
    # The world's term is not aggregated: past the scope check the answer is that 404.
    "api.list_aggregates": R(
        REVIEWERS,
        out="root",
        query={"term": "{term_code}", "unit": "{unit_code}"},
        allowed=frozenset({404}),
    ),
    "api.get_feedback": R(REVIEWERS + " supervisor teacher", out="root", denied=frozenset({404})),
    "api.create_feedback": R("root admin supervisor", out="root", data={"section": "{section}"}),
    # Exports: the list's records (scoped like feedback.index) as a file.
    "feedback.export": R(REVIEWERS, params={"fmt": "csv"}, leak=True),
    "feedback.export[xlsx]": R(REVIEWERS, params={"fmt": "xlsx"}),
    "feedback.export[outside_unit]": R(
        REVIEWERS, params={"fmt": "csv"}, query={"unit": "MATH-PURE"}, leak=True
    ),
    "feedback.export[other_format]": R("", params={"fmt": "pdf"}, denied=frozenset({403, 404})),
    # Rubrics and the import are the whole school's: school admins only.
    "rubrics.index": R("root"),
    "rubrics.show": R("root", params={"version": 1}),
    "rubrics.download": R("root", params={"version": 1}),
    "rubrics.publish": R("root", params={"version": 1}),
    "rubrics.new": R("root", data={"text": "", "fmt": "json", "then": "draft"}),
    "imports.index": R("root"),
    "imports.preview": R(
        "root"
    ),  # <token>: an upload root staged (tests/fixtures/security_world.py)
    "imports.apply": R("root"),
    "imports.discard": R("root"),
    # The loop: VIEW_REPORTS or MANAGE_LOOP reads a unit's problems, MANAGE_LOOP changes them;
    # an action's owner (teacher, inside) opens the action and its problem, changes its status.
    "loop.index": R(EVERYONE, leak=True),
    "loop.mine": R(EVERYONE, leak=True),
    "loop.problems": R(REVIEWERS, out="root", leak=True),
    "loop.propose": R(MANAGERS, out="root", data={"term": "{term_code}"}),
    "loop.new_problem": R(
        MANAGERS, out="root", data={"title": "课件过密", "category": "content", "severity": "low"}
    ),
    "loop.problem": R(REVIEWERS + " teacher", out="root", methods="GET", leak=True),
    "loop.problem[edit]": R(
        MANAGERS,
        out="root",
        methods="POST",
        data={"title": "互动偏少", "category": "method", "severity": "high"},
    ),
    "loop.problem_status": R(MANAGERS, out="root", data={"to": "resolved"}),
    "loop.merge": R(
        MANAGERS,
        out="root",
        params={"problem_id": "{open_problem_id}"},
        data={"target": "{merge_target_id}"},
    ),
    "loop.new_meeting": R(
        MANAGERS,
        out="root",
        data={
            "held_on": "2026-10-20",
            "title": "专题研讨",
            "decisions": "Observe each other's classes.",
            "other_attendees": "两名学生代表",
        },
    ),
    "loop.meeting": R(REVIEWERS, out="root", leak=True),
    "loop.new_action": R(
        MANAGERS, out="root", data={"title": "Peer observation", "due_date": "2027-01-10"}
    ),
    "loop.action": R(
        MANAGERS + " teacher", out="root", data={"s-status": "in_progress", "s-notes": "started"}
    ),
    "loop.action[edit]": R(
        MANAGERS, out="root", methods="POST", data={"e-title": "Three questions per lecture"}
    ),
    # A programme's page: readers of its department and above; a head or dean verifies a
    # change in effect (the world's is only decided: refused with a message, a redirect).
    "programmes.programme": R(REVIEWERS, out="root", leak=True),
    "programmes.verify": R(
        MANAGERS, out="root", params={"action_id": "{action_id}"}, allowed=frozenset({302})
    ),
    # The planner: my assignments for all; a term's coverage for admins (scoped);
    # the plan's settings and a draw for school admins.
    "planner.mine": R(EVERYONE, leak=True),
    "planner.terms": R("root admin"),
    "planner.term": R("root admin", params=TERM, leak=True),
    "planner.settings": R("root", params=TERM),
    "planner.draw": R("root", params=TERM),
    # Everyone may have a calendar address of their own visits (none shows another's).
    "planner.calendar_new": R(EVERYONE),
    "planner.calendar_stop": R(EVERYONE),
    # Read by calendar apps, the token being the key: an unknown one is a 404 for anybody.
    "planner.calendar_feed": R(PUBLIC, params={"token": "no-such-token"}, allowed=frozenset({404})),
}


def endpoint_of(key: str) -> str:
    return key.split("[", 1)[0]


def test_every_endpoint_has_a_row(app: Flask):
    endpoints = {rule.endpoint for rule in app.url_map.iter_rules()}
    missing = sorted(endpoints - {endpoint_of(k) for k in ACCESS})
    assert not missing, (
        f"no access rule for {missing}: add a row to ACCESS in {__file__} saying which "
        "principals may use it inside and outside their scope (see the module docstring)"
    )
    stale = sorted({endpoint_of(k) for k in ACCESS} - endpoints)
    assert not stale, f"ACCESS has rows for endpoints that no longer exist: {stale}"
    uncovered = []
    for rule in app.url_map.iter_rules():
        rows = [row for key, row in ACCESS.items() if endpoint_of(key) == rule.endpoint]
        covered = {m for row in rows for m in row.tried(rule.methods or ())}
        uncovered += [f"{m} {rule.endpoint}" for m in rule.methods - {"HEAD", "OPTIONS"} - covered]
    assert not uncovered, f"methods= leaves these without a row: {sorted(uncovered)}"


def test_every_role_has_a_principal():
    granted = {grant.split("@")[0] for grant in PRINCIPALS.values() if grant}
    assert granted == {role.value for role in Role}


# --- running one row ------------------------------------------------------------------------


def _is_login_redirect(response) -> bool:
    if response.status_code not in (301, 302, 303, 307, 308):
        return False
    parts = urlsplit(response.headers["Location"])
    return parts.path == "/login" and "next" in parse_qs(parts.query)


def _outcome(response, row: R) -> str:
    status = response.status_code
    if status >= 500:
        return f"server error {status}"
    if _is_login_redirect(response) or status == 401 or status in row.denied:
        return "deny"
    if status in row.allowed or (status < 500 and status not in (401, 403, 404)):
        return "allow"
    return f"unexpected {status}"


def _fill(value: Any, values: dict[str, Any]) -> Any:
    if isinstance(value, str) and value.startswith("{") and value.endswith("}"):
        return values[value[1:-1]]
    return value


def _url_values(app: Flask, endpoint: str, row: R, world: SecurityWorld, inside: bool):
    rule = next(r for r in app.url_map.iter_rules() if r.endpoint == endpoint)
    values: dict[str, Any] = {
        **{name: pair[0 if inside else 1] for name, pair in world.extra.items()},
        "section": (world.inside_section if inside else world.outside_section).code,
        "unit_code": "CS-SE" if inside else "MATH-PURE",
        "term_code": world.term.code,
    }
    for name in rule.arguments:
        given = row.params_out if not inside and name in row.params_out else row.params
        if name in given:
            values[name] = _fill(given[name], values)
            continue
        if name in world.extra:
            values[name] = world.extra[name][0 if inside else 1]
            continue
        assert name in PARAMS, (
            f"{endpoint}: no value for URL parameter '{name}'; add it to PARAMS in {__file__} "
            "(an inside and an outside value) or give params= on the row"
        )
        values[name] = PARAMS[name](world)[0 if inside else 1]
    return rule, values


class Principals:
    """One test client per principal, logged in on first use."""

    def __init__(self, app: Flask) -> None:
        self.app = app
        self.clients: dict[str, Any] = {}

    def client(self, name: str):
        if name not in self.clients:
            client = self.app.test_client()
            if PRINCIPALS[name]:
                r = client.post("/login", data={"username": name, "password": Factory.PASSWORD})
                assert r.status_code == 302, f"{name} could not log in"
            self.clients[name] = client
        return self.clients[name]


_INLINE_SCRIPT = re.compile(r"<script(?![^>]*\bsrc=)[^>]*>", re.I)
_INLINE_STYLE = re.compile(r"<[a-z][^>]*\sstyle\s*=", re.I)
_HANDLER = re.compile(r"<[a-z][^>]*\son[a-z]+\s*=", re.I)


def _csp_problems(response) -> list[str]:
    if response.mimetype != "text/html":
        return []
    page = response.get_data(as_text=True)
    found = []
    for name, pattern in (
        ("inline <script>", _INLINE_SCRIPT),
        ("style attribute", _INLINE_STYLE),
        ("event handler attribute", _HANDLER),
    ):
        match = pattern.search(page)
        if match:
            found.append(f"{name}: {match.group(0)[:80]}")
    return found


@pytest.mark.parametrize("key", sorted(ACCESS))
def test_access(key: str, app: Flask, sworld: SecurityWorld):
    endpoint = endpoint_of(key)
    row = ACCESS[key]
    declared = getattr(app.view_functions[endpoint], ACCESS_ATTR, None)
    is_api = declared == "token"
    principals = Principals(app)
    mismatches: list[str] = []
    # An endpoint without a scope is tried once (a logout would not survive a second round).
    for inside in (True, False) if row.out is not None or row.params_out else (True,):
        rule, values = _url_values(app, endpoint, row, sworld, inside)
        with app.test_request_context():
            path = url_for(endpoint, **{k: values[k] for k in rule.arguments})
        query = {k: _fill(v, values) for k, v in row.query.items()}
        data = {k: _fill(v, values) for k, v in (row.data or {}).items()}
        expected = row.allowed_for(inside)
        for method in row.tried(rule.methods):
            for name in PRINCIPALS:
                kwargs: dict[str, Any] = {"query_string": query}
                if is_api:
                    client = app.test_client()
                    if PRINCIPALS[name]:
                        kwargs["headers"] = {"Authorization": f"Bearer {sworld.tokens[name]}"}
                    if method == "POST":
                        kwargs["json"] = _api_body(app, data)
                else:
                    client = principals.client(name)
                    if method == "POST":
                        kwargs["data"] = data
                response = client.open(path, method=method, **kwargs)
                got = _outcome(response, row)
                want = "allow" if name in expected else "deny"
                where = f"{method} {path} as {name} ({'inside' if inside else 'outside'})"
                if got != want:
                    mismatches.append(f"{where}: expected {want}, got {got}")
                elif got == "allow":
                    mismatches += [f"{where}: {p}" for p in _csp_problems(response)]
                    looked = row.leak and name != "root" and response.status_code == 200
                    shown = response.get_data(as_text=True) if looked else ""
                    if OUTSIDE in shown:
                        mismatches.append(f"{where}: shows an outside-scope object")
                response.close()  # a file response keeps its file open until closed
    assert not mismatches, "\n".join(mismatches)


def _api_body(app: Flask, data: dict[str, Any]) -> dict[str, Any]:
    """A complete spot check on ``data['section']`` for the create endpoint."""
    if "section" not in data:
        return data
    from evalsys.db import get_session
    from tests.fixtures.security_world import spot_check

    with app.app_context():
        body = spot_check(get_session(), data["section"]).__dict__
    out = {k: v for k, v in body.items() if v is not None}
    out["date"] = out["date"].isoformat()
    return out
