"""The weekly draw: each supervisor's visits, at random, weighted, without clashes or repeats.

:func:`draw_week` reads the inputs (:mod:`evalsys.planner.inputs`), runs
:func:`plan` — a pure function of the inputs and a ``random.Random(seed)`` — and
stores a :class:`Draw` with its seed and parameters and the assignments. The
same seed over the same inputs gives the same assignments.

How :func:`plan` chooses, supervisor by supervisor (in an order shuffled by the seed):

* **How many.** At least the quota (``visits_per_week``). If the coverage target
  needs more of this supervisor — their share of the visits still missing, spread
  over the weeks left before ``buffer_weeks`` before the end of term — then that
  many, up to ``max_visits_per_week``. A teacher reachable by k supervisors counts
  1/k towards each one's share.
* **Which.** First the *coverage picks*: sections of teachers still below the
  coverage target. Then the rest of the quota from, in order of preference,
  sections nobody visited or was sent to this term; sections this supervisor was
  not sent to before; any section (a repeat, only when the scope has nothing else).
  A section is never given to two supervisors in one draw, nor to its own teacher.
  Within a pool, a section is drawn with probability proportional to its weight
  (the product of the weights of its teacher: new staff, low-rated last term,
  never visited), without replacement.
* **When.** A slot (date and period block) of the section's timetable in the week,
  uniformly among those that do not clash with the supervisor's other visits of
  the week (of this draw, or of another term's draw) nor with their own teaching.
* **Announced?** Unannounced with probability ``unannounced_share``.
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass
from datetime import date
from typing import Any

from flask_babel import LazyString, force_locale
from flask_babel import lazy_gettext as _l
from sqlmodel import Session, col, delete, select

from evalsys.accounts.models import User
from evalsys.org.models import Term
from evalsys.org.timetable import Meeting
from evalsys.planner import link, weeks
from evalsys.planner.inputs import COVERAGE, Candidate, DrawInputs, SupervisorInput, gather
from evalsys.planner.models import Assignment, AssignmentStatus, Draw, DrawTrigger, PlanSetting

#: Seeds are stored in a 32-bit integer column.
MAX_SEED = 2**31 - 1


class DrawError(ValueError):
    """A draw that cannot be made (no settings, week outside the term, already drawn).

    ``str(err)`` is English (the CLI and the job log); ``err.message`` is the lazy
    text a page shows in its reader's language.
    """

    def __init__(self, message: LazyString) -> None:
        with force_locale("en"):
            super().__init__(str(message))
        self.message = message


@dataclass(frozen=True)
class Planned:
    supervisor_id: int
    section_id: int
    visit_date: date
    meeting: Meeting
    announced: bool
    weight: float
    reasons: tuple[str, ...]


@dataclass
class PlanResult:
    planned: list[Planned]
    #: username -> why they got fewer visits than their quota.
    shortfalls: dict[str, str]
    #: username -> how many visits the coverage target asked of them this week.
    coverage_asked: dict[str, int]


def _slots(candidate: Candidate, days: list[date]) -> list[tuple[date, Meeting]]:
    return [(d, m) for d in days for m in candidate.meetings if d.isoweekday() == m.weekday]


def _free(
    slots: list[tuple[date, Meeting]], taken: list[tuple[date, Meeting]], busy: tuple[Meeting, ...]
) -> list[tuple[date, Meeting]]:
    return [
        (d, m)
        for d, m in slots
        if not any(b.clashes(m) for b in busy)
        and not any(d == d2 and m.clashes(m2) for d2, m2 in taken)
    ]


def _weighted_pick(rng: random.Random, pool: list[Candidate]) -> Candidate:
    """One candidate, with probability proportional to its weight (pool in a fixed order)."""
    total = math.fsum(c.weight for c in pool)
    target = rng.random() * total
    running = 0.0
    for candidate in pool:
        running += candidate.weight
        if target < running:
            return candidate
    return pool[-1]


def _coverage_share(inputs: DrawInputs, reach: dict[int, int], sup: SupervisorInput) -> float:
    teachers = {inputs.candidates[s].teacher_id for s in sup.section_ids}
    return math.fsum(
        inputs.need[t] / reach[t] for t in sorted(t for t in teachers if t in inputs.need)
    )


def plan(inputs: DrawInputs, rng: random.Random) -> PlanResult:
    """Choose the week's visits; a pure function of ``inputs`` and the generator's state."""
    settings = inputs.settings
    need = dict(inputs.need)
    reach: dict[int, int] = {}
    for sup in inputs.supervisors:
        for t in {inputs.candidates[s].teacher_id for s in sup.section_ids}:
            if t is not None:
                reach[t] = reach.get(t, 0) + 1
    order = list(inputs.supervisors)
    rng.shuffle(order)
    taken_sections: set[int] = set()
    covered = set(inputs.covered_sections)
    result = PlanResult([], {}, {})
    for sup in order:
        share = _coverage_share(inputs, reach, sup)
        asked = math.ceil(share / inputs.weeks_left - 1e-9) if share > 0 else 0
        result.coverage_asked[sup.username] = asked
        count = max(settings.visits_per_week, min(asked, settings.max_visits_per_week))
        mine: list[tuple[date, Meeting]] = list(sup.booked)
        coverage_picks = 0
        for _ in range(count):
            usable = []
            for section_id in sup.section_ids:
                if section_id in taken_sections:
                    continue
                candidate = inputs.candidates[section_id]
                if _free(_slots(candidate, inputs.days), mine, sup.busy):
                    usable.append(candidate)
            if not usable:
                result.shortfalls[sup.username] = (
                    f"{len(mine) - len(sup.booked)} of {count}: "
                    "no other section in scope has a free slot this week"
                )
                break
            pools: list[list[Candidate]] = []
            if coverage_picks < asked:
                pools.append([c for c in usable if need.get(c.teacher_id or -1, 0) > 0])
            pools += [
                [
                    c
                    for c in usable
                    if c.section_id not in covered and c.section_id not in sup.assigned_before
                ],
                [c for c in usable if c.section_id not in sup.assigned_before],
                usable,
            ]
            pool = next(p for p in pools if p)
            is_coverage = coverage_picks < asked and pool is pools[0]
            chosen = _weighted_pick(rng, pool)
            visit_date, meeting = rng.choice(_free(_slots(chosen, inputs.days), mine, sup.busy))
            announced = rng.random() >= settings.unannounced_share
            mine.append((visit_date, meeting))
            taken_sections.add(chosen.section_id)
            covered.add(chosen.section_id)
            reasons = chosen.reasons
            if is_coverage:
                coverage_picks += 1
                reasons = (*reasons, COVERAGE)
            if chosen.teacher_id is not None and need.get(chosen.teacher_id, 0) > 0:
                need[chosen.teacher_id] -= 1
            result.planned.append(
                Planned(
                    sup.user_id,
                    chosen.section_id,
                    visit_date,
                    meeting,
                    announced,
                    chosen.weight,
                    reasons,
                )
            )
    return result


def new_seed() -> int:
    """A fresh seed from the operating system, recorded with the draw."""
    return random.SystemRandom().randrange(MAX_SEED + 1)


def draw_week(
    session: Session,
    *,
    term: Term,
    week: int,
    seed: int | None = None,
    trigger: DrawTrigger = DrawTrigger.MANUAL,
    user: User | None = None,
    replace: bool = False,
) -> Draw:
    """Draw and store the week's assignments of every supervisor; flushes, never commits.

    With ``replace``, an existing draw of the week is deleted first — refused once
    any of its assignments is done (a visit made on a plan must stay with its plan).
    """
    settings = session.get(PlanSetting, term.id)
    if settings is None:
        raise DrawError(_l("Term %(term)s has no plan settings; set them first.", term=term.code))
    last = weeks.last_week(term)
    if not 1 <= week <= last:
        raise DrawError(
            _l(
                "Term %(term)s has weeks 1 to %(last)s; there is no week %(week)s.",
                term=term.code,
                last=last,
                week=week,
            )
        )
    if seed is None:
        seed = new_seed()
    if not 0 <= seed <= MAX_SEED:
        raise DrawError(_l("The seed must be between 0 and %(max)s.", max=MAX_SEED))
    existing = session.exec(select(Draw).where(Draw.term_id == term.id, Draw.week == week)).first()
    if existing is not None:
        if not replace:
            raise DrawError(
                _l(
                    "Week %(week)s of %(term)s is drawn already (seed %(seed)s).",
                    week=week,
                    term=term.code,
                    seed=existing.seed,
                )
            )
        done = session.exec(
            select(Assignment.id).where(
                Assignment.draw_id == existing.id, Assignment.status == AssignmentStatus.DONE
            )
        ).first()
        if done is not None:
            raise DrawError(
                _l(
                    "Week %(week)s of %(term)s has visits done; it cannot be drawn again.",
                    week=week,
                    term=term.code,
                )
            )
        session.exec(delete(Assignment).where(col(Assignment.draw_id) == existing.id))
        session.delete(existing)
        session.flush()

    days = weeks.week_days(term, week)
    weeks_left = max(1, last - settings.buffer_weeks - week + 1)
    inputs = gather(
        session, term=term, week=week, days=days, weeks_left=weeks_left, settings=settings
    )
    result = plan(inputs, random.Random(seed))
    assert term.id is not None  # loaded from the database
    draw = Draw(
        term_id=term.id,
        week=week,
        seed=seed,
        week_start=weeks.week_start(term, week),
        parameters=_parameters(inputs, result),
        trigger=trigger.value,
        created_by_id=user.id if user is not None else None,
    )
    session.add(draw)
    session.flush()
    assert draw.id is not None  # given by the flush
    for p in result.planned:
        session.add(
            Assignment(
                draw_id=draw.id,
                term_id=term.id,
                supervisor_id=p.supervisor_id,
                section_id=p.section_id,
                visit_date=p.visit_date,
                first_period=p.meeting.first,
                last_period=p.meeting.last,
                announced=p.announced,
                weight=p.weight,
                reasons=", ".join(p.reasons) or None,
            )
        )
    session.flush()
    link.link_draw(session, draw)
    return draw


def _parameters(inputs: DrawInputs, result: PlanResult) -> dict[str, Any]:
    s = inputs.settings
    return {
        "settings": {
            "visits_per_week": s.visits_per_week,
            "max_visits_per_week": s.max_visits_per_week,
            "visits_per_teacher": s.visits_per_teacher,
            "buffer_weeks": s.buffer_weeks,
            "weight_new_staff": s.weight_new_staff,
            "weight_low_rated": s.weight_low_rated,
            "low_rating_threshold": s.low_rating_threshold,
            "weight_never_visited": s.weight_never_visited,
            "unannounced_share": s.unannounced_share,
        },
        "days": [d.isoformat() for d in inputs.days],
        "weeks_left": inputs.weeks_left,
        "supervisors": len(inputs.supervisors),
        "schedulable_sections": len(inputs.candidates),
        "unschedulable_sections": len(inputs.unschedulable),
        "unschedulable_examples": inputs.unschedulable[:20],
        "teachers_below_target": len(inputs.need),
        "visits_missing": sum(inputs.need.values()),
        "coverage_asked": result.coverage_asked,
        "shortfalls": result.shortfalls,
        "assignments": len(result.planned),
    }
