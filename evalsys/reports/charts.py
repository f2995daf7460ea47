"""The report's charts: Matplotlib's SVG output, inlined in the HTML as vectors.

Matplotlib, not pygal (both measured on this machine, 5 bars, Chinese labels):
pygal drew faster (13 ms vs 98 ms) but its SVG took WeasyPrint longer (136 ms
vs 105 ms), carries a script and a stylesheet, and has no hatching; Matplotlib
gives hatch patterns and markers that stay apart in greyscale print, error
bars, and full control of the layout. Text stays text (``svg.fonttype: none``),
so WeasyPrint sets it in the report's own font and the PDF stays searchable.

Only the object-oriented API (no pyplot: no global state, safe in workers).
Every function returns an ``<svg>`` element as text, without the XML prolog.
Labels are escaped by Matplotlib's SVG writer. The words a chart draws itself
("too few", "% of records") are gettext strings in the current locale; the memo
(:func:`cached`) keys on the locale too.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import json
import os
import re
import shutil
from collections import OrderedDict
from collections.abc import Callable, Sequence
from functools import cache
from pathlib import Path
from types import ModuleType
from typing import TYPE_CHECKING, Any

from flask_babel import gettext as _

if TYPE_CHECKING:
    from matplotlib.figure import Figure
    from matplotlib.typing import RcKeyType


@cache
def _mpl() -> ModuleType:
    """Matplotlib, imported (and its SVG backend chosen) when a chart is first drawn: the web
    app and every command import this module, and Matplotlib's import is CPU that only a
    process that draws needs."""
    import matplotlib

    matplotlib.use("svg")
    return matplotlib


#: Part of the report's template version: a change here re-renders every report.
CHART_VERSION = "3"

DARK = "#333333"
MID = "#8c8c8c"
LIGHT = "#d9d9d9"
FONT = ["WenQuanYi Micro Hei", "Noto Sans CJK SC", "DejaVu Sans"]

_RC: dict[RcKeyType, Any] = {
    "svg.fonttype": "none",
    "svg.hashsalt": "evalsys-report",  # stable element ids: the same data, the same SVG
    "font.family": "sans-serif",
    "font.sans-serif": FONT,
    "font.size": 7,
    "axes.edgecolor": "#555555",
    "axes.linewidth": 0.5,
    "axes.titlesize": 8,
    "xtick.major.width": 0.5,
    "ytick.major.width": 0.5,
    "xtick.major.size": 2,
    "ytick.major.size": 2,
    "hatch.linewidth": 0.5,
    "hatch.color": "#555555",
    "legend.fontsize": 6.5,
    "legend.frameon": False,
}


#: How a chart looks where it is shown. "print" is the PDF's (greyscale, 7 pt text on a
#: 3.5 in chart); "screen" is the web pages': colour that still reads in greyscale (the
#: parent stays hatched, the unit solid and dark), and text large enough to read on a
#: phone when the chart is scaled to the column (see :func:`screen_width`).
LOOKS: dict[str, dict[str, Any]] = {
    "print": {"unit": DARK, "parent": MID, "note": 6, "font": 7.0, "rc": {}},
    "screen": {
        "unit": "#1f4e8c",
        "parent": "#b45309",
        "note": 8,
        "font": 9.0,
        "rc": {
            "font.size": 9,
            "axes.titlesize": 10,
            "legend.fontsize": 8.5,
            "hatch.color": "#b45309",
            "hatch.linewidth": 0.8,
        },
    },
}


def _look(style: str) -> dict[str, Any]:
    return LOOKS.get(style, LOOKS["print"])


def screen_width(smallest_px: float = 11.0, column_px: float = 328.0) -> float:
    """The width (inches) of a "screen" chart whose smallest text, scaled to a phone's
    column of ``column_px`` CSS pixels (360 px less the page's padding), is
    ``smallest_px`` high: text in points times the scale (px per pt) of the chart."""
    return round(column_px * LOOKS["screen"]["note"] / smallest_px / 72, 2)


def _legend_cols(style: str, labels: Sequence[str], width_in: float) -> int:
    """Two legend entries side by side, or (on screen, when they would not fit) one above
    the other."""
    if style != "screen":
        return 2
    size = float(LOOKS["screen"]["rc"]["legend.fontsize"])
    wide = sum(text_width(label, size) + 0.45 for label in labels)
    return 2 if wide <= width_in * 0.95 else 1


def _figure(
    width_in: float,
    height_in: float,
    *,
    left: float = 0.4,
    bottom: float = 0.25,
    right: float = 0.1,
    top: float = 0.08,
) -> Figure:
    """A figure whose axes leave the given margins (inches) for labels and legend.

    Margins are set by hand from the label lengths (:func:`text_width`), not by
    Matplotlib's constrained layout: that solver took more than half of each chart's
    time (measured: 0.25 s against 0.10 s for a dimension chart), and a report has
    one chart per unit part.
    """
    _mpl()
    from matplotlib.figure import Figure

    fig = Figure(figsize=(width_in, height_in))
    fig.subplots_adjust(
        left=min(0.6, left / width_in),
        right=1 - right / width_in,
        bottom=min(0.6, bottom / height_in),
        top=1 - top / height_in,
    )
    return fig


def text_width(text: str, size_pt: float = 7.0) -> float:
    """A generous estimate of a label's width in inches (its longest line): CJK one em,
    the rest 0.6 em."""
    ems = max(sum(1.0 if ord(ch) > 0x2E80 else 0.6 for ch in line) for line in text.split("\n"))
    return ems * size_pt / 72


def _svg(fig: Figure, rc: dict[Any, Any] | None = None) -> str:
    buf = io.StringIO()
    with _mpl().rc_context({**_RC, **(rc or {})}):
        fig.savefig(buf, format="svg", metadata={"Date": None, "Creator": None})
    svg = buf.getvalue()
    svg = svg[svg.find("<svg") :]
    # Matplotlib sizes the SVG in pt; the stylesheet scales it to the column instead.
    svg = re.sub(r'(<svg[^>]*?) width="[^"]*" height="[^"]*"', r"\1", svg, count=1)
    return _unique_ids(svg)


_REFS = re.compile(r'(?:url\(#|href="#)([^")]+)')
_IDS = re.compile(r' id="([^"]+)"')


def _unique_ids(svg: str) -> str:
    """Several charts share one HTML document: keep only the ids something refers to
    (clip paths, markers), each made unique; the others would only become PDF anchors."""
    prefix = "c" + hashlib.sha1(svg.encode(), usedforsecurity=False).hexdigest()[:8] + "-"
    used = set(_REFS.findall(svg))
    svg = _IDS.sub(lambda m: f' id="{prefix}{m[1]}"' if m[1] in used else "", svg)
    svg = re.sub(r"url\(#([^)]+)\)", lambda m: f"url(#{prefix}{m[1]})", svg)
    return re.sub(r'href="#([^"]+)"', lambda m: f'href="#{prefix}{m[1]}"', svg)


def _tidy(ax: Any) -> None:
    for side in ("top", "right"):
        ax.spines[side].set_visible(False)


def dimension_chart(
    rows: Sequence[dict[str, Any]],
    *,
    unit_label: str,
    parent_label: str | None,
    threshold: float | None,
    width_in: float = 3.5,
    style: str = "print",
) -> str:
    """Horizontal bars: the unit's mean per dimension (dark) and the parent's (hatched).

    ``rows``: dicts with label, mean (None when insufficient), parent (or None), n, insufficient.
    """
    look = _look(style)
    k = look["font"] / 7.0  # the rows and margins grow with the text
    with _mpl().rc_context({**_RC, **look["rc"]}):
        cols = _legend_cols(style, [unit_label, parent_label or ""], width_in)
        extra = 0.2 * k if parent_label and cols == 1 else 0  # a second legend row
        height = 0.45 * k + 0.3 * k * max(len(rows), 1) + (0.25 * k if parent_label else 0)
        fig = _figure(
            width_in,
            height + extra,
            left=0.12 + max([text_width(r["label"], look["font"]) for r in rows] + [0.3]),
            bottom=(0.25 + (0.22 if parent_label else 0)) * k + extra,
        )
        ax = fig.add_subplot()
        _tidy(ax)
        labels = [r["label"] for r in rows]
        ys = list(range(len(rows)))[::-1]
        bar = 0.38 if parent_label else 0.6
        unit_vals = [
            r["mean"] if not r["insufficient"] and r["mean"] is not None else 0 for r in rows
        ]
        ax.barh(
            [y + (bar / 2 if parent_label else 0) for y in ys],
            unit_vals,
            height=bar,
            color=look["unit"],
            label=unit_label,
        )
        if parent_label:
            ax.barh(
                [y - bar / 2 for y in ys],
                [r["parent"] or 0 for r in rows],
                height=bar,
                color="white",
                edgecolor=look["parent"],
                hatch="////",
                linewidth=0.5,
                label=parent_label,
            )
        for y, r in zip(ys, rows, strict=True):
            yy = y + (bar / 2 if parent_label else 0)
            if r["insufficient"] or r["mean"] is None:
                ax.text(
                    1,
                    yy,
                    _("n=%(n)s, too few", n=r["n"]),
                    va="center",
                    fontsize=look["note"],
                    color=DARK,
                )
            else:  # inside the dark bar, in white: clear of the parent's bar below it
                ax.text(
                    r["mean"] - 1.5,
                    yy,
                    f"{r['mean']:.1f}",
                    va="center",
                    ha="right",
                    fontsize=look["note"],
                    color="white",
                )
        if threshold is not None:
            ax.axvline(threshold, color=DARK, linewidth=0.6, linestyle=(0, (3, 2)))
        ax.set_yticks(ys, labels)
        ax.set_xlim(0, 108)
        ax.set_xticks([0, 20, 40, 60, 80, 100])
        ax.tick_params(axis="y", length=0)
        if parent_label:
            fig.legend(loc="lower center", bbox_to_anchor=(0.5, 0.0), ncols=cols)
        return _svg(fig, look["rc"])


def band_chart(
    bands: Sequence[dict[str, Any]],
    *,
    unit_label: str,
    parent_label: str | None,
    width_in: float = 3.5,
    style: str = "print",
) -> str:
    """The share of records in each grade band, the unit (dark) and the parent (hatched).

    ``bands``: dicts with label, count, share (0-100), parent_share (or None).
    """
    look = _look(style)
    k = look["font"] / 7.0
    with _mpl().rc_context({**_RC, **look["rc"]}):
        # On screen the legend goes below the bars (large text would cover them).
        below = style == "screen" and parent_label is not None
        cols = _legend_cols(style, [unit_label, parent_label or ""], width_in)
        if below and cols == 1:
            below_in = 0.5
        elif below:
            below_in = 0.3
        else:
            below_in = 0.0
        fig = _figure(
            width_in,
            2.0 * k + below_in,
            left=0.42 * k,
            bottom=0.25 * k + below_in,
        )
        ax = fig.add_subplot()
        _tidy(ax)
        xs = list(range(len(bands)))
        bar = 0.38 if parent_label else 0.6
        ax.bar(
            [x - (bar / 2 if parent_label else 0) for x in xs],
            [b["share"] for b in bands],
            width=bar,
            color=look["unit"],
            label=unit_label,
        )
        if parent_label:
            ax.bar(
                [x + bar / 2 for x in xs],
                [b["parent_share"] or 0 for b in bands],
                width=bar,
                color="white",
                edgecolor=look["parent"],
                hatch="////",
                linewidth=0.5,
                label=parent_label,
            )
        top = max([b["share"] for b in bands] + [b["parent_share"] or 0 for b in bands] + [10])
        for x, b in zip(xs, bands, strict=True):
            ax.text(
                x - (bar / 2 if parent_label else 0),
                b["share"] + top * 0.02,
                str(b["count"]),
                ha="center",
                fontsize=look["note"],
            )
        ax.set_xticks(xs, [b["label"] for b in bands])
        ax.set_ylim(0, top * 1.15)
        ax.set_ylabel(_("Share of records, %"))
        if below:
            fig.legend(loc="lower center", bbox_to_anchor=(0.5, 0.0), ncols=cols)
        elif parent_label:
            ax.legend(loc="upper left")
        return _svg(fig, look["rc"])


def trend_chart(
    points: Sequence[dict[str, Any]],
    *,
    unit_label: str,
    threshold: float | None,
    width_in: float = 3.5,
    style: str = "print",
) -> str:
    """The overall mean over terms; too-few terms are drawn hollow and labelled."""
    look = _look(style)
    k = look["font"] / 7.0
    with _mpl().rc_context({**_RC, **look["rc"]}):
        longest = max([text_width(str(p["term"]), look["font"]) for p in points] + [0.3])
        fig = _figure(
            width_in, 2.0 * k, left=0.32 * k, bottom=0.12 * k + 0.36 * longest, right=0.15 * k
        )
        ax = fig.add_subplot()
        _tidy(ax)
        xs = list(range(len(points)))
        values = [p["mean"] if p["mean"] is not None else float("nan") for p in points]
        ax.plot(xs, values, color=look["unit"], linewidth=1, label=unit_label)
        solid = [
            (x, p["mean"])
            for x, p in zip(xs, points, strict=True)
            if p["mean"] is not None and not p["insufficient"]
        ]
        hollow = [
            (x, p["mean"])
            for x, p in zip(xs, points, strict=True)
            if p["mean"] is not None and p["insufficient"]
        ]
        if solid:
            ax.plot(*zip(*solid, strict=True), "o", color=look["unit"], markersize=4 * k)
        if hollow:
            ax.plot(
                *zip(*hollow, strict=True),
                "o",
                color=look["unit"],
                markerfacecolor="white",
                markersize=4 * k,
            )
        found = [v for v in values if v == v]
        low = min(found + [threshold or 100]) if found else 50
        ax.set_ylim(max(0, low - 12), 100)
        for x, p in zip(xs, points, strict=True):
            if p["mean"] is None:
                # No mean given: no records, or (pages that never place a figure of too few
                # records, not even as a hollow point) records too few to show.
                word = _("n=%(n)s, too few", n=p["n"]) if p.get("n") else _("no data")
                ax.text(x, max(0, low - 10), word, ha="center", fontsize=look["note"], color=MID)
            else:
                # Too few records: the point is drawn hollow, its figure not printed.
                note = f"n={p['n']}" if p["insufficient"] else f"{p['mean']:.1f}"
                ax.text(x, p["mean"] + 2, note, ha="center", fontsize=look["note"])
        if threshold is not None:
            ax.axhline(threshold, color=MID, linewidth=0.6, linestyle=(0, (3, 2)))
        ax.set_xticks(xs, [p["term"] for p in points], rotation=20, ha="right")
        ax.set_xlim(-0.5, max(len(points) - 0.5, 0.5))
        return _svg(fig, look["rc"])


def coverage_chart(
    rows: Sequence[dict[str, Any]], *, width_in: float = 3.5, style: str = "print"
) -> str:
    """Shares observed (sections, teachers, tutor groups) as 0-100 % bars with x/y labels."""
    look = _look(style)
    k = look["font"] / 7.0
    with _mpl().rc_context({**_RC, **look["rc"]}):
        fig = _figure(
            width_in,
            0.4 * k + 0.3 * k * max(len(rows), 1),
            left=0.12 + max([text_width(r["label"], look["font"]) for r in rows] + [0.3]),
            bottom=0.22 * k,
        )
        ax = fig.add_subplot()
        _tidy(ax)
        ys = list(range(len(rows)))[::-1]
        ax.barh(
            ys,
            [100] * len(rows),
            height=0.55,
            color="white",
            edgecolor=look["parent"],
            linewidth=0.5,
        )
        ax.barh(ys, [r["share"] or 0 for r in rows], height=0.55, color=look["unit"])
        for y, r in zip(ys, rows, strict=True):
            ax.text(101, y, f"{r['part']}/{r['whole']}", va="center", fontsize=look["note"])
        ax.set_yticks(ys, [r["label"] for r in rows])
        ax.set_xlim(0, 115 if k == 1 else 125)
        ax.set_xticks([0, 25, 50, 75, 100], ["0", "25", "50", "75", "100%"])
        ax.tick_params(axis="y", length=0)
        return _svg(fig, look["rc"])


# --- remembered charts: in this process, and on disk across processes ---------------------

_MEMO: OrderedDict[str, str] = OrderedDict()
_MEMO_SIZE = 2048


def cached(func: Callable[..., str], *args: Any, **kwargs: Any) -> str:
    """``func(*args, **kwargs)``, remembered by its (plain-value) arguments.

    The same chart recurs: a college's chart against the school is drawn in the school
    report and again in the college's own; a department's in its college's report, in
    its own and on its unit page, in whichever worker or web process serves it. So each
    chart is remembered in this process and, within an app, on disk in
    ``INSTANCE/chart-cache`` (:func:`_disk`), keyed by a hash of its inputs: drawn once
    per site, not once per process. Matplotlib costs 30-100 ms a chart; reading the file
    well under 1 ms.
    """
    from evalsys.i18n import current_locale

    try:
        locale = current_locale()
    except RuntimeError:  # no app context: gettext gives the English source
        locale = "en"
    key = f"{func.__name__} {locale} " + json.dumps([args, kwargs], sort_keys=True, default=str)
    svg = _MEMO.get(key)
    if svg is not None:
        _MEMO.move_to_end(key)
        return svg
    folder = _disk()
    path = None
    if folder is not None:
        path = folder / (hashlib.sha256(key.encode()).hexdigest() + ".svg")
        try:
            svg = path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError):
            svg = None
        if svg is not None and not (svg.startswith("<svg") and svg.rstrip().endswith("</svg>")):
            svg = None  # cut short or not ours: drawn again below
    if svg is None:
        svg = func(*args, **kwargs)
        if path is not None:
            _write(path, svg)
    _MEMO[key] = svg
    if len(_MEMO) > _MEMO_SIZE:
        _MEMO.popitem(last=False)
    return svg


def _disk() -> Path | None:
    """The app's chart folder for this chart code and Matplotlib (a new version of either
    draws anew, and the older folders are removed); None outside an app or when
    ``CHART_CACHE`` is off."""
    from flask import current_app, has_app_context

    if not has_app_context() or not current_app.config.get("CHART_CACHE", True):
        return None
    root = Path(current_app.instance_path) / "chart-cache"
    folder = root / f"v{CHART_VERSION}-mpl{_mpl().__version__}"
    if not folder.is_dir():
        try:
            folder.mkdir(parents=True, exist_ok=True)
            for old in root.iterdir():
                if old.is_dir() and old != folder:
                    shutil.rmtree(old, ignore_errors=True)
        except OSError:
            return None
    return folder


def _write(path: Path, svg: str) -> None:
    """Atomically (a reader never sees half a chart); a failure only loses the saving."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        tmp.write_text(svg, encoding="utf-8")
        os.replace(tmp, path)
    except OSError:
        with contextlib.suppress(OSError):
            tmp.unlink()


def warm_up() -> None:
    """Import Matplotlib and find its fonts by drawing one small chart, in a process that
    forks others (a queue worker), so that no fork pays for it again."""
    band_chart(
        [{"label": "60", "count": 1, "share": 100.0, "parent_share": None}],
        unit_label="预热 warm-up",
        parent_label=None,
    )


def clear_memo() -> None:
    """Forget the charts remembered in this process (benchmarks: time every chart; the
    disk is left alone: ``CHART_CACHE = False`` for that)."""
    _MEMO.clear()
