"""The gettext catalogues: English source strings, Chinese translations in ``.po`` files.

``.mo`` files are generated, never committed: ``.ci/setup`` compiles them, and
:func:`ensure_compiled` recompiles at start-up when a ``.po`` is newer (a developer
who edited a translation sees it on the next run, without a step to remember).
Every ``.po`` file in a language's folder goes into its one ``messages.mo``.
"""

from __future__ import annotations

import logging
import os
from datetime import UTC, datetime
from pathlib import Path

from babel.messages.catalog import Catalog
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po

TRANSLATIONS = Path(__file__).resolve().parent.parent / "translations"


def po_files(locale: str) -> list[Path]:
    return sorted((TRANSLATIONS / locale / "LC_MESSAGES").glob("*.po"))


def read_catalog(locale: str) -> Catalog:
    """All of a language's ``.po`` files as one catalogue (the first translation wins)."""
    merged = Catalog(locale=locale)
    for path in po_files(locale):
        with path.open("rb") as handle:
            part = read_po(handle, locale=locale)
        for message in part:
            if message.id and message.id not in merged:
                merged[message.id] = message
    return merged


def compile_locale(locale: str) -> Path:
    target = TRANSLATIONS / locale / "LC_MESSAGES" / "messages.mo"
    catalog = read_catalog(locale)
    # One temporary name per process: gunicorn workers may all compile at start-up.
    tmp = target.with_suffix(f".mo.{os.getpid()}.tmp")
    with tmp.open("wb") as handle:
        write_mo(handle, catalog, use_fuzzy=False)
    tmp.replace(target)
    return target


def stale_locales() -> list[str]:
    stale = []
    for folder in sorted(p for p in TRANSLATIONS.iterdir() if p.is_dir()):
        sources = po_files(folder.name)
        if not sources:
            continue
        mo = folder / "LC_MESSAGES" / "messages.mo"
        newest = max(p.stat().st_mtime for p in sources)
        if not mo.exists() or mo.stat().st_mtime < newest:
            stale.append(folder.name)
    return stale


def ensure_compiled(log: logging.Logger | None = None) -> None:
    """Compile any language whose ``.mo`` is missing or older than its ``.po`` files."""
    for locale in stale_locales():
        try:
            compile_locale(locale)
        except OSError as err:  # a read-only install: serve what was compiled at setup
            if log is not None:
                log.warning("evalsys: could not compile the %s catalogue: %s", locale, err)


ROOT = TRANSLATIONS.parent.parent
MAPPING = Path(__file__).resolve().parent / "babel.cfg"


def extract() -> Catalog:
    """Every translatable string in the code and templates, with where it was found."""
    from babel.messages.extract import extract_from_dir
    from babel.messages.frontend import parse_mapping_cfg

    with MAPPING.open() as handle:
        method_map, options_map = parse_mapping_cfg(handle)
    keywords = {
        "_": None,
        "gettext": None,
        "ngettext": (1, 2),
        "lazy_gettext": None,
        "_l": None,
        "lazy_ngettext": (1, 2),
        "_n": (1, 2),
    }
    skip = {".git", ".venv", "node_modules", "tests", "bench", "migrations", "instance"}

    def wanted(path: str) -> bool:
        return Path(path).name not in skip and not Path(path).name.startswith(".")

    template = Catalog()
    for filename, lineno, message, comments, context in extract_from_dir(
        str(ROOT), method_map, options_map, keywords=keywords, directory_filter=wanted
    ):
        template.add(
            message, locations=[(filename, lineno)], auto_comments=comments, context=context
        )
    return template


def missing(locale: str = "zh") -> list:
    """Strings in the source that ``locale`` has no (non-fuzzy, complete) translation for."""
    catalog = read_catalog(locale)
    gaps = []
    for message in extract():
        if not message.id:
            continue
        found = catalog.get(message.id, context=message.context)
        strings = (
            found.string
            if found is not None and isinstance(found.string, (list, tuple))
            else [found.string if found is not None else ""]
        )
        if found is None or found.fuzzy or not all(strings):
            gaps.append(message)
    return gaps


def unused(locale: str = "zh") -> list[str]:
    """Translations no string in the source asks for any more (keep the catalogue honest)."""
    wanted = {m.id if isinstance(m.id, str) else m.id[0] for m in extract() if m.id}
    return [
        m.id if isinstance(m.id, str) else m.id[0]
        for m in read_catalog(locale)
        if m.id and (m.id if isinstance(m.id, str) else m.id[0]) not in wanted
    ]


def update(locale: str = "zh") -> tuple[int, int]:
    """Bring ``messages.po`` in step with the source: new strings (untranslated) in, gone ones out.

    Translations from every ``.po`` of the language are kept (and folded into
    ``messages.po``). Returns (strings added, strings removed).
    """
    from babel.messages.pofile import write_po

    known = read_catalog(locale)
    source = extract()
    result = new_catalog(locale)
    added = 0
    for message in source:
        if not message.id:
            continue
        previous = known.get(message.id, context=message.context)
        result.add(
            message.id,
            string=previous.string if previous is not None else "",
            locations=message.locations,
            context=message.context,
            flags=previous.flags if previous is not None else (),
        )
        added += previous is None
    removed = sum(1 for m in known if m.id and m.id not in result)
    folder = TRANSLATIONS / locale / "LC_MESSAGES"
    folder.mkdir(parents=True, exist_ok=True)
    for part in po_files(locale):
        if part.name != "messages.po":
            part.unlink()
    with (folder / "messages.po").open("wb") as handle:
        write_po(handle, result, width=96, include_lineno=False)
    return added, removed


def new_catalog(locale: str) -> Catalog:
    # Fixed header fields: a catalogue that did not change writes the same bytes.
    return Catalog(
        locale=locale,
        project="evalsys",
        version="",
        copyright_holder="the evalsys authors",
        msgid_bugs_address="",
        last_translator="the evalsys authors",
        language_team="",
        creation_date=datetime(2026, 12, 1, tzinfo=UTC),
        revision_date=datetime(2026, 12, 1, tzinfo=UTC),
        fuzzy=False,
    )


def write_missing(handle, locale: str = "zh") -> int:
    """The missing strings as a ``.po`` with empty translations, to fill in beside messages.po."""
    from babel.messages.pofile import write_po

    part = new_catalog(locale)
    for message in missing(locale):
        part.add(message.id, string="", locations=message.locations, context=message.context)
    write_po(handle, part, width=96, include_lineno=False)
    return len(part)
