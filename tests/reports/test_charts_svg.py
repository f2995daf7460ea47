"""The report's charts as hand-written SVG: read back as XML and measured, not compared with
a stored copy. A bar's length follows its value on the chart's own axis (the tick "100"
is where a bar of 100 ends), the parent's bars are hatched with a pattern of the same
chart, the threshold line is at the threshold, too few records draw words and no bar,
labels are escaped, ids do not meet across charts, print is grey and screen in colour."""

from __future__ import annotations

import math
import re
import subprocess
import sys
import xml.etree.ElementTree as ET

import pytest

from evalsys.reports import charts

NS = "{http://www.w3.org/2000/svg}"
HOSTILE = "<b>&"


def _rows(*means, parent=None, few=()):
    return [
        {
            "label": f"D{i}",
            "mean": None if i in few else m,
            "parent": parent[i] if parent else None,
            "n": 2 if i in few else 9,
            "insufficient": i in few,
        }
        for i, m in enumerate(means)
    ]


def _bands(*shares, parent=None):
    return [
        {
            "label": f"B{i}",
            "count": 101 + i,
            "share": float(s),
            "parent_share": parent[i] if parent else None,
        }
        for i, s in enumerate(shares)
    ]


TREND = [
    {"term": "2025-2026-1", "mean": 81.0, "n": 30, "insufficient": False},
    {"term": "2025-2026-2", "mean": 70.0, "n": 3, "insufficient": True},
    {"term": "2026-2027-1", "mean": None, "n": 0, "insufficient": True},
    {"term": "2026-2027-2", "mean": 76.0, "n": 25, "insufficient": False},
]
COVERAGE = [
    {"label": "Sections", "share": 50.0, "part": 9, "whole": 18},
    {"label": "Teachers", "share": 100.0, "part": 4, "whole": 4},
]


def _all(style: str) -> list[str]:
    """Each of the four charts, with a parent where it has one."""
    return [
        charts.dimension_chart(
            _rows(80.0, 60.0, 50.0, parent=[70.0, 65.0, 60.0], few=(2,)),
            unit_label="U",
            parent_label="P",
            threshold=70.0,
            style=style,
        ),
        charts.band_chart(
            _bands(10, 40, 50, parent=[20.0, 30.0, 50.0]),
            unit_label="U",
            parent_label="P",
            style=style,
        ),
        charts.trend_chart(TREND, unit_label="U", threshold=70.0, style=style),
        charts.coverage_chart(COVERAGE, style=style),
    ]


def _xml(svg: str) -> ET.Element:
    assert svg.startswith("<svg") and svg.endswith("</svg>")
    root = ET.fromstring(svg)
    assert root.tag == NS + "svg" and "width" not in root.attrib
    assert len(root.get("viewBox", "").split()) == 4
    return root


def _boxes(root: ET.Element, fill: str) -> list[tuple[float, float, float, float]]:
    """(x, y, width, height) of every bar filled with ``fill``: ``<rect>`` elements or the
    rectangles of a ``<path>`` (``M x y h w v h h -w z``)."""
    found = []
    for el in root.iter():
        if el.get("fill") != fill:
            continue
        if el.tag == NS + "rect":
            found.append(tuple(float(el.get(a)) for a in ("x", "y", "width", "height")))
        elif el.tag == NS + "path":
            for m in re.finditer(
                r"M([-\d.]+)[ ,]([-\d.]+)h([-\d.]+)v([-\d.]+)h[-\d.]+z", el.get("d", "")
            ):
                found.append(tuple(float(v) for v in m.groups()))
    return found


def _texts(root: ET.Element) -> dict[str, ET.Element]:
    return {el.text or "": el for el in root.iter(NS + "text")}


def _axis_x(root: ET.Element, value: str) -> float:
    """The x of the tick labelled ``value`` (centred on its tick)."""
    el = _texts(root)[value]
    assert el.get("text-anchor") == "middle"
    return float(el.get("x"))


@pytest.mark.parametrize("style", ["print", "screen"])
def test_every_chart_is_well_formed_svg_with_text_as_text(style):
    for svg in _all(style):
        root = _xml(svg)
        assert list(root.iter(NS + "text")), "labels are text"
        assert not list(root.iter(NS + "image")) and "<script" not in svg


