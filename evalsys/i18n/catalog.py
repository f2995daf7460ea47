"""The gettext catalogues: English source strings, Chinese translations in ``.po`` files.

``.mo`` files are generated, never committed nor shipped in the wheel:
:func:`ensure_compiled` compiles a language at start-up when its ``.mo`` is missing
or was compiled from other ``.po`` content (a developer who edited a translation sees
it on the next run, an upgraded site gets its new catalogue, without a step to
remember). Each ``.mo`` names the SHA-256 of the ``.po`` files it came from in its
header (``Project-Id-Version``): file times are not trusted, since pip writes every
file of a wheel with the time of the install and other installers keep older ones.

Where the ``.mo`` files go: in a checkout, beside the ``.po`` (``evalsys translations
compile`` and .ci/setup write them there too); in an installed wheel, into
``INSTANCE/translations``, leaving site-packages as pip wrote it (a read-only install
works, ``pip uninstall`` leaves nothing behind). A checkout that cannot be written
falls back to the instance folder as well. Every ``.po`` file in a language's folder
goes into its one ``messages.mo``.

Extracting strings from the source (``evalsys translations check|update|missing`` and
tests/i18n) is a developer's tool: it reads the checkout and refuses to run without one.
"""

from __future__ import annotations

import hashlib
import logging
import os
import struct
from datetime import UTC, datetime
from pathlib import Path

from babel.messages.catalog import Catalog
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po

from evalsys import FROM_CHECKOUT, ROOT

#: The ``.po`` sources, inside the package (so in the wheel too).
TRANSLATIONS = Path(__file__).resolve().parent.parent / "translations"
#: The header line of a ``.mo`` that says which ``.po`` content it was compiled from.
STAMP = "evalsys po-sha256 "


class CatalogError(Exception):
    """A catalogue task that cannot run here (extraction outside a checkout)."""


def po_files(locale: str) -> list[Path]:
    return sorted((TRANSLATIONS / locale / "LC_MESSAGES").glob("*.po"))


def locales() -> list[str]:
    """The languages that have a ``.po`` file."""
    return [p.name for p in sorted(TRANSLATIONS.iterdir()) if p.is_dir() and po_files(p.name)]


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


def source_hash(locale: str) -> str:
    digest = hashlib.sha256()
    for path in po_files(locale):
        digest.update(path.name.encode() + b"\0" + path.read_bytes() + b"\0")
    return digest.hexdigest()


def mo_path(locale: str, folder: Path | None = None) -> Path:
    return (folder or TRANSLATIONS) / locale / "LC_MESSAGES" / "messages.mo"


def compile_locale(locale: str, folder: Path | None = None) -> Path:
    """Write ``messages.mo`` from the language's ``.po`` files into ``folder`` (default:
    beside them)."""
    target = mo_path(locale, folder)
    # Hashed before reading: a .po edited in between is compiled again on the next start.
    digest = source_hash(locale)
    catalog = read_catalog(locale)
    catalog.project, catalog.version = "evalsys", f"po-sha256 {digest}"  # = STAMP + digest
    target.parent.mkdir(parents=True, exist_ok=True)
    # One temporary name per process: gunicorn workers may all compile at start-up.
    tmp = target.with_suffix(f".mo.{os.getpid()}.tmp")
    try:
        with tmp.open("wb") as handle:
            write_mo(handle, catalog, use_fuzzy=False)
        tmp.replace(target)
    finally:
        tmp.unlink(missing_ok=True)
    return target


def compiled_from(mo: Path) -> str | None:
    """The ``.po`` hash a ``.mo`` names in its header; None if it names none or is unreadable.

    Reads only the header entry (the translation of ""), not the whole catalogue:
    this runs at every start of the app.
    """
    try:
        with mo.open("rb") as handle:
            head = handle.read(20)
            order = {b"\xde\x12\x04\x95": "<", b"\x95\x04\x12\xde": ">"}[head[:4]]
            count, originals, translations = struct.unpack(order + "3I", head[8:20])
            handle.seek(originals)
            first_length = struct.unpack(order + "I", handle.read(4))[0]
            if count == 0 or first_length != 0:  # no header entry
                return None
            handle.seek(translations)
            length, offset = struct.unpack(order + "2I", handle.read(8))
            handle.seek(offset)
            header = handle.read(length).decode("utf-8", "replace")
    except (OSError, KeyError, struct.error):
        return None
    for line in header.splitlines():
        name, _, value = line.partition(":")
        if name.strip().lower() == "project-id-version" and value.strip().startswith(STAMP):
            return value.strip().removeprefix(STAMP)
    return None


def stale_locales(folder: Path | None = None) -> list[str]:
    """Languages whose ``.mo`` in ``folder`` is missing or was compiled from other ``.po``."""
    return [
        locale
        for locale in locales()
        if compiled_from(mo_path(locale, folder)) != source_hash(locale)
    ]


def ensure_compiled(
    log: logging.Logger | None = None, *, instance_path: str | os.PathLike | None = None
) -> Path:
    """Compile every stale language; return the folder of ``.mo`` files to serve.

    That folder is given to Flask-Babel (``BABEL_TRANSLATION_DIRECTORIES``): the
    package's own in a checkout, ``INSTANCE/translations`` in an installed wheel or
    when the checkout is read-only (see the module docstring).
    """
    places = [TRANSLATIONS] if FROM_CHECKOUT or instance_path is None else []
    if instance_path is not None:
        places.append(Path(instance_path) / "translations")
    for place in places:
        try:
            for locale in stale_locales(place):
                compile_locale(locale, place)
            return place
        except OSError as err:
            if log is not None:
                log.warning("evalsys: could not compile the catalogues into %s: %s", place, err)
    return places[-1]  # serve what is there: English where nothing is


#: Babel's extraction mapping: which files hold strings, and how to read them.
MAPPING = Path(__file__).resolve().parent / "babel.cfg"


def extract() -> Catalog:
    """Every translatable string in the code and templates, with where it was found.

    Walks the checkout (``evalsys/`` and ``templates/``, as babel.cfg says): an installed
    package has no source tree laid out that way, so this refuses to run there.
    """
    if not FROM_CHECKOUT:
        raise CatalogError(
            "extracting strings reads the source tree: run this in a checkout of evalsys, "
            f"not an installed package ({ROOT})"
        )
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


def write_missing(handle, locale: str = "zh", gaps: list | None = None) -> int:
    """The missing strings (``gaps``, else :func:`missing`) as a ``.po`` with empty
    translations, to fill in beside messages.po."""
    from babel.messages.pofile import write_po

    part = new_catalog(locale)
    for message in missing(locale) if gaps is None else gaps:
        part.add(message.id, string="", locations=message.locations, context=message.context)
    write_po(handle, part, width=96, include_lineno=False)
    return len(part)
