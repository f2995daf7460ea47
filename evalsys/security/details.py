"""Audit details in the reader's language, translated when shown.

The stored details stay as evalsys wrote them (English, stable, searched by the log's
text filter and read by tests and exports); this module reads the structured ones
back — a before/after, a role spec, a count of sessions, a status change — and says
them in the reader's words. Free text inside them (a problem's title, a reason typed
by a user) is passed through as typed, and a detail no rule recognises is shown as
stored: a translation must never hide what was recorded.
"""

from __future__ import annotations

import re
from collections.abc import Callable

from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_babel import ngettext

from evalsys.feedback.vocab import name_of
from evalsys.home import ROLE_NAMES
from evalsys.i18n import current_locale
from evalsys.loop.models import ACTION_STATUS_NAMES, STATUS_NAMES

#: Account states and why sessions ended, as stored in details.
STATE_NAMES = {"active": _l("active"), "inactive": _l("inactive")}
END_REASON_NAMES = {
    "logout": _l("signed out"),
    "password": _l("password changed"),
    "deactivated": _l("account switched off"),
    "roles": _l("roles changed"),
    "expired": _l("expired"),
}
#: How a role change was made, when the detail says it in brackets.
HOW_NAMES = {"import": _l("import")}

_ROLE_SPEC = re.compile(r"\b([a-z]+)@([^\s;,()]+)")


def roles_text(text: str) -> str:
    """``dean@CS;teacher@CS-SE`` with each role named in the reader's language."""

    def one(match: re.Match[str]) -> str:
        role, unit = match.groups()
        if role not in ROLE_NAMES:
            return match.group(0)
        return f"{ROLE_NAMES[role]}@{unit}"  # type: ignore[index]

    return _ROLE_SPEC.sub(one, text)


def _sep() -> str:
    return "；" if current_locale() == "zh" else "; "


def _before_after(detail: str) -> str | None:
    match = re.fullmatch(r"before: (.*); after: (.*)", detail)
    if not match:
        return None
    before, after = (name_of(STATE_NAMES, v) for v in match.groups())
    return _(
        "before: %(before)s; after: %(after)s", before=roles_text(before), after=roles_text(after)
    )


def _role_change(detail: str) -> str | None:
    match = re.fullmatch(r"(\w+@\S+)(?: \((.*)\))?", detail)
    if not match:
        return None
    spec, how = match.groups()
    if how is None:
        return roles_text(spec)
    how_text = _before_after(how) or name_of(HOW_NAMES, how)
    return _("%(spec)s (%(how)s)", spec=roles_text(spec), how=how_text)


def _sessions_ended(detail: str) -> str | None:
    match = re.fullmatch(r"(\d+) (?:other )?sessions? ended(?: \((\w+)\))?", detail)
    if not match:
        return None
    count, reason = int(match.group(1)), match.group(2)
    text = ngettext("%(num)d session ended", "%(num)d sessions ended", count)
    if reason:
        text = _("%(what)s (%(why)s)", what=text, why=name_of(END_REASON_NAMES, reason))
    return text


def _status_change(names: dict, *, fields: bool) -> Callable[[str], str | None]:
    """``old → new`` or ``old → new: typed text`` (problems); ``status: old → new; …``, one
    part per changed field (actions, ``fields``), where only the status is translated."""

    def one_change(part: str) -> str:
        match = re.fullmatch(r"(?:(status): )?(\w+) → (\w+)(: .*)?", part, flags=re.S)
        if not match or (fields and not match.group(1)):
            return part
        field, old, new, rest = match.groups()
        text = _("%(old)s → %(new)s", old=name_of(names, old), new=name_of(names, new))
        if field:
            text = _("status: %(change)s", change=text)
        if rest:  # ": what the user typed" (a reason, a note) or ": the merge target"
            text += ("：" if current_locale() == "zh" else ": ") + rest[2:]
        return text

    def translate(detail: str) -> str | None:
        if "→" not in detail:
            return None
        if not fields:
            return one_change(detail)
        return "; ".join(one_change(p) for p in detail.split("; "))

    return translate