def test_a_bar_is_as_long_as_its_value_on_the_charts_axis():
    root = _xml(
        charts.dimension_chart(
            _rows(80.0, 40.0, 100.0), unit_label="U", parent_label=None, threshold=None
        )
    )
    bars = sorted(_boxes(root, charts.DARK), key=lambda b: b[1])  # top to bottom
    assert len(bars) == 3
    (x80, _, w80, _), (x40, _, w40, _), (_, _, w100, _) = bars
    assert x80 == x40 and w80 == pytest.approx(2 * w40, abs=0.15)
    # The axis: a bar of 100 ends at the tick labelled "100", a bar starts at "0".
    assert x80 == pytest.approx(_axis_x(root, "0"), abs=0.1)
    assert x80 + w100 == pytest.approx(_axis_x(root, "100"), abs=0.15)
    assert x80 + w80 == pytest.approx(_axis_x(root, "80"), abs=0.15)


def test_the_parents_bars_are_hatched_with_a_pattern_of_the_same_chart():
    svg = charts.dimension_chart(
        _rows(80.0, 60.0, parent=[70.0, 35.0]),
        unit_label="U",
        parent_label="P",
        threshold=None,
    )
    root = _xml(svg)
    patterns = {p.get("id") for p in root.iter(NS + "pattern")}
    hatched = [
        el for el in root.iter() if (el.get("fill") or "").startswith("url(#") and el.get("d")
    ]
    assert hatched and patterns
    for el in hatched:
        assert el.get("fill")[5:-1] in patterns
    # The two parent bars (and the legend's swatch, below the axis) are in that fill.
    bars = [b for b in _boxes(root, hatched[0].get("fill")) if b[2] > 12]
    assert sorted(round(b[2] / bars[0][2], 2) for b in bars) == [0.5, 1.0]
    # Each parent bar sits under its unit's bar, and the legend names both.
    units = sorted((b for b in _boxes(root, charts.DARK) if b[2] > 12), key=lambda b: b[1])
    assert all(u[1] < p[1] for u, p in zip(units, sorted(bars, key=lambda b: b[1]), strict=True))
    assert {"U", "P"} <= set(_texts(root))


def test_the_threshold_line_is_at_the_threshold():
    root = _xml(
        charts.dimension_chart(_rows(90.0), unit_label="U", parent_label=None, threshold=60.0)
    )
    dashed = [p for p in root.iter(NS + "path") if p.get("stroke-dasharray")]
    assert len(dashed) == 1
    x = float(re.match(r"M([\d.]+)", dashed[0].get("d"))[1])
    x0, x100 = _axis_x(root, "0"), _axis_x(root, "100")
    assert x == pytest.approx(x0 + 0.6 * (x100 - x0), abs=0.15)
    assert x == pytest.approx(_axis_x(root, "60"), abs=0.15)
    # The trend's threshold is horizontal, at 70 between its ticks 60 and 80.
    root = _xml(charts.trend_chart(TREND, unit_label="U", threshold=70.0))
    (line,) = [p for p in root.iter(NS + "path") if p.get("stroke-dasharray")]
    y = float(re.match(r"M[\d.]+ ([\d.]+)", line.get("d"))[1])
    ys = {t.text: float(t.get("y")) for t in root.iter(NS + "text")}
    assert ys["80"] < y < ys["60"]
    assert y == pytest.approx(ys["70"] - 0.35 * charts.LOOKS["print"]["font"], abs=0.2)


def test_too_few_records_draw_words_and_no_bar():
    root = _xml(
        charts.dimension_chart(
            _rows(80.0, 70.0, few=(1,)), unit_label="U", parent_label=None, threshold=None
        )
    )
    assert len(_boxes(root, charts.DARK)) == 1
    texts = _texts(root)
    assert "n=2, too few" in texts and "80.0" in texts and "70.0" not in texts
    # The trend: the point of too few records hollow and labelled n=, not with its mean.
    root = _xml(charts.trend_chart(TREND, unit_label="U", threshold=None))
    circles = list(root.iter(NS + "circle"))
    assert len(circles) == 3  # the term without a mean has no point
    assert [c.get("fill") for c in circles].count("#ffffff") == 1
    texts = _texts(root)
    assert "n=3" in texts and "70.0" not in texts and "81.0" in texts
    assert "no data" in texts


