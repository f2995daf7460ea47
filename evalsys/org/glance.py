"""A unit at a glance: the few figures that matter, and the report's charts, for the unit page.

Read from the unit's term summary (:func:`evalsys.aggregation.summary.unit_summary`, already
loaded for the page) and two more queries whatever the size of the unit: the parent's
overall row (its grade bands, for the distribution chart) and the unit's overall figure
over the last terms (the trend). The charts are the report's own
(:mod:`evalsys.reports.charts`) in their "screen" look, carried as ``<img>`` data URLs like
the report's web view: each image is a document of its own, which keeps its ids to itself
and is neither styled by the page nor held to its Content-Security-Policy.

A figure from fewer than MIN_N records is never shown as a mean: the headline says "too
few", the charts draw such a bar as "n=…, too few" and a trend point hollow.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from flask_babel import gettext as _
from markupsafe import Markup
from sqlmodel import Session, select

from evalsys.aggregation import read
from evalsys.aggregation.flags import dimension_name, kind_name
from evalsys.aggregation.models import ALL_KINDS, OVERALL, AggregateResult
from evalsys.aggregation.row import BANDS
from evalsys.aggregation.summary import Summary
from evalsys.reports import charts
from evalsys.reports.render import chart_img

#: Terms in the trend chart, the shown one included (as in the report).
TREND_TERMS = 6


@dataclass
class Glance:
    n: int = 0
    #: None when there are no records or too few (``insufficient``).
    mean: float | None = None
    insufficient: bool = True
    prev_mean: float | None = None
    prev_change: float | None = None
    #: Sections spot-checked this term: {"part", "total", "percent"}, or None.
    coverage: dict[str, Any] | None = None
    #: One entry per flagged result (kind, dimension): its label, anchor and flag names.
    flagged: list[dict[str, Any]] = field(default_factory=list)
    flag_count: int = 0
    #: The charts: key, caption, img (Markup) and the figures drawn, for the text alternative.
    charts: list[dict[str, Any]] = field(default_factory=list)


def flag_anchor(flag: dict[str, Any]) -> str:
    """The id of a flag's item in the page's "Needs attention" list."""
    return f"flag-{flag['kind']}-{flag['dimension']}-{flag['flag']}"


def unit_glance(
    session: Session,
    summary: Summary,
    *,
    level: str,
    unit_id: int,
    unit_label: str,
    parent_label: str | None,
) -> Glance:
    """The headline figures and charts of the unit in the summary's term."""
    glance = Glance()
    all_rows = next((rows for kind, _t, rows in summary.kinds if kind == ALL_KINDS), [])
    overall = next((r for r in all_rows if r["dimension"] == OVERALL), None)
    if overall is not None:
        glance.n = overall["n"]
        glance.insufficient = bool(overall["insufficient"]) or overall["n"] == 0
        glance.mean = None if glance.insufficient else overall["mean"]
        glance.prev_mean = overall["prev_mean"]
        glance.prev_change = overall["prev_change"]
    if summary.coverage and summary.coverage["spot"]:
        glance.coverage = summary.coverage["spot"]
    glance.flag_count = len(summary.flags)
    seen: dict[tuple[str, str], dict[str, Any]] = {}
    for f in summary.flags:
        key = (f["kind"], f["dimension"])
        if key not in seen:
            seen[key] = {
                "label": _flagged_label(f["kind"], f["dimension"]),
                "anchor": flag_anchor(f),
                "names": [],
            }
            glance.flagged.append(seen[key])
        seen[key]["names"].append(f["name"])

    width = charts.screen_width()
    dims = [
        {
            "label": r["title"],
            "mean": None if r["insufficient"] else r["mean"],
            "parent": r["parent_mean"],
            "n": r["n"],
            "insufficient": bool(r["insufficient"]) or r["n"] == 0,
        }
        for r in all_rows
        if r["dimension"] != OVERALL
    ]
    if dims and any(d["n"] for d in dims):
        parent_in_chart = parent_label if any(d["parent"] is not None for d in dims) else None
        glance.charts.append(
            {
                "key": "dimensions",
                "caption": (
                    _("Mean per dimension (all kinds), against %(parent)s", parent=parent_in_chart)
                    if parent_in_chart
                    else _("Mean per dimension (all kinds)")
                ),
                "img": _img(
                    charts.cached(
                        charts.dimension_chart,
                        dims,
                        unit_label=unit_label,
                        parent_label=parent_in_chart,
                        threshold=_threshold(summary),
                        width_in=width,
                        style="screen",
                    ),
                    _("Mean per dimension of %(unit)s", unit=unit_label),
                ),
                "rows": dims,
                "parent_label": parent_in_chart,
            }
        )
    if overall is not None and overall["n"] and not glance.insufficient:
        # The distribution of too few records would tell what their mean hides.
        parent_bands = _parent_bands(session, summary, level=level, unit_id=unit_id)
        ptotal = sum(parent_bands) if parent_bands else 0
        bands = [
            {
                "label": summary.band_labels[band],
                "name": summary.band_names[band],
                "count": count,
                "share": 100.0 * count / overall["n"],
                "parent_share": (
                    100.0 * parent_bands[i] / ptotal if parent_bands and ptotal else None
                ),
            }
            for i, (band, count) in enumerate(zip(BANDS, overall["bands"], strict=True))
        ]
        glance.charts.append(
            {
                "key": "bands",
                "caption": _("Score distribution (overall, share of records)"),
                "img": _img(
                    charts.cached(
                        charts.band_chart,
                        bands,
                        unit_label=unit_label,
                        parent_label=parent_label if ptotal else None,
                        width_in=width,
                        style="screen",
                    ),
                    _("Score distribution of %(unit)s", unit=unit_label),
                ),
                "rows": bands,
                "parent_label": parent_label if ptotal else None,
            }
        )
    trend = _trend(session, summary, level=level, unit_id=unit_id)
    if len(trend) > 1:
        glance.charts.append(
            {
                "key": "trend",
                "caption": _("Overall mean over the last terms"),
                "img": _img(
                    charts.cached(
                        charts.trend_chart,
                        trend,
                        unit_label=unit_label,
                        threshold=_threshold(summary),
                        width_in=width,
                        style="screen",
                    ),
                    _("Overall mean of %(unit)s over terms", unit=unit_label),
                ),
                "rows": trend,
            }
        )
    return glance


