"""English tokens: lower case, a stop-word list, and a light suffix stemmer.

No NLP library: observers' comments are short and the vocabulary of a theme is a
handful of words, so stripping plural and verb endings (and a final e) is enough
for "interacts", "interacted" and "interacting" to meet "interact".
"""

from __future__ import annotations

import re

WORD = re.compile(r"[A-Za-z]+(?:-[A-Za-z]+)*")

#: Function words: skipped when measuring how far a negation reaches.
_STOP = """a an the this that these those is are was were be been being am of in on at to for
    from by with as and or it its their there his her he she they them we our you your i
    me my some any all most much very too so also just during throughout today class
    lesson lecture student students teacher teachers one"""
STOP_WORDS = frozenset(_STOP.split())
_NEGATORS = """no not never nobody none nothing without neither nor didn't don't doesn't wasn't
    weren't isn't aren't hardly"""
NEGATORS = frozenset(_NEGATORS.split())


def stem(word: str) -> str:
    """A light stem: plural and -ed/-ing endings off, a doubled final consonant and a final e."""
    w = word.lower()
    if len(w) <= 3 or "-" in w:
        return w
    if w.endswith("ies") and len(w) > 4:
        w = w[:-3] + "y"
    elif w.endswith(("sses", "shes", "ches", "xes")):
        w = w[:-2]
    elif w.endswith("s") and not w.endswith(("ss", "us", "is")):
        w = w[:-1]
    for suffix in ("ing", "ed"):
        if w.endswith(suffix) and len(w) - len(suffix) >= 3:
            w = w[: -len(suffix)]
            if len(w) > 3 and w[-1] == w[-2] and w[-1] not in "lsz":
                w = w[:-1]
            break
    if w.endswith("e") and len(w) > 3:
        w = w[:-1]
    return w


def tokens(text: str) -> list[tuple[str, int, int]]:
    """(stem, start, end) of each word; "n't" stays on its word so negations survive."""
    out = []
    for m in re.finditer(r"[A-Za-z]+(?:'[A-Za-z]+)?(?:-[A-Za-z]+)*", text):
        word = m.group().lower()
        out.append((word if "'" in word else stem(word), m.start(), m.end()))
    return out