def test_band_bars_follow_their_share_and_carry_their_count():
    root = _xml(charts.band_chart(_bands(20, 40), unit_label="U", parent_label=None))
    (a, b) = sorted(_boxes(root, charts.DARK), key=lambda r: r[0])
    assert a[1] + a[3] == pytest.approx(b[1] + b[3], abs=0.1)  # one baseline
    assert b[3] == pytest.approx(2 * a[3], abs=0.15)
    texts = _texts(root)
    assert float(texts["102"].get("y")) < b[1]  # the count above its bar
    assert "Share of records, %" in texts


def test_coverage_bars_fill_their_share_of_the_whole():
    root = _xml(charts.coverage_chart(COVERAGE))
    filled = sorted(_boxes(root, charts.DARK), key=lambda r: r[1])
    whole = [el for el in root.iter(NS + "path") if el.get("fill") == "none" and "z" in el.get("d")]
    outline = re.findall(r"h([\d.]+)v", whole[0].get("d"))
    assert filled[0][2] == pytest.approx(0.5 * float(outline[0]), abs=0.15)
    assert filled[1][2] == pytest.approx(float(outline[1]), abs=0.1)
    assert {"9/18", "4/4", "100%"} <= set(_texts(root))


def test_labels_are_escaped():
    svgs = [
        charts.dimension_chart(
            [{"label": HOSTILE, "mean": 80.0, "parent": 70.0, "n": 9, "insufficient": False}],
            unit_label=HOSTILE + "u",
            parent_label=HOSTILE + "p",
            threshold=None,
        ),
        charts.band_chart(
            [{"label": HOSTILE, "count": 1, "share": 100.0, "parent_share": 50.0}],
            unit_label=HOSTILE + "u",
            parent_label=HOSTILE + "p",
        ),
        charts.trend_chart(
            [{"term": HOSTILE, "mean": 80.0, "n": 9, "insufficient": False}],
            unit_label=HOSTILE,
            threshold=None,
        ),
        charts.coverage_chart(
            [{"label": HOSTILE, "share": 50.0, "part": 1, "whole": 2}], style="screen"
        ),
    ]
    for svg in svgs:
        assert "<b>" not in svg and "&lt;b&gt;&amp;" in svg
        assert HOSTILE in _texts(_xml(svg))  # read back as the label itself


def test_two_charts_in_one_document_share_no_id():
    svgs = [
        *_all("print"),
        *_all("screen"),
        charts.dimension_chart(
            _rows(81.0, parent=[70.0]), unit_label="V", parent_label="P", threshold=None
        ),
    ]
    seen: set[str] = set()
    for svg in svgs:
        root = _xml(svg)
        ids = [el.get("id") for el in root.iter() if el.get("id")]
        assert not seen & set(ids), "an id met another chart's"
        seen |= set(ids)
        refs = set(re.findall(r"url\(#([^)]+)\)", svg))
        assert refs <= set(ids), "each chart refers only to its own ids"
    assert len(seen) >= 3  # the charts with a parent have a pattern each
    # The same chart twice is the same text (the memo and the disk cache rely on it).
    assert _all("print") == _all("print")


def _colours(svg: str) -> set[str]:
    return {c.lower() for c in re.findall(r'(?:fill|stroke)="(#[0-9a-fA-F]{6})"', svg)} | {
        c for c in re.findall(r'(?:fill|stroke)="([a-z]+)"', svg) if c not in ("none",)
    }


def test_print_is_grey_and_screen_is_in_its_colours():
    for svg in _all("print"):
        colours = _colours(svg)
        assert colours and all(c.startswith("#") and c[1:3] == c[3:5] == c[5:7] for c in colours), (
            colours
        )
    screen = charts.LOOKS["screen"]
    dims, bands, trend, coverage = _all("screen")
    for svg in (dims, bands):
        colours = _colours(svg)
        assert screen["unit"] in colours and screen["parent"] in colours
    assert screen["unit"] in _colours(trend) and screen["unit"] in _colours(coverage)
    # The screen's text is larger: its font size on the root element.
    assert float(_xml(dims).get("font-size")) > float(_xml(_all("print")[0]).get("font-size"))


