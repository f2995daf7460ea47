"""The Chinese catalogue covers every string the code and templates ask for, and no more."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from babel.messages.catalog import Catalog
from babel.messages.checkers import python_format

from evalsys.i18n import catalog


@pytest.fixture(scope="module")
def extracted() -> Iterator[Catalog]:
    """The strings of the code and templates, extracted once for this module's tests.

    ``catalog.missing`` and ``catalog.unused`` each walked and parsed the whole source
    tree again (about two seconds each) for the same answer: for this module they are
    handed the one real extraction (they only read it); they compare it with the
    catalogue as before, and the extraction itself is checked below.
    """
    source = catalog.extract()
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(catalog, "extract", lambda: source)
        yield source


def test_every_string_has_a_chinese_translation(extracted):
    gaps = catalog.missing("zh")
    listed = "\n".join(f"{m.id!r} at {m.locations[:2]}" for m in gaps)
    assert not gaps, (
        f"{len(gaps)} strings have no Chinese translation; run `evalsys translations update`, "
        f"translate the empty msgstr lines in evalsys/translations/zh/LC_MESSAGES/messages.po:\n"
        + listed
    )


def test_no_translation_is_left_over(extracted):
    assert catalog.unused("zh") == [], "run `evalsys translations update` to drop them"


def test_placeholders_survive_translation():
    """A translation that loses or renames %(name)s would raise or show the wrong value."""
    broken = []
    zh = catalog.read_catalog("zh")
    for message in zh:
        if not message.id or not message.string:
            continue
        try:
            python_format(zh, message)
        except Exception as err:  # babel raises TranslationError with the reason
            broken.append(f"{message.id!r}: {err}")
    assert not broken, "\n".join(broken)


def test_extraction_finds_templates_and_python(extracted):
    """The checks above are only as good as the extraction: it must see both kinds of file."""
    places = {loc[0].split("/")[0] for m in extracted for loc in m.locations}
    assert {"evalsys", "templates"} <= places
