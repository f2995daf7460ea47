"""Which themes a comment speaks of, and where: jieba for Chinese, english.py for English.

A comment with Chinese characters is cut by jieba with the dictionary's Chinese terms
added as words (so 课堂纪律 or 抬头率 stays one token); its Latin words (PPT) are
matched as English too. A mention of a fault theme (迟到, phones) preceded in the
same clause by a negation (没有, 无, no, nobody, ...) says the fault did not happen,
and is dropped. jieba's dictionary takes about a second to load: it is loaded once
per process, at the first Chinese comment.
"""

from __future__ import annotations

import logging
import re
import threading
import warnings
from dataclasses import dataclass
from functools import cache, lru_cache
from typing import Any

from evalsys.themes import english
from evalsys.themes.dictionary import themes

CJK = re.compile(r"[\u3400-\u9fff]")
CLAUSE_BREAK = re.compile(r"[,.;:!?，。；：！？、\n]|\bbut\b|但|但是|却")
#: Chinese negations that may stand up to two words before the term (没有学生迟到).
ZH_NEGATORS = frozenset(
    ["没有", "没", "无", "不", "未", "并未", "并无", "未见", "杜绝", "没人", "无人"]
)
ZH_WINDOW = 3
EN_WINDOW = 3

_lock = threading.Lock()


@dataclass(frozen=True)
class Mention:
    theme: str
    start: int
    end: int


@cache
def _zh_terms() -> dict[str, str]:
    return {term.lower(): t.key for t in themes().values() for term in t.zh}


@cache
def _en_terms() -> dict[tuple[str, ...], str]:
    out: dict[tuple[str, ...], str] = {}
    for t in themes().values():
        for term in t.en:
            out[tuple(english.stem(w) for w in english.WORD.findall(term))] = t.key
    return out


@cache
def _tokenizer() -> Any:
    """jieba's tokenizer with the themes' words, built once (about a second)."""
    with warnings.catch_warnings():
        # jieba 0.42 imports pkg_resources when present, which newer setuptools deprecates.
        warnings.simplefilter("ignore", DeprecationWarning)
        import jieba  # type: ignore[import-untyped]  # jieba ships no types

    logging.getLogger("jieba").setLevel(logging.WARNING)
    tk = jieba.Tokenizer()
    with _lock:
        tk.initialize()
        # As written and in lower case: jieba's dictionary is case-sensitive (念PPT, 念ppt).
        for term in {w for t in themes().values() for w in t.zh} | set(_zh_terms()):
            tk.add_word(term, freq=200000)
    return tk


def warm_up() -> None:
    """Load jieba's dictionary now, in a process that forks others (a queue worker): each
    fork inherits it instead of paying its second again for every report."""
    _tokenizer()
    _en_terms()


def _zh_mentions(text: str) -> list[Mention]:
    terms = _zh_terms()
    out = []
    window: list[str] = []
    for word, start, end in _tokenizer().tokenize(text):
        if CLAUSE_BREAK.fullmatch(word) or word.strip() == "":
            window = []
            continue
        key = terms.get(word.lower())
        if key is not None and not (themes()[key].fault and set(window[-ZH_WINDOW:]) & ZH_NEGATORS):
            out.append(Mention(key, start, end))
        window.append(word)
    return out


def _en_mentions(text: str) -> list[Mention]:
    terms = _en_terms()
    longest = max((len(k) for k in terms), default=1)
    toks = english.tokens(text)
    out = []
    clause_start = 0
    i = 0
    while i < len(toks):
        if i and CLAUSE_BREAK.search(text[toks[i - 1][2] : toks[i][1]]):
            clause_start = i
        for size in range(min(longest, len(toks) - i), 0, -1):
            key = terms.get(tuple(t[0] for t in toks[i : i + size]))
            if key is None:
                continue
            before = [t[0] for t in toks[clause_start:i] if t[0] not in english.STOP_WORDS]
            negated = any(w in english.NEGATORS for w in before[-EN_WINDOW:])
            if not (themes()[key].fault and negated):
                out.append(Mention(key, toks[i][1], toks[i + size - 1][2]))
            i += size - 1
            break
        i += 1
    return out


def mentions(text: str | None) -> list[Mention]:
    """Every theme mention in ``text``, in order of position."""
    if not text or not text.strip():
        return []
    return list(_cached_mentions(text))


@lru_cache(maxsize=20000)
def _cached_mentions(text: str) -> tuple[Mention, ...]:
    """Kept per process: a unit page asks again for the same texts at every view (about
    0.05 ms a short comment, so a school of 20,000 texts is a second the first time)."""
    found = []
    if CJK.search(text):
        found += _zh_mentions(text)
        # Latin words inside Chinese text (PPT, Python): matched as English too.
        latin = CJK.sub("。", text)
        seen = {(m.start, m.end) for m in found}
        found += [m for m in _en_mentions(latin) if (m.start, m.end) not in seen]
    else:
        found += _en_mentions(text)
    return tuple(sorted(found, key=lambda m: m.start))


def themes_in(text: str | None) -> set[str]:
    """The keys of the themes ``text`` speaks of."""
    return {m.theme for m in mentions(text)}


def excerpt(text: str, mention: Mention, width: int | None = None) -> str:
    """A short quote around the mention, cut at clause ends where it can be."""
    span = width if width is not None else (14 if CJK.search(text) else 50)
    lo = max(0, mention.start - span)
    hi = min(len(text), mention.end + span)
    quote = " ".join(text[lo:hi].split())
    return ("…" if lo > 0 else "") + quote + ("…" if hi < len(text) else "")
