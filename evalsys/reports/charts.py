"""The report's charts: minimal SVG written by hand, inlined in the HTML as vectors.

Written by hand, not by Matplotlib (measured on a department report of the benchmark
university, C00-D0, at ~2.1 s a report): Matplotlib took ~0.23 s to draw its four charts,
and WeasyPrint ~0.27 s to draw Matplotlib's SVG (~600 elements for the four: a group per
artist, a clip path per axes, a path per tick). A chart here is a few dozen elements:
the bars of one look as one path (the parent's hatched with one pattern per chart: a
pattern per bar cost WeasyPrint more, and plain diagonal lines more still), a path for
the axes and ticks, text. Nothing is imported to draw one. Measured on the same report:
the four charts are written in ~2 ms (Matplotlib ~210 ms, and ~0.7 s more for its import
in a fresh process), and WeasyPrint draws them in about half the time it took for
Matplotlib's; what is left is their text, which WeasyPrint's SVG lays out a letter at a
time.

Every function returns an ``<svg>`` element as text, without the XML prolog. Its
``viewBox`` is in points at the chart's width (``width_in``), with no width or height:
the stylesheet scales it to its column. Text stays text, in the report's fonts, so
WeasyPrint sets it and the PDF stays searchable; label widths are estimated
(:func:`text_width`), never measured: a label that ends at its point (a dimension's name
left of the axis) is anchored at its end, a centred one at its middle. Every label is
escaped. The words a chart draws itself ("too few", "Share of records, %") are gettext
strings in the current locale; the memo (:func:`cached`) keys on the locale too.

Greyscale print: the unit's bars solid and dark, the parent's white with diagonal hatching
and a grey edge, so the two stay apart without colour.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import math
import os
import shutil
from collections import OrderedDict
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any
from xml.sax.saxutils import escape

from flask_babel import gettext as _

#: Part of the report's template version: a change here re-renders every report.
CHART_VERSION = "4"

DARK = "#333333"
MID = "#8c8c8c"
AXIS = "#555555"
FONT = ["WenQuanYi Micro Hei", "Noto Sans CJK SC", "DejaVu Sans"]

#: How a chart looks where it is shown. "print" is the PDF's (greyscale, 7 pt text on a
#: 3.5 in chart); "screen" is the web pages': colour that still reads in greyscale (the
#: parent stays hatched, the unit solid and dark), and text large enough to read on a
#: phone when the chart is scaled to the column (see :func:`screen_width`). Sizes in
#: points: ``font`` the labels, ``note`` the figures on bars and points, ``legend``.
LOOKS: dict[str, dict[str, Any]] = {
    "print": {
        "unit": DARK,
        "parent": MID,
        "hatch": AXIS,
        "hatch_width": 0.5,
        "note": 6,
        "font": 7.0,
        "legend": 6.5,
    },
    "screen": {
        "unit": "#1f4e8c",
        "parent": "#b45309",
        "hatch": "#b45309",
        "hatch_width": 0.8,
        "note": 8,
        "font": 9.0,
        "legend": 8.5,
    },
}

_TICK = 2.0  # tick length, pt
_PAD = 3.5  # tick to label, pt
_LINE = 0.5  # axes and edges, pt
_DASH = 'stroke-dasharray="1.8,1.2"'


def _look(style: str) -> dict[str, Any]:
    return LOOKS.get(style, LOOKS["print"])


def screen_width(smallest_px: float = 11.0, column_px: float = 328.0) -> float:
    """The width (inches) of a "screen" chart whose smallest text, scaled to a phone's
    column of ``column_px`` CSS pixels (360 px less the page's padding), is
    ``smallest_px`` high: text in points times the scale (px per pt) of the chart."""
    return round(column_px * LOOKS["screen"]["note"] / smallest_px / 72, 2)


def text_width(text: str, size_pt: float = 7.0) -> float:
    """A generous estimate of a label's width in inches (its longest line): CJK one em,
    the rest 0.6 em."""
    ems = max(sum(1.0 if ord(ch) > 0x2E80 else 0.6 for ch in line) for line in text.split("\n"))
    return ems * size_pt / 72


def _legend_cols(style: str, labels: Sequence[str], width_in: float) -> int:
    """Two legend entries side by side, or (when they would not fit) one above the
    other."""
    size = float(_look(style)["legend"])
    wide = sum(text_width(label, size) + 0.45 for label in labels)
    return 2 if wide <= width_in * 0.95 else 1


# --- writing SVG -----------------------------------------------------------------------------


def _n(x: float) -> str:
    """A number in the SVG: one decimal at most (a tenth of a point is finer than print)."""
    s = f"{x:.1f}"
    if s.endswith(".0"):
        s = s[:-2]
    return "0" if s == "-0" else s


class _Svg:
    """One chart's elements; :meth:`done` wraps them in ``<svg>``."""

    def __init__(self, width: float, height: float, look: dict[str, Any]) -> None:
        self.width, self.height, self.look = width, height, look
        self.bars: dict[str, list[str]] = {}
        self.body: list[str] = []

    def add(self, element: str) -> None:
        self.body.append(element)

    def text(
        self,
        x: float,
        y: float,
        words: str,
        *,
        size: float | None = None,
        anchor: str | None = None,
        fill: str | None = None,
        rotate: float | None = None,
    ) -> None:
        """``words`` centred vertically on ``y`` (several lines one under the other)."""
        size = size or self.look["font"]
        lines = words.split("\n")
        attrs = ""
        if size != self.look["font"]:
            attrs += f' font-size="{_n(size)}"'
        if anchor:
            attrs += f' text-anchor="{anchor}"'
        if fill:
            attrs += f' fill="{fill}"'
        for i, line in enumerate(lines):
            base = y + 0.35 * size + (i - (len(lines) - 1) / 2) * 1.15 * size
            spin = f' transform="rotate({_n(rotate)} {_n(x)} {_n(base)})"' if rotate else ""
            self.body.append(f'<text x="{_n(x)}" y="{_n(base)}"{attrs}{spin}>{escape(line)}</text>')

    def rect(self, x: float, y: float, w: float, h: float, attrs: str) -> None:
        """A bar: bars of the same look become one ``<path>`` (one element for WeasyPrint
        to draw, and for a hatched look one pattern, not one per bar)."""
        if w > 0 and h > 0:
            self.bars.setdefault(attrs, []).append(f"M{_n(x)} {_n(y)}h{_n(w)}v{_n(h)}h{_n(-w)}z")

    def path(self, d: str, attrs: str) -> None:
        if d:
            self.body.append(f'<path d="{d}" fill="none" {attrs}/>')

    @property
    def step(self) -> float:
        """The hatching's spacing along a bar."""
        return 3.0 if self.look is LOOKS["print"] else 3.5

    def done(self) -> str:
        look = self.look
        family = ", ".join(FONT + ["sans-serif"])
        # The pattern's id is the chart's own: several charts may share one HTML document
        # (a hash of the chart: the same chart, the same id).
        digest = hashlib.sha1(
            repr((self.width, self.height, look, self.bars, self.body)).encode(),
            usedforsecurity=False,
        )
        pid = "c" + digest.hexdigest()[:10] + "-hatch"
        parts = []
        edge = f'stroke="{look["parent"]}" stroke-width="{_LINE}"'
        hatch_pen = f'stroke="{look["hatch"]}" stroke-width="{look["hatch_width"]}"'
        for attrs, subpaths in self.bars.items():
            if attrs == HATCHED:
                attrs = f'fill="url(#{pid})" {edge}'
            parts.append(f'<path d="{"".join(subpaths)}" {attrs}/>')
        if HATCHED in self.bars:
            s, t = _n(self.step), self.step
            parts.insert(
                0,
                f'<defs><pattern id="{pid}" width="{s}" height="{s}"'
                f' patternUnits="userSpaceOnUse"><path d="M-1 1L1-1M0 {s}L{s} 0M{_n(t - 1)}'
                f' {_n(t + 1)}L{_n(t + 1)} {_n(t - 1)}" fill="none" {hatch_pen}/>'
                "</pattern></defs>",
            )
        return (
            f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {_n(self.width)}'
            f' {_n(self.height)}" font-family="{family}" font-size="{_n(look["font"])}"'
            f' fill="#000000">{"".join(parts)}{"".join(self.body)}</svg>'
        )


#: The look of a parent's (hatched) bar, for :meth:`_Svg.rect`.
HATCHED = "hatched"


class _Axes:
    """A plot area (``x0``-``x1`` by ``y0``-``y1``, SVG y down) and its data ranges."""

    def __init__(
        self,
        box: tuple[float, float, float, float],
        xlim: tuple[float, float],
        ylim: tuple[float, float],
    ) -> None:
        self.x0, self.y0, self.x1, self.y1 = box
        self.xlim, self.ylim = xlim, ylim

    def x(self, v: float) -> float:
        lo, hi = self.xlim
        return self.x0 + (v - lo) / (hi - lo) * (self.x1 - self.x0)

    def y(self, v: float) -> float:
        lo, hi = self.ylim
        return self.y1 - (v - lo) / (hi - lo) * (self.y1 - self.y0)


def _spines(svg: _Svg, ax: _Axes, xticks: Sequence[float], yticks: Sequence[float]) -> None:
    """The left and bottom axes and their ticks (outwards), one path."""
    d = f"M{_n(ax.x0)} {_n(ax.y0)}V{_n(ax.y1)}H{_n(ax.x1)}"
    d += "".join(f"M{_n(x)} {_n(ax.y1)}v{_n(_TICK)}" for x in xticks)
    d += "".join(f"M{_n(ax.x0)} {_n(y)}h{_n(-_TICK)}" for y in yticks)
    svg.path(d, f'stroke="{AXIS}" stroke-width="{_LINE}"')


def _xlabels(
    svg: _Svg, ax: _Axes, ticks: Sequence[tuple[float, str]], *, rotate: float = 0
) -> None:
    font = svg.look["font"]
    y = ax.y1 + _TICK + _PAD + font / 2
    for x, label in ticks:
        if rotate:
            svg.text(x + font * 0.3, y, label, anchor="end", rotate=-rotate)
        else:
            svg.text(x, y, label, anchor="middle")


def _ylabels(svg: _Svg, ax: _Axes, ticks: Sequence[tuple[float, str]], tick: float) -> None:
    for y, label in ticks:
        svg.text(ax.x0 - tick - _PAD, y, label, anchor="end")


def _nice_ticks(lo: float, hi: float, most: int = 6) -> list[float]:
    """Round values from ``lo`` to ``hi``: steps of 1, 2, 2.5 or 5 times a power of ten,
    at most ``most`` of them (as Matplotlib's default axis picks them)."""
    raw = (hi - lo) / max(most - 1, 1)
    mag = 10 ** math.floor(math.log10(raw)) if raw > 0 else 1.0
    step = next(m * mag for m in (1, 2, 2.5, 5, 10) if m * mag >= raw)
    first = math.ceil(lo / step - 1e-9) * step
    count = int(math.floor((hi - first) / step + 1e-9)) + 1
    return [round(first + i * step, 10) for i in range(count)]


def _num(v: float) -> str:
    """A tick's label: 40, 2.5."""
    return f"{v:g}"


def _legend(
    svg: _Svg,
    entries: Sequence[tuple[str, str]],
    *,
    top: float,
    cols: int,
) -> None:
    """Legend entries (label, bar attributes) centred in rows from ``top``: a swatch and
    its label, side by side when ``cols`` is 2."""
    size = svg.look["legend"]
    sw, sh, gap = 10.0, size * 0.75, 3.0
    widths = [sw + gap + text_width(label, size) * 72 for label, _attrs in entries]
    rows = [list(range(len(entries)))] if cols > 1 else [[i] for i in range(len(entries))]
    for r, members in enumerate(rows):
        total = sum(widths[i] for i in members) + 12.0 * (len(members) - 1)
        x = (svg.width - total) / 2 if cols > 1 else (svg.width - max(widths)) / 2
        cy = top + size * 0.7 + r * size * 1.6
        for i in members:
            label, attrs = entries[i]
            svg.rect(x, cy - sh / 2, sw, sh, attrs)
            svg.text(x + sw + gap, cy, label, size=size)
            x += widths[i] + 12.0


def _legend_height(look: dict[str, Any], cols: int) -> float:
    return look["legend"] * (1.6 if cols > 1 else 3.2) + 2.0


def _fit_x(width: float, left: float) -> float:
    """The left margin for the labels, at most 0.6 of the chart's width."""
    return min(0.6 * width, left)


# --- the charts ------------------------------------------------------------------------------


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
    font, note = look["font"], look["note"]
    width = width_in * 72
    row_h = 0.3 * k * 72
    cols = _legend_cols(style, [unit_label, parent_label or ""], width_in)
    left = _fit_x(width, (0.12 + max([text_width(r["label"], font) for r in rows] + [0.3])) * 72)
    top = 0.08 * 72
    plot_h = row_h * max(len(rows), 1) + 0.1 * k * 72
    axis_h = _TICK + _PAD + font * 1.3
    legend_h = _legend_height(look, cols) if parent_label else 0.0
    height = top + plot_h + axis_h + legend_h + 2.0
    svg = _Svg(width, height, look)
    ax = _Axes((left, top, width - 0.1 * 72, top + plot_h), (0, 108), (0, 1))
    bar = row_h * (0.38 if parent_label else 0.6)
    hatch = HATCHED
    unit_fill = f'fill="{look["unit"]}"'
    pad = 0.05 * k * 72
    whites: list[tuple[float, float, str]] = []
    for i, r in enumerate(rows):
        cy = top + pad + row_h * (i + 0.5)
        uy = cy - bar if parent_label else cy - bar / 2  # the unit's bar, above the parent's
        few = r["insufficient"] or r["mean"] is None
        if not few:
            svg.rect(ax.x0, uy, ax.x(r["mean"]) - ax.x0, bar, unit_fill)
        if parent_label and r["parent"] is not None:
            svg.rect(ax.x0, cy, ax.x(r["parent"]) - ax.x0, bar, hatch)
        if few:
            svg.text(ax.x(1), uy + bar / 2, _("n=%(n)s, too few", n=r["n"]), size=note, fill=DARK)
        else:
            figure = f"{r['mean']:.1f}"
            end = ax.x(r["mean"])
            if end - ax.x0 > text_width(figure, note) * 72 + 3:
                # inside the dark bar, in white: clear of the parent's bar below it
                whites.append((end - 1.5 * (ax.x1 - ax.x0) / 108, uy + bar / 2, figure))
            else:  # too short a bar: after its end
                svg.text(end + 1.5, uy + bar / 2, figure, size=note, fill=DARK)
        svg.text(ax.x0 - _PAD, cy, r["label"], anchor="end")
    for x, y, figure in whites:
        svg.text(x, y, figure, size=note, anchor="end", fill="#ffffff")
    if threshold is not None:
        tx = _n(ax.x(threshold))
        svg.path(f"M{tx} {_n(ax.y0)}V{_n(ax.y1)}", f'stroke="{DARK}" stroke-width="0.6" {_DASH}')
    ticks = [0, 20, 40, 60, 80, 100]
    _spines(svg, ax, [ax.x(t) for t in ticks], [])
    _xlabels(svg, ax, [(ax.x(t), _num(t)) for t in ticks])
    if parent_label:
        _legend(
            svg,
            [(unit_label, unit_fill), (parent_label, hatch)],
            top=ax.y1 + axis_h,
            cols=cols,
        )
    return svg.done()


def band_chart(
    bands: Sequence[dict[str, Any]],
    *,
    unit_label: str,
    parent_label: str | None,
    width_in: float = 3.5,
    style: str = "print",
) -> str:
    """The share of records in each grade band, the unit (dark) and the parent (hatched).

    ``bands``: dicts with label, count, share (0-100), parent_share (or None). The legend
    goes below the bars, where it covers none of them.
    """
    look = _look(style)
    k = look["font"] / 7.0
    font, note = look["font"], look["note"]
    width = width_in * 72
    cols = _legend_cols(style, [unit_label, parent_label or ""], width_in)
    top_m = 0.08 * 72
    axis_h = _TICK + _PAD + font * 1.3
    plot_h = 2.0 * k * 72 - top_m - 0.25 * k * 72
    legend_h = _legend_height(look, cols) if parent_label else 0.0
    height = top_m + plot_h + axis_h + legend_h + 2.0
    svg = _Svg(width, height, look)
    top = max([b["share"] for b in bands] + [b["parent_share"] or 0 for b in bands] + [10])
    count = max(len(bands), 1)
    ax = _Axes(
        (0.42 * k * 72, top_m, width - 0.1 * 72, top_m + plot_h),
        (-0.6, count - 0.4),
        (0, top * 1.15),
    )
    slot = ax.x(1) - ax.x(0)
    bar = slot * (0.38 if parent_label else 0.6)
    unit_fill = f'fill="{look["unit"]}"'
    hatch = HATCHED
    for i, b in enumerate(bands):
        ux = ax.x(i) - (bar if parent_label else bar / 2)
        svg.rect(ux, ax.y(b["share"]), bar, ax.y1 - ax.y(b["share"]), unit_fill)
        if parent_label:
            share = b["parent_share"] or 0
            svg.rect(ax.x(i), ax.y(share), bar, ax.y1 - ax.y(share), hatch)
        svg.text(
            ux + bar / 2,
            ax.y(b["share"] + top * 0.02) - note * 0.4,
            str(b["count"]),
            size=note,
            anchor="middle",
        )
    yticks = _nice_ticks(0, top * 1.15)
    _spines(svg, ax, [ax.x(i) for i in range(len(bands))], [ax.y(t) for t in yticks])
    _xlabels(svg, ax, [(ax.x(i), b["label"]) for i, b in enumerate(bands)])
    _ylabels(svg, ax, [(ax.y(t), _num(t)) for t in yticks], _TICK)
    svg.text(
        font * 0.8,
        (ax.y0 + ax.y1) / 2,
        _("Share of records, %"),
        anchor="middle",
        rotate=-90,
    )
    if parent_label:
        _legend(
            svg,
            [(unit_label, unit_fill), (parent_label, hatch)],
            top=ax.y1 + axis_h,
            cols=cols,
        )
    return svg.done()


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
    font, note = look["font"], look["note"]
    width = width_in * 72
    height = 2.0 * k * 72
    longest = max([text_width(str(p["term"]), font) for p in points] + [0.3]) * 72
    count = max(len(points), 1)
    right = width - 0.15 * k * 72
    # Term labels slope at 20 degrees, more steeply when the terms are too close for that:
    # two neighbours sloping at a are slot * sin(a) apart, and need a line of text. The
    # first term's label reaches left of its tick, and the margin keeps it whole; a wider
    # margin makes the slots narrower, so the two are settled together.
    left = 0.32 * k * 72
    angle = 20.0
    for _round in range(4):
        slot = (right - left) / count
        angle = max(angle, math.degrees(math.asin(min(1.0, 1.25 * font / slot))))
        reach = longest * math.cos(math.radians(angle)) + 2
        left = max(0.32 * k * 72, min(0.5 * width, reach - slot / 2))
    # Steeper only (a label reaching less far left than its margin allows):
    angle = max(angle, math.degrees(math.asin(min(1.0, 1.25 * font * count / (right - left)))))
    drop = longest * math.sin(math.radians(angle))  # the term labels below the axis
    bottom = height - (0.12 * k * 72 + drop + font * 1.2)
    values = [p["mean"] for p in points if p["mean"] is not None]
    low = min(values + [threshold or 100]) if values else 50
    ax = _Axes(
        (left, 0.08 * 72, right, bottom), (-0.5, max(count - 0.5, 0.5)), (max(0, low - 12), 100)
    )
    svg = _Svg(width, height, look)
    colour = look["unit"]
    if threshold is not None:
        ty = _n(ax.y(threshold))
        svg.path(f"M{_n(ax.x0)} {ty}H{_n(ax.x1)}", f'stroke="{MID}" stroke-width="0.6" {_DASH}')
    line, pen = "", "M"
    for i, p in enumerate(points):
        if p["mean"] is None:
            pen = "M"  # a gap in the line
            continue
        line += f"{pen}{_n(ax.x(i))} {_n(ax.y(p['mean']))}"
        pen = "L"
    svg.path(line, f'stroke="{colour}" stroke-width="1"')
    r = 2.0 * k
    for i, p in enumerate(points):
        x = ax.x(i)
        if p["mean"] is None:
            # No mean given: no records, or (pages that never place a figure of too few
            # records, not even as a hollow point) records too few to show.
            word = _("n=%(n)s, too few", n=p["n"]) if p.get("n") else _("no data")
            svg.text(
                x, ax.y(max(0, low - 10)) - note * 0.4, word, size=note, anchor="middle", fill=MID
            )
            continue
        y = ax.y(p["mean"])
        if p["insufficient"]:  # too few records: hollow, its figure not printed
            svg.add(
                f'<circle cx="{_n(x)}" cy="{_n(y)}" r="{_n(r)}" fill="#ffffff"'
                f' stroke="{colour}" stroke-width="{_n(0.8 * k)}"/>'
            )
            note_text = f"n={p['n']}"
        else:
            svg.add(f'<circle cx="{_n(x)}" cy="{_n(y)}" r="{_n(r)}" fill="{colour}"/>')
            note_text = f"{p['mean']:.1f}"
        svg.text(x, ax.y(p["mean"] + 2) - note * 0.4, note_text, size=note, anchor="middle")
    yticks = _nice_ticks(ax.ylim[0], 100)
    _spines(svg, ax, [ax.x(i) for i in range(len(points))], [ax.y(t) for t in yticks])
    _ylabels(svg, ax, [(ax.y(t), _num(t)) for t in yticks], _TICK)
    _xlabels(svg, ax, [(ax.x(i), str(p["term"])) for i, p in enumerate(points)], rotate=angle)
    return svg.done()


def coverage_chart(
    rows: Sequence[dict[str, Any]], *, width_in: float = 3.5, style: str = "print"
) -> str:
    """Shares observed (sections, teachers, tutor groups) as 0-100 % bars with x/y labels."""
    look = _look(style)
    k = look["font"] / 7.0
    font, note = look["font"], look["note"]
    width = width_in * 72
    row_h = 0.3 * k * 72
    left = _fit_x(width, (0.12 + max([text_width(r["label"], font) for r in rows] + [0.3])) * 72)
    top = 0.08 * 72
    plot_h = row_h * max(len(rows), 1) + 0.1 * k * 72
    axis_h = _TICK + _PAD + font * 1.3
    height = top + plot_h + axis_h + 2.0
    svg = _Svg(width, height, look)
    ax = _Axes((left, top, width - 0.1 * 72, top + plot_h), (0, 115 if k == 1 else 125), (0, 1))
    bar = row_h * 0.55
    full = ax.x(100) - ax.x0
    for i, r in enumerate(rows):
        cy = top + 0.05 * k * 72 + row_h * (i + 0.5)
        svg.rect(
            ax.x0,
            cy - bar / 2,
            full,
            bar,
            f'fill="none" stroke="{look["parent"]}" stroke-width="{_LINE}"',
        )
        share = r["share"] or 0
        svg.rect(ax.x0, cy - bar / 2, ax.x(share) - ax.x0, bar, f'fill="{look["unit"]}"')
        svg.text(ax.x(101), cy, f"{r['part']}/{r['whole']}", size=note)
        svg.text(ax.x0 - _PAD, cy, r["label"], anchor="end")
    ticks = [0, 25, 50, 75, 100]
    _spines(svg, ax, [ax.x(t) for t in ticks], [])
    _xlabels(svg, ax, [(ax.x(t), f"{t}%" if t == 100 else str(t)) for t in ticks])
    return svg.done()


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
    per site, not once per process. Drawing a chart costs about a millisecond now that
    it is written by hand (Matplotlib took 30-100 ms); the memo still spares the
    gettext and formatting, and the disk keeps a chart's bytes identical across
    processes.
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
    """The app's chart folder for this chart code (a new :data:`CHART_VERSION` draws anew,
    and the older folders are removed); None outside an app or when ``CHART_CACHE`` is
    off."""
    from flask import current_app, has_app_context

    if not has_app_context() or not current_app.config.get("CHART_CACHE", True):
        return None
    root = Path(current_app.instance_path) / "chart-cache"
    folder = root / f"v{CHART_VERSION}"
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
    """Draw one small chart in a process that forks others (a queue worker): the
    gettext catalogue for its words is loaded once, before the fork. Charts no longer
    need Matplotlib imported or its fonts found (they are written by hand), so this is
    cheap; it is kept so the worker's preload stays the one place that warms a fork."""
    band_chart(
        [{"label": "60", "count": 1, "share": 100.0, "parent_share": None}],
        unit_label="预热 warm-up",
        parent_label=None,
    )


def clear_memo() -> None:
    """Forget the charts remembered in this process (benchmarks: time every chart; the
    disk is left alone: ``CHART_CACHE = False`` for that)."""
    _MEMO.clear()