def _img(svg: str, alt: str) -> Markup:
    return chart_img(svg, alt)


def _flagged_label(kind: str, dimension: str) -> str:
    """ "Overall (spot check)": the result a flag is about, in the reader's language."""
    return _("%(dimension)s (%(kind)s)", dimension=dimension_name(dimension), kind=kind_name(kind))


def _threshold(summary: Summary) -> float | None:
    settings = summary.run.settings if summary.run is not None else None
    if isinstance(settings, dict) and settings.get("threshold") is not None:
        return float(settings["threshold"])
    return None


def _parent_bands(
    session: Session, summary: Summary, *, level: str, unit_id: int
) -> list[int] | None:
    """The parent unit's overall grade bands (all kinds) this term, in one query."""
    assert summary.term.id is not None  # loaded from the database
    me = (
        select(AggregateResult.parent_level, AggregateResult.parent_id)
        .where(
            AggregateResult.term_id == summary.term.id,
            AggregateResult.level == level,
            AggregateResult.unit_id == unit_id,
            AggregateResult.kind == ALL_KINDS,
            AggregateResult.dimension == OVERALL,
        )
        .subquery()
    )
    row = session.exec(
        select(AggregateResult).join(
            me,
            (AggregateResult.level == me.c.parent_level)  # type: ignore[arg-type]
            & (AggregateResult.unit_id == me.c.parent_id)
            & (AggregateResult.term_id == summary.term.id)
            & (AggregateResult.kind == ALL_KINDS)
            & (AggregateResult.dimension == OVERALL),
        )
    ).first()
    if row is None:
        return None
    return [getattr(row, f"band_{band}") for band in BANDS]


def _trend(session: Session, summary: Summary, *, level: str, unit_id: int) -> list[dict[str, Any]]:
    """The unit's overall mean (all kinds) in the last TREND_TERMS terms up to the shown one."""
    rows = read.overall_trend(
        session, unit_id=unit_id, level=level, child_level=None, start=summary.term.start_date
    )
    return [
        {
            "term": r["term"],
            "n": r["n"],
            # Too few records: not even a hollow point where the mean would be.
            "mean": None if r["insufficient"] or r["n"] == 0 else r["mean"],
            "insufficient": r["insufficient"] or r["n"] == 0,
        }
        for r in rows[-TREND_TERMS:]
    ]
