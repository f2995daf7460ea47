"""``evalsys translations``: keep the Chinese catalogue in step with the source."""

from __future__ import annotations

import sys

import click

from evalsys.i18n import catalog


@click.group("translations")
def translations_cli() -> None:
    """Check, update and compile the gettext catalogues (evalsys/translations)."""


def _extracting(task):
    """Run a task that extracts strings from the source; a clear error outside a checkout."""
    try:
        return task()
    except catalog.CatalogError as err:
        raise click.ClickException(str(err)) from err


@translations_cli.command("check")
@click.option("--locale", default="zh", show_default=True)
def check_cmd(locale: str) -> None:
    """List strings with no translation, and translations nothing uses; exit 1 if any."""
    gaps = _extracting(lambda: catalog.missing(locale))
    extra = catalog.unused(locale)
    for message in gaps:
        where = ", ".join(f"{f}:{n}" for f, n in message.locations[:3])
        click.echo(f"missing  {message.id!r}  ({where})")
    for msgid in extra:
        click.echo(f"unused   {msgid!r}")
    click.echo(f"{len(gaps)} missing, {len(extra)} unused.")
    if gaps or extra:
        sys.exit(1)


@translations_cli.command("update")
@click.option("--locale", default="zh", show_default=True)
def update_cmd(locale: str) -> None:
    """Add new source strings to messages.po (untranslated) and drop the ones gone."""
    added, removed = _extracting(lambda: catalog.update(locale))
    click.echo(f"messages.po: {added} added, {removed} removed; fill in the empty msgstr lines.")


@translations_cli.command("missing")
@click.option("--locale", default="zh", show_default=True)
@click.option("--output", "-o", type=click.Path(dir_okay=False), required=True)
def missing_cmd(locale: str, output: str) -> None:
    """Write the untranslated strings as a .po file with empty translations to fill in."""
    gaps = _extracting(lambda: catalog.missing(locale))  # before the file is opened
    with open(output, "wb") as handle:
        count = catalog.write_missing(handle, locale, gaps)
    click.echo(f"{count} untranslated strings written to {output}.")


@translations_cli.command("compile")
def compile_cmd() -> None:
    """Write the .mo files (setup does this; the app also does it when a .po changed).

    In a checkout they go beside the .po; an installed package compiles into its
    instance folder (EVALSYS_INSTANCE_PATH), where the app reads them.
    """
    folder = catalog.TRANSLATIONS
    if not catalog.FROM_CHECKOUT:
        from evalsys.cli import _instance_path

        folder = _instance_path() / "translations"
    for locale in catalog.locales():
        click.echo(str(catalog.compile_locale(locale, folder)))


COMMANDS = [translations_cli]
