"""Charts drawn once per site: remembered on disk in the instance folder by a hash of their
inputs, read back by another process (here: this one with its memo cleared), drawn anew
for other inputs, another language or a damaged file, and not kept when switched off."""

from __future__ import annotations

from pathlib import Path

import pytest

from evalsys.i18n import in_locale
from evalsys.reports import charts

pytestmark = pytest.mark.once("charts and files; no database is read")

ROWS = [
    {"label": "态度", "mean": 81.5, "parent": 78.0, "n": 12, "insufficient": False},
    {"label": "方法", "mean": 64.0, "parent": 70.5, "n": 12, "insufficient": False},
]


def _files(app) -> list[Path]:
    return sorted((Path(app.instance_path) / "chart-cache").rglob("*.svg"))


@pytest.fixture
def drawn(monkeypatch):
    """Counts drawings (the real function still draws)."""
    calls: list[str] = []
    real = charts.dimension_chart

    def counting(*args, **kwargs):
        calls.append("drawn")
        return real(*args, **kwargs)

    counting.__name__ = real.__name__
    monkeypatch.setattr(charts, "dimension_chart", counting)
    charts.clear_memo()
    yield calls
    charts.clear_memo()


def _cached(threshold: float = 70.0) -> str:
    return charts.cached(
        charts.dimension_chart,
        ROWS,
        unit_label="计算机学院",
        parent_label="示范大学",
        threshold=threshold,
    )


def test_a_chart_is_drawn_once_and_read_back_by_another_process(app, drawn):
    with app.app_context(), in_locale("zh"):
        first = _cached()
        assert drawn == ["drawn"] and len(_files(app)) == 1
        charts.clear_memo()  # as a fresh worker or web process would start
        again = _cached()
    assert again == first and drawn == ["drawn"]  # from the file, not drawn again
    assert first.startswith("<svg") and "计算机学院" in first


def test_other_inputs_or_language_draw_anew(app, drawn):
    with app.app_context():
        with in_locale("zh"):
            _cached()
            _cached(threshold=60.0)
        with in_locale("en"):
            _cached()
    assert len(drawn) == 3 and len(_files(app)) == 3


def test_a_damaged_file_is_drawn_again_and_replaced(app, drawn):
    with app.app_context(), in_locale("zh"):
        good = _cached()
        (path,) = _files(app)
        path.write_text(good[: len(good) // 2], encoding="utf-8")  # a write cut short
        charts.clear_memo()
        assert _cached() == good
        assert path.read_text(encoding="utf-8") == good
    assert len(drawn) == 2


def test_a_new_chart_version_starts_a_new_folder_and_drops_the_old(app, drawn, monkeypatch):
    with app.app_context(), in_locale("zh"):
        _cached()
        old = {p.parent for p in _files(app)}
        monkeypatch.setattr(charts, "CHART_VERSION", "test-next")
        charts.clear_memo()
        _cached()
        new = {p.parent for p in _files(app)}
    assert len(drawn) == 2 and old.isdisjoint(new) and not any(p.exists() for p in old)


def test_switched_off_nothing_is_kept(app, drawn):
    app.config["CHART_CACHE"] = False
    with app.app_context(), in_locale("zh"):
        _cached()
        charts.clear_memo()
        _cached()
    assert len(drawn) == 2 and _files(app) == []
