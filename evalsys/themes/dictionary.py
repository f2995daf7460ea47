"""The shipped dictionary of teaching themes (themes.toml beside this module).

Kept as a data file, not code, so the quality office can extend it without reading
Python; read once per process.
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass
from functools import cache
from importlib import resources


@dataclass(frozen=True)
class Theme:
    key: str
    zh_label: str
    en_label: str
    #: The terms name something that should not happen: a negated mention does not count.
    fault: bool
    zh: tuple[str, ...]
    en: tuple[str, ...]

    def label(self, locale: str) -> str:
        return self.zh_label if locale.startswith("zh") else self.en_label


@cache
def themes() -> dict[str, Theme]:
    """Every theme by key, in the file's order."""
    raw = tomllib.loads(
        resources.files("evalsys.themes").joinpath("themes.toml").read_text("utf-8")
    )
    out: dict[str, Theme] = {}
    for t in raw["theme"]:
        if t["key"] in out:
            raise ValueError(f"themes.toml: theme {t['key']!r} twice")
        out[t["key"]] = Theme(
            key=t["key"],
            zh_label=t["zh_label"],
            en_label=t["en_label"],
            fault=bool(t.get("fault", False)),
            zh=tuple(t.get("zh", ())),
            en=tuple(t.get("en", ())),
        )
    return out