def _export(detail: str) -> str | None:
    match = re.fullmatch(r"(\w+), (\d+) (rows|records)(?:, (web|api))?(?:, to (.*))?", detail)
    if not match:
        return None
    fmt, count, what, where, output = match.groups()
    n = int(count)
    text = (
        ngettext("%(num)d row", "%(num)d rows", n)
        if what == "rows"
        else ngettext("%(num)d record", "%(num)d records", n)
    )
    text = f"{fmt.upper()}, {text}"
    if where == "web":
        text += _sep() + _("from the web")
    if output:
        text += _sep() + _("to %(output)s", output=output)
    return text


def _draw(detail: str) -> str | None:
    match = re.fullmatch(r"week (\d+) seed (\d+)", detail)
    if not match:
        return None
    return _("week %(week)s, seed %(seed)s", week=match.group(1), seed=match.group(2))


def _proposed(detail: str) -> str | None:
    match = re.fullmatch(r"(\d+) new, (\d+) evidence added, (\d+) unchanged", detail)
    if not match:
        return None
    new, added, same = match.groups()
    return _(
        "%(new)s new, %(added)s evidence added, %(same)s unchanged",
        new=new,
        added=added,
        same=same,
    )


def _imported(detail: str) -> str | None:
    """The import's summary, a file per part, as the import page words it."""
    pattern = r"(\S+): (\d+) created, (\d+) updated, (\d+) unchanged"
    parts = [re.fullmatch(pattern, part) for part in detail.split("; ")]
    if not all(parts):
        return None
    return _sep().join(
        _(
            "%(file)s: %(created)s created, %(updated)s updated, %(unchanged)s unchanged",
            file=m.group(1),
            created=m.group(2),
            updated=m.group(3),
            unchanged=m.group(4),
        )
        for m in parts
        if m is not None
    )


def _action_created(detail: str) -> str | None:
    match = re.fullmatch(r"problem (\d+); owner (\d+|None); due (\S+)", detail)
    if not match:
        return None
    problem, owner, due = match.groups()
    return _(
        "problem #%(problem)s; owner: user %(owner)s; due %(due)s",
        problem=problem,
        owner=owner,
        due=due,
    )


def _meeting_created(detail: str) -> str | None:
    match = re.fullmatch(r"(\S+) (\d{4}-\d\d-\d\d): (.*); problems \[([\d, ]*)\]", detail, re.S)
    if not match:
        return None
    unit, held_on, title, ids = match.groups()
    problems = ", ".join(f"#{i.strip()}" for i in ids.split(",") if i.strip()) or "—"
    return _(
        "%(unit)s, %(date)s: %(title)s; problems %(problems)s",
        unit=unit,
        date=held_on,
        title=title,
        problems=problems,
    )


def _problem_created(detail: str) -> str | None:
    match = re.fullmatch(r"(\S+): (.*)", detail, re.S)
    if not match:
        return None
    return match.group(1) + ("：" if current_locale() == "zh" else ": ") + match.group(2)


#: The loop's targets ("problem 12"): what the number is of, in words.
TARGET_NAMES = {
    "problem": _l("problem #%(id)s"),
    "action": _l("action #%(id)s"),
    "meeting": _l("meeting #%(id)s"),
}


def target_text(target: str | None) -> str:
    """An audit event's target in the reader's language where evalsys named a loop record."""
    if not target:
        return ""
    match = re.fullmatch(r"(problem|action|meeting) (\d+)", target)
    if not match:
        return target
    return str(TARGET_NAMES[match.group(1)]) % {"id": match.group(2)}


_RULES: dict[str, Callable[[str], str | None]] = {
    "user.activate": _before_after,
    "user.deactivate": _before_after,
    "role.grant": _role_change,
    "role.revoke": _role_change,
    "user.create": roles_text,
    "sessions.end": _sessions_ended,
    "password.change": _sessions_ended,
    "problem.status": _status_change(STATUS_NAMES, fields=False),
    "action.status": _status_change(ACTION_STATUS_NAMES, fields=True),
    "aggregates.export": _export,
    "feedback.export": _export,
    "plan.draw": _draw,
    "propose": _proposed,
    "import": _imported,
    "action.create": _action_created,
    "meeting.create": _meeting_created,
    "problem.create": _problem_created,
}


def detail_text(action: str, detail: str | None) -> str:
    """An audit event's detail in the reader's language, or as stored when not structured."""
    if not detail:
        return ""
    rule = _RULES.get(action)
    if rule is None:
        return detail
    try:
        return rule(detail) or detail
    except (KeyError, ValueError):  # a detail written by an older evalsys: show it as is
        return detail
