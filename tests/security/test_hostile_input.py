"""The standing guard: hostile values into every route, as path, query, form and JSON values.

For every row of the access matrix (:data:`tests.security.test_access_matrix.ACCESS`,
itself generated from the URL map, so a new route is covered as soon as it has its
row), a principal who may use the route sends each value of :data:`HOSTILE`:

- in each text **path** parameter (and ids far beyond any integer column);
- in every **query** parameter any view reads (:data:`QUERY_NAMES`, all at once);
- for a form, in each **form field** in turn — the fields the page itself renders
  plus those of the row's data — the others keeping the page's own values (the
  printable values as one, :data:`FORM_HOSTILE`);
- for the JSON API, in each **JSON member** in turn, as text and as a raw JSON
  number (``1e999``, 400 digits, ``NaN``) and as the lone surrogate ``"\\ud800"``.

It fails on any 5xx, and on any row added, changed in number or removed by a
request that was refused (4xx), outside the tables that record refusals
themselves (the audit log, login attempts, sessions). It runs on SQLite and
PostgreSQL like the rest of the suite; PostgreSQL is the stricter one (it refuses
NUL in text, and integers beyond 32 bits in integer columns).
"""

from __future__ import annotations

import json
import re
from html.parser import HTMLParser
from typing import Any
from urllib.parse import quote

import pytest
from flask import Flask, url_for
from sqlalchemy import text
from sqlmodel import SQLModel

from evalsys.accounts.access import ACCESS_ATTR
from evalsys.db import get_engine
from tests.fixtures.security_world import PRINCIPALS, SecurityWorld
from tests.security.test_access_matrix import (
    ACCESS,
    Principals,
    _api_body,
    _fill,
    _url_values,
    endpoint_of,
)

#: What an attacker (or a confused spreadsheet) sends.
HOSTILE: dict[str, str] = {
    "nul": "a\x00b",
    "c0": "x\x01\x1b[2J\x7f",
    "surrogate": "\ud800",
    "huge": "1" + "0" * 400,
    "minus_zero": "-0",
    "nan": "NaN",
    "inf": "1e999",
    "megabyte": "x" * 1_000_000,
    "rtl": "\u202etxt.exe",
    "dotdot": "../../../../etc/passwd",
    "sql": "' OR '1'='1'; DROP TABLE feedback; --",
    "template": "{{ 7*7 }}{% for x in () %}<script>alert(1)</script>",
}

#: The printable ones only test that text is kept as text (no path, SQL or template is
#: ever read out of it); in a form field, where each value costs a request for each field,
#: they travel as one value holding all four.
_PRINTABLE = ("rtl", "dotdot", "sql", "template")
FORM_HOSTILE: dict[str, str] = {
    **{k: v for k, v in HOSTILE.items() if k not in _PRINTABLE},
    "printable": " ".join(HOSTILE[k] for k in _PRINTABLE),
}

#: Every query parameter a view reads (grep ``request.args`` and the GET filter forms).
QUERY_NAMES = (
    "term",
    "unit",
    "kind",
    "teacher",
    "section",
    "score_min",
    "score_max",
    "q",
    "page",
    "status",
    "category",
    "severity",
    "problem",
    "meeting",
    "lang",
    "next",
    "action",
    "who",
    "since",
    "until",
    "fmt",
    "per_page",
    "observer",
    "from",
    "to",
    "week",
)

#: Tables written on purpose by a refused request: what was refused and who tried.
RECORDS_OF_REFUSALS = {"audit_event", "login_attempt", "user_session"}

#: Public endpoints are probed as a stranger (a logged-in user is sent elsewhere).
_ANONYMOUS = {
    "accounts.login",
    "accounts.forgot_password",
    "accounts.set_password",
    "accounts.reset_password",
    "ops.healthz",
    "api.openapi",
    "static",
}


def _wire(value: str) -> str:
    """``value`` as it can travel in a form or a URL: a lone surrogate as its raw bytes."""
    return value.encode("utf-8", "surrogatepass").decode("latin-1") if "\ud800" in value else value


def _query_string(values: dict[str, str]) -> str:
    return "&".join(
        f"{quote(k)}={quote(v.encode('utf-8', 'surrogatepass'))}" for k, v in values.items()
    )