def _fits(root: ET.Element) -> None:
    """No label reaches out of the viewBox (label widths by the charts' own generous
    estimate: CJK one em, the rest 0.6 em)."""
    _, _, width, height = (float(v) for v in root.get("viewBox").split())
    base = float(root.get("font-size"))
    for t in root.iter(NS + "text"):
        size = float(t.get("font-size") or base)
        w = charts.text_width(t.text or "", size) * 72
        x, y = float(t.get("x")), float(t.get("y"))
        anchor = t.get("text-anchor") or "start"
        left = {"start": x, "middle": x - w / 2, "end": x - w}[anchor]
        spin = re.match(r"rotate\(([-\d.]+)", t.get("transform") or "")
        if spin and anchor == "end":  # a rotated term label reaches down-left
            angle = math.radians(-float(spin[1]))
            left = x - w * math.cos(angle)
            assert y + w * math.sin(angle) <= height + 0.5, t.text
        elif spin:  # the vertical axis title
            continue
        assert left >= -0.5 and (left + w if anchor != "end" else x) <= width + 0.5, t.text
        assert 0 <= y <= height + 0.5, t.text


@pytest.mark.parametrize("style", ["print", "screen"])
def test_long_chinese_labels_are_not_cut(style):
    unit, parent = "第12学院 软件工程系", "第12学院 计算机科学与技术学院"
    width = charts.screen_width() if style == "screen" else 3.5
    rows = [
        {"label": "培养方案契合度高", "mean": 80.0, "parent": 70.0, "n": 9, "insufficient": False},
        {"label": "学业负担", "mean": None, "parent": 75.0, "n": 1, "insufficient": True},
    ]
    dims = _xml(
        charts.dimension_chart(
            rows, unit_label=unit, parent_label=parent, threshold=70.0, width_in=width, style=style
        )
    )
    _fits(dims)
    bands = _xml(
        charts.band_chart(
            _bands(10, 40, 50, parent=[20.0, 30.0, 50.0]),
            unit_label=unit,
            parent_label=parent,
            width_in=width,
            style=style,
        )
    )
    _fits(bands)
    trend = [dict(p, term=f"2026-2027学年第{i}学期") for i, p in enumerate(TREND * 2)]
    terms = _xml(
        charts.trend_chart(trend, unit_label=unit, threshold=70.0, width_in=width, style=style)
    )
    _fits(terms)
    # Sloping term labels of neighbours stay a line of text apart.
    sloped = [t for t in terms.iter(NS + "text") if t.get("transform")]
    assert len(sloped) == len(trend)
    angle = math.radians(-float(re.match(r"rotate\(([-\d.]+)", sloped[0].get("transform"))[1]))
    slot = float(sloped[1].get("x")) - float(sloped[0].get("x"))
    assert slot * math.sin(angle) >= float(terms.get("font-size"))
    cover = [dict(r, label="教师被督导听课覆盖率") for r in COVERAGE]
    _fits(_xml(charts.coverage_chart(cover, width_in=width, style=style)))
    # The two legend entries do not overlap: side by side with room, or one above the other.
    for root in (dims, bands):
        t = _texts(root)
        a, b = t[unit], t[parent]
        size = float(a.get("font-size"))
        if a.get("y") == b.get("y"):
            assert float(a.get("x")) + charts.text_width(unit, size) * 72 < float(b.get("x"))
        else:
            assert abs(float(a.get("y")) - float(b.get("y"))) >= size


def test_drawing_imports_no_matplotlib():
    code = (
        "import sys; from evalsys.reports import charts; "
        "charts.warm_up(); charts.dimension_chart([], unit_label='U', parent_label=None,"
        " threshold=None); assert 'matplotlib' not in sys.modules, 'matplotlib imported'"
    )
    subprocess.run([sys.executable, "-c", code], check=True)
