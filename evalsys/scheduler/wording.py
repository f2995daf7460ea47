"""A job's schedule and its runs' summaries in the reader's language.

Jobs declare APScheduler triggers (``cron {'hour': 2, 'minute': 0}``) and write their
summaries in English into ``job_run.detail`` from the scheduler process, which has no
reader. Both are said again here when the admin page shows them; a summary part no
pattern knows (a traceback, a site's own job) is shown as stored.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from babel.dates import get_day_names
from flask_babel import LazyString, get_locale, ngettext
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l

from evalsys.i18n import current_locale

_DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")


def _day(code: str) -> str | None:
    if code not in _DAYS:
        return None
    return get_day_names("wide", locale=get_locale())[_DAYS.index(code)]


def schedule_text(trigger: str, args: Mapping[str, Any]) -> str:
    """ "daily at 02:00", "每周五 18:00", "every 5 minutes"; the raw trigger otherwise."""
    keys = set(args)
    if trigger == "cron" and {"hour"} <= keys <= {"hour", "minute", "day_of_week"}:
        # As APScheduler reads it: the fields below the hour default to their least value.
        try:
            time = f"{int(args['hour']):02d}:{int(args.get('minute', 0)):02d}"
        except (TypeError, ValueError):
            return f"{trigger} {dict(args)}"
        if "day_of_week" not in args:
            return _("daily at %(time)s", time=time)
        day = _day(str(args["day_of_week"]).lower())
        if day is not None:
            return _("weekly on %(day)s at %(time)s", day=day, time=time)
    if trigger == "interval" and len(keys) == 1:
        (unit,) = keys
        count = args[unit]
        if isinstance(count, int) and unit == "minutes":
            return ngettext("every minute", "every %(num)d minutes", count)
        if isinstance(count, int) and unit == "hours":
            return ngettext("every hour", "every %(num)d hours", count)
    return f"{trigger} {dict(args)}"


#: Each known part of a job's summary, and what it says in words (the groups are kept).
_PARTS: list[tuple[re.Pattern[str], LazyString]] = [
    (re.compile(p), m)
    for p, m in (
        (r"(?P<n>\d+) old sessions deleted", _l("%(n)s old sessions deleted")),
        (
            r"(?P<names>[A-Z_ ]+(?: and [A-Z_]+)*) not set: account emails wait",
            _l("%(names)s not set: account emails wait"),
        ),
        (
            r"(?P<sent>\d+) sent, (?P<failed>\d+) failed, (?P<dropped>\d+) dropped",
            _l("%(sent)s sent, %(failed)s failed, %(dropped)s dropped"),
        ),
        (
            r"(?P<sent>\d+) sent, (?P<failed>\d+) failed \((?P<queued>\d+) newly queued\)",
            _l("%(sent)s sent, %(failed)s failed (%(queued)s newly queued)"),
        ),
        (r"(?P<sent>\d+) sent, (?P<failed>\d+) failed", _l("%(sent)s sent, %(failed)s failed")),
        (
            r"(?P<sent>\d+) emailed, (?P<failed>\d+) failed \(retried later\)",
            _l("%(sent)s emailed, %(failed)s failed (retried later)"),
        ),
        (r"(?P<n>\d+) reminders queued", _l("%(n)s reminders queued")),
        (r"MAIL_SERVER is not set: nothing sent", _l("MAIL_SERVER is not set: nothing sent")),
        (
            r"MAIL_SERVER is not set: nothing emailed",
            _l("MAIL_SERVER is not set: nothing emailed"),
        ),
        (
            r"MAIL_SERVER is not set: owners are not emailed",
            _l("MAIL_SERVER is not set: owners are not emailed"),
        ),
        (
            r"MAIL_SERVER is not set: reports are not emailed",
            _l("MAIL_SERVER is not set: reports are not emailed"),
        ),
        (
            r"(?P<term>\S+): (?P<records>\d+) records, (?P<results>\d+) results, "
            r"(?P<flags>\d+) flags",
            _l("%(term)s: %(records)s records, %(results)s results, %(flags)s flags"),
        ),
        (
            r"(?P<term>\S+) \(final\): (?P<records>\d+) records, (?P<results>\d+) results, "
            r"(?P<flags>\d+) flags",
            _l("%(term)s (final): %(records)s records, %(results)s results, %(flags)s flags"),
        ),
        (
            r"reports (?P<term>\S+): (?P<rendered>\d+) rendered, (?P<same>\d+) unchanged, "
            r"(?P<failed>\d+) failed",
            _l("reports %(term)s: %(rendered)s rendered, %(same)s unchanged, %(failed)s failed"),
        ),
        (r"no open term changed", _l("no open term changed")),
        (
            r"reports (?P<term>\S+): (?P<rendered>\d+) rendered, (?P<same>\d+) unchanged, "
            r"(?P<failed>\d+) failed, (?P<queued>\d+) on the queue",
            _l(
                "reports %(term)s: %(rendered)s rendered, %(same)s unchanged, %(failed)s failed,"
                " %(queued)s on the queue"
            ),
        ),
        (
            r"the report queue is not reachable: rendered here",
            _l("the report queue is not reachable: rendered here"),
        ),
        (r"(?P<n>\d+) deliveries queued", _l("%(n)s deliveries queued")),
        (r"(?P<n>\d+) marked missed", _l("%(n)s marked missed")),
        (
            r"(?P<term>\S+) week (?P<week>\d+): drawn already",
            _l("%(term)s week %(week)s: drawn already"),
        ),
        (
            r"(?P<term>\S+) week (?P<week>\d+): (?P<n>\d+) assignments \(seed (?P<seed>\d+)\)",
            _l("%(term)s week %(week)s: %(n)s assignments (seed %(seed)s)"),
        ),
        (
            r"this process does not hold the scheduler lease",
            _l("this process does not hold the scheduler lease"),
        ),
        (
            r"the job is already running in another process",
            _l("the job is already running in another process"),
        ),
    )
]


def _part(text: str) -> str:
    for pattern, message in _PARTS:
        match = pattern.fullmatch(text)
        if match:
            return str(message) % match.groupdict()
    return text


def run_detail(detail: str | None) -> str:
    """A job run's summary in the reader's language, part by part (``; `` between parts)."""
    if not detail:
        return ""
    if "Traceback" in detail:  # a failure's traceback is for whoever fixes it
        return detail
    sep = "；" if current_locale() == "zh" else "; "
    return sep.join(_part(part) for part in detail.split("; "))
