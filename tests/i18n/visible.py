"""What a reader sees on a page, and which of it is in the wrong language.

A page in Chinese may show English only where the data is English (a teacher's
name, a course title the office typed) or for a few words every language keeps
(evalsys, CSV, PDF, Excel). :func:`foreign_words` finds the rest: strings the
templates or views still hard-code instead of taking from the catalogue.
"""

from __future__ import annotations

import re
from html.parser import HTMLParser

from sqlalchemy import String, Text, inspect, select
from sqlmodel import Session, SQLModel

#: Words the same in both languages (product and file-format names, units of measure).
KEEP = frozenset(
    [
        "evalsys",
        "CSV",
        "PDF",
        "Excel",
        "xlsx",
        "csv",
        "pdf",
        "API",
        "JSON",
        "ISO",
        "OpenAPI",
        "SD",
        "n",
        "N",
        "p95",
        "UTC",
        "html",
        "HTML",
        "SMTP",
        "TERM",
        "UNITCODE",
    ]
)
#: Attributes whose text a reader (or a screen reader) meets.
SHOWN_ATTRS = ("title", "aria-label", "placeholder", "alt", "data-label")
_SKIP = {"script", "style", "code", "kbd", "samp", "pre"}
_VOID = {
    "area",
    "base",
    "br",
    "col",
    "embed",
    "hr",
    "img",
    "input",
    "link",
    "meta",
    "source",
    "wbr",
}
ENGLISH = re.compile(r"[A-Za-z][A-Za-z'’]+")
CHINESE = re.compile(r"[\u3400-\u9fff]+")


class _Text(HTMLParser):
    """Visible text; skips code-like elements and any marked with its own ``lang``
    (the language switch names each language in that language, on purpose)."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self.stack: list[tuple[str, bool]] = []

    @property
    def skipping(self) -> bool:
        return any(skip for _, skip in self.stack)

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag == "html":
            return
        if tag not in _VOID:
            self.stack.append((tag, tag in _SKIP or "lang" in attrs))
        if self.skipping:
            return
        for name in SHOWN_ATTRS:
            if attrs.get(name):
                self.parts.append(attrs[name])
        if tag == "input" and attrs.get("type") in ("submit", "button") and attrs.get("value"):
            self.parts.append(attrs["value"])

    def handle_endtag(self, tag):
        for i in range(len(self.stack) - 1, -1, -1):
            if self.stack[i][0] == tag:
                del self.stack[i:]
                break

    def handle_data(self, data):
        if not self.skipping:
            self.parts.append(data)


def visible_text(page: str) -> str:
    parser = _Text()
    parser.feed(page)
    return " ".join(" ".join(parser.parts).split())


def data_words(session: Session) -> set[str]:
    """Every word stored in a text column: what a page may show in any language."""
    words: set[str] = set()
    for table in SQLModel.metadata.sorted_tables:
        # SQLModel's AutoString is a TypeDecorator over String, not a String subclass.
        columns = [
            c
            for c in table.columns
            if isinstance(c.type, (String, Text))
            or isinstance(getattr(c.type, "impl", None), (String, Text))
        ]
        if not columns or not inspect(session.get_bind()).has_table(table.name):
            continue
        for row in session.execute(select(*columns)):
            for value in row:
                if value:
                    words.update(ENGLISH.findall(str(value)))
                    words.update(CHINESE.findall(str(value)))
    return words


def foreign_words(page: str, locale: str, allowed: set[str]) -> list[str]:
    """Words on ``page`` in the other language that are neither data nor kept as they are.

    English is checked word by word; Chinese, written without spaces, run by run, and a
    run passes when it is part of a stored value.
    """
    text = visible_text(page)
    if locale == "zh":
        return sorted({w for w in ENGLISH.findall(text) if w not in allowed and w not in KEEP})
    stored = "\n".join(w for w in allowed if CHINESE.search(w))
    return sorted({run for run in CHINESE.findall(text) if run not in stored})