class _Fields(HTMLParser):
    """The names and values of the fields of a page's forms."""

    def __init__(self) -> None:
        super().__init__()
        self.values: dict[str, str] = {}
        self._select: str | None = None
        self._textarea: str | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = {k: v or "" for k, v in attrs}
        name = a.get("name")
        if tag == "input" and name and a.get("type") not in ("submit", "file"):
            if a.get("type") in ("radio", "checkbox"):
                if "checked" in a or name not in self.values:
                    self.values[name] = a.get("value", "on")
            else:
                self.values.setdefault(name, a.get("value", ""))
        elif tag == "select" and name:
            self._select = name
            self.values.setdefault(name, "")
        elif tag == "option" and self._select:
            if "selected" in a or not self.values.get(self._select):
                self.values[self._select] = a.get("value", "")
        elif tag == "textarea" and name:
            self._textarea = name
            self.values.setdefault(name, "")

    def handle_endtag(self, tag: str) -> None:
        if tag == "select":
            self._select = None
        elif tag == "textarea":
            self._textarea = None

    def handle_data(self, data: str) -> None:
        if self._textarea:
            self.values[self._textarea] += data


def _page_fields(client: Any, path: str) -> dict[str, str]:
    response = client.get(path)
    if response.status_code != 200 or response.mimetype != "text/html":
        return {}
    parser = _Fields()
    parser.feed(response.get_data(as_text=True))
    parser.values.pop("csrf_token", None)
    return parser.values


class RowCounts:
    """The number of rows of every table but the records of refusals, in one query."""

    def __init__(self, app: Flask) -> None:
        self.engine = get_engine(app)
        self.tables = [
            t.name for t in SQLModel.metadata.sorted_tables if t.name not in RECORDS_OF_REFUSALS
        ]
        self.sql = text("SELECT " + ", ".join(f'(SELECT count(*) FROM "{t}")' for t in self.tables))

    def __call__(self) -> dict[str, int]:
        with self.engine.connect() as conn:
            return dict(zip(self.tables, conn.execute(self.sql).one(), strict=True))


def _principal(endpoint: str, declared: str | None, row: Any) -> str:
    if endpoint in _ANONYMOUS:
        return "anon"
    from tests.security.test_access_matrix import _names

    allowed = _names(row.inside)
    for name in ("root", *PRINCIPALS):
        if name in allowed and name != "anon":
            return name
    return "anon"


