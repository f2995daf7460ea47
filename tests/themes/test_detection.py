"""Theme detection: its precision and recall on the labelled sample, and its rules.

The sample (labelled_comments.csv) was written and labelled by hand before the detector
was first run on it; docs/themes.md records what that run measured. The floors below
are those figures less a small margin: a change to the dictionary or the detector that
loses more fails here.
"""

from __future__ import annotations

import csv
from pathlib import Path

import pytest

from evalsys.themes.detect import excerpt, mentions, themes_in
from evalsys.themes.dictionary import themes

SAMPLE = Path(__file__).with_name("labelled_comments.csv")
#: Measured 2026-12-06 (docs/themes.md): zh P 0.961 R 0.818, en P 0.948 R 0.801.
FLOORS = {"zh": (0.94, 0.80), "en": (0.93, 0.78)}


def _scores() -> dict[str, tuple[float, float, int]]:
    counts: dict[str, list[int]] = {}
    n: dict[str, int] = {}
    with SAMPLE.open(encoding="utf-8", newline="") as f:
        for row in csv.DictReader(f):
            expected = {t for t in row["themes"].split("|") if t}
            got = themes_in(row["text"])
            c = counts.setdefault(row["language"], [0, 0, 0])
            c[0] += len(expected & got)
            c[1] += len(got - expected)
            c[2] += len(expected - got)
            n[row["language"]] = n.get(row["language"], 0) + 1
    return {
        lang: (tp / (tp + fp), tp / (tp + fn), n[lang]) for lang, (tp, fp, fn) in counts.items()
    }


@pytest.mark.once("reads a file and cuts words: no database")
def test_precision_and_recall_hold_on_the_labelled_sample():
    scores = _scores()
    assert sum(s[2] for s in scores.values()) >= 200
    for lang, (precision, recall, n) in scores.items():
        floor_p, floor_r = FLOORS[lang]
        assert n >= 100, lang
        assert precision >= floor_p, f"{lang}: precision {precision:.3f} < {floor_p}"
        assert recall >= floor_r, f"{lang}: recall {recall:.3f} < {floor_r}"


@pytest.mark.once("cuts words: no database")
@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("互动少", {"interaction"}),
        ("students barely interact", {"interaction"}),
        ("没有迟到", set()),
        ("无学生迟到早退", set()),
        ("no late arrivals", set()),
        ("Nobody was late, but two students were on their phones.", {"phones"}),
        ("没有互动", {"interaction"}),  # the lack of it is the problem: not a fault theme
        ("学生上课玩手机，课堂纪律差", {"phones", "discipline"}),
        ("念PPT", {"reading_script", "slides"}),
        ("The latest version was shown.", set()),
        ("", set()),
    ],
)
def test_rules(text, expected):
    assert themes_in(text) == expected


@pytest.mark.once("reads the packaged dictionary: no database")
def test_every_theme_has_both_languages_and_a_short_quote():
    for theme in themes().values():
        assert theme.zh and theme.en and theme.zh_label and theme.en_label
    text = "前面讲得很好，内容充实，例子恰当，但是后半段师生互动明显偏少，基本是老师一个人在讲"
    m = mentions(text)[-1]
    quote = excerpt(text, m)
    assert "互动" in quote and len(quote) < len(text) and quote.startswith("…")