@pytest.mark.parametrize(
    "key", sorted(k for k in ACCESS if endpoint_of(k) not in ("static", "accounts.logout"))
)
def test_hostile_values(key: str, app: Flask, sworld: SecurityWorld):
    endpoint = endpoint_of(key)
    row = ACCESS[key]
    declared = getattr(app.view_functions[endpoint], ACCESS_ATTR, None)
    is_api = declared == "token"
    name = _principal(endpoint, declared, row)
    rule, values = _url_values(app, endpoint, row, sworld, inside=True)
    arguments = {k: values[k] for k in rule.arguments}
    with app.test_request_context():
        path = url_for(endpoint, **arguments)
    query = {k: str(_fill(v, values)) for k, v in row.query.items()}
    data = {k: _fill(v, values) for k, v in (row.data or {}).items()}
    counts = RowCounts(app)
    principals = Principals(app)
    failures: list[str] = []

    def client():
        if not is_api:
            return principals.client(name), {}
        headers = {"Authorization": f"Bearer {sworld.tokens[name]}"} if name != "anon" else {}
        return app.test_client(), headers

    # The counts after a refused request are those before the next one (nothing runs in
    # between): kept, so that a run of refusals costs one count each, not two.
    known: list[dict[str, int]] = []

    def send(method: str, where: str, url: str, qs: str | dict, **kwargs: Any) -> None:
        before = known.pop() if known else counts()
        http, headers = client()
        try:
            response = http.open(url, method=method, query_string=qs, headers=headers, **kwargs)
        except Exception as err:  # noqa: BLE001 - the app's error, propagated in testing
            failures.append(f"{method} {where}: {type(err).__name__}: {str(err)[:300]}")
            return
        status = response.status_code
        response.close()
        if status >= 500:
            failures.append(f"{method} {where}: {status}")
        elif status >= 400:
            after = counts()
            known.append(after)
            changed = {t: (before[t], after[t]) for t in before if before[t] != after[t]}
            if changed:
                failures.append(f"{method} {where}: refused with {status} but wrote {changed}")

    methods = row.tried(rule.methods or ())
    # Path parameters, integer ones: an id beyond any integer column, whatever the value
    # (the same request would be sent once per value otherwise: one is enough).
    for arg, converter in rule._converters.items():
        if "Integer" in type(converter).__name__:
            with app.test_request_context():
                try:
                    url = url_for(endpoint, **{**arguments, arg: 10**30})
                except Exception:  # noqa: BLE001 - a converter that cannot write it
                    continue
            for method in methods:
                send(method, f"{url[:80]} ({arg}=10**30)", url, query, data=data or None)
    for label, value in HOSTILE.items():
        # Path parameters: each text one in turn.
        for arg, converter in rule._converters.items():
            if "Integer" in type(converter).__name__:
                continue
            hostile = _wire(value)
            with app.test_request_context():
                try:
                    url = url_for(endpoint, **{**arguments, arg: hostile})
                except Exception:  # noqa: BLE001 - a converter that cannot write it: nothing to send
                    continue
            for method in methods:
                send(method, f"{url[:80]} ({arg}={label})", url, query, data=data or None)
        # Query parameters: every one any view reads, at once.
        # (A megabyte once, in the search box, not in each of them.)
        shown = value if label != "megabyte" else "x"
        qs = _query_string({**query, **dict.fromkeys(QUERY_NAMES, shown), "q": value})
        for method in methods:
            if method == "GET":
                send("GET", f"{path}?*={label}", path, qs)

    # Bodies: each field in turn, the others as the page (or the row) fills them.
    if "POST" not in methods:
        assert not failures, "\n".join(failures)
        return
    if is_api:
        base = _api_body(app, data)
        fields = [*base, *(f"scores.{c}" for c in base.get("scores", {}))] or ["kind"]
        for field in fields:
            for label, body in _json_bodies(base, field).items():
                send(
                    "POST",
                    f"{path} json {field}={label}",
                    path,
                    query,
                    data=body,
                    content_type="application/json",
                )
        assert not failures, "\n".join(failures)
        return
    known.clear()  # the page's own GET below runs in between
    page = _page_fields(principals.client(name), path) if "GET" in (rule.methods or ()) else {}
    form = {**page, **{k: str(v) for k, v in data.items()}}
    for field in sorted(form):
        for label, value in FORM_HOSTILE.items():
            body = {**form, field: _wire(value)}
            send("POST", f"{path} form {field}={label}", path, query, data=body)
    assert not failures, "\n".join(failures)


def _json_bodies(base: dict[str, Any], field: str) -> dict[str, bytes]:
    """The body with ``field`` set to each hostile value: text, raw numbers, a lone surrogate."""
    out: dict[str, bytes] = {}
    marker = "__HOSTILE__"
    if field.startswith("scores."):
        code = field.removeprefix("scores.")
        template = {**base, "scores": {**base.get("scores", {}), code: marker}}
    else:
        template = {**base, field: marker}
    raw = json.dumps(template, ensure_ascii=False)
    spot = f'"{marker}"'
    for label, value in FORM_HOSTILE.items():
        # json.dumps writes the lone surrogate as the escape "\\ud800", as a client would.
        out[label] = raw.replace(spot, json.dumps(value)).encode("utf-8")
    for label, literal in {
        "raw_huge": "1" + "0" * 400,
        "raw_inf": "1e999",
        "raw_nan": "NaN",
        "raw_minus_zero": "-0",
        "raw_huge_negative": "-" + "9" * 40,
    }.items():
        out[label] = raw.replace(spot, literal).encode("utf-8")
    return out


def test_the_guard_can_fail(app: Flask, sworld: SecurityWorld):
    """A refused request that writes, and a 500, are both caught (the guard is not blind)."""
    counts = RowCounts(app)
    before = counts()
    from tests.fixtures.security_world import spot_check

    with app.app_context():
        from evalsys.db import get_session
        from evalsys.feedback.writes import submit_feedback

        session = get_session()
        submit_feedback(
            session,
            user=sworld.users["supervisor"],
            data=spot_check(session, sworld.inside_section.code),
            today=sworld.inside_feedback.created_at.date(),
        )
        session.commit()
    after = counts()
    assert after["feedback"] == before["feedback"] + 1
    assert re.search(r"feedback", ",".join(t for t in after if after[t] != before[t]))
