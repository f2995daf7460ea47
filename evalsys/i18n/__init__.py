"""Chinese and English: which language a request is served in, and the catalogues.

The language of a request is, in order: the signed-in user's choice (stored on the
account, so emails and reports follow it too), the choice an anonymous visitor made
with the header switch (kept in the session), the browser's Accept-Language, and
finally ``DEFAULT_LOCALE``. Every visible string goes through gettext (``_`` in
templates, :func:`flask_babel.gettext`/``lazy_gettext`` in Python); the catalogue
is ``evalsys/translations/zh/LC_MESSAGES/messages.po`` with English as the source
language, and ``tests/i18n`` fails when a string is missing from it.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import date, datetime
from typing import Any

from flask import Flask, current_app, has_request_context, request, session
from flask_babel import Babel, force_locale, format_date, format_datetime, format_decimal
from flask_babel import get_locale as babel_locale

from evalsys.clock import to_site_time
from evalsys.i18n.catalog import ensure_compiled

#: The languages evalsys speaks, in the order the switch offers them.
LOCALES: tuple[str, ...] = ("zh", "en")
#: How each language names itself (never translated: a reader must find their own).
LOCALE_NAMES: dict[str, str] = {"zh": "中文", "en": "English"}
#: The ``lang`` attribute of a page in each language.
HTML_LANG: dict[str, str] = {"zh": "zh-Hans", "en": "en"}
SESSION_KEY = "locale"

babel = Babel()


def normalise(value: str | None) -> str | None:
    """A supported locale from a user's or browser's spelling ("zh_CN", "EN-gb"), or None."""
    if not value:
        return None
    base = value.replace("_", "-").split("-")[0].strip().lower()
    return base if base in LOCALES else None


def default_locale() -> str:
    return normalise(current_app.config.get("DEFAULT_LOCALE")) or LOCALES[0]


def select_locale() -> str:
    """Flask-Babel's locale selector (see the module docstring for the order)."""
    if not has_request_context():
        return default_locale()
    from flask_login import current_user

    user_choice = getattr(current_user, "locale", None) if current_user else None
    chosen = normalise(user_choice) or normalise(session.get(SESSION_KEY))
    if chosen:
        return chosen
    best = request.accept_languages.best_match(
        [*LOCALES, "zh-CN", "zh-Hans", "zh-TW", "en-US", "en-GB"]
    )
    return normalise(best) or default_locale()


def current_locale() -> str:
    return normalise(str(babel_locale() or "")) or default_locale()


def locale_of(user: Any) -> str:
    """The language to write to ``user`` in (emails, delivered reports): theirs, else the site's."""
    return normalise(getattr(user, "locale", None)) or default_locale()


@contextmanager
def in_locale(locale: str | None) -> Iterator[None]:
    """Render in ``locale`` (None: the site default), inside or outside a request."""
    with force_locale(normalise(locale) or default_locale()):
        yield


def localized(obj: Any, field: str) -> str:
    """A name that may carry both languages: ``field_en`` in English when set, else ``field``.

    Units, courses and rubrics are named in Chinese with an optional English name;
    an English reader gets the English one where there is one.
    """
    value = getattr(obj, field, None) if not isinstance(obj, dict) else obj.get(field)
    if current_locale() == "en":
        english = (
            obj.get(f"{field}_en") if isinstance(obj, dict) else getattr(obj, f"{field}_en", None)
        )
        if english:
            return english
    return value or ""


def colon() -> str:
    """The colon between a label and its value: full-width "：" in Chinese, ": " in English.

    For templates that join a shown name and its value themselves (a whole sentence is a
    gettext message with its own punctuation instead).
    """
    return "：" if current_locale() == "zh" else ": "


def fmt_date(value: date | datetime | None, form: str = "medium") -> str:
    """A date as the reader's language writes it ("2026年12月1日", "Dec 1, 2026").

    A stored time is dated on the site's calendar: 23:30 UTC is already the next day
    in Shanghai, and that is the day the reader lived it.
    """
    if value is None:
        return "—"
    if isinstance(value, datetime):
        value = to_site_time(value).date()
    return format_date(value, form)


def fmt_datetime(value: datetime | None, form: str = "medium") -> str:
    """A stored time on the site's clock, as the reader's language writes it.

    Converted by :func:`evalsys.clock.to_site_time` like every other shown time, so
    Babel is told not to move it again.
    """
    if value is None:
        return "—"
    return format_datetime(to_site_time(value), form, rebase=False)


def fmt_num(value: float | int | None, digits: int = 1, signed: bool = False) -> str:
    """A number with ``digits`` decimals in the reader's locale; "—" for no value."""
    if value is None:
        return "—"
    pattern = ("+" if signed else "") + "#,##0" + ("." + "0" * digits if digits else "")
    if signed:
        pattern = f"{pattern};-#,##0" + ("." + "0" * digits if digits else "")
    return format_decimal(value, format=pattern)


def init_app(app: Flask) -> None:
    app.config.setdefault("BABEL_DEFAULT_LOCALE", "en")
    app.config.setdefault("BABEL_DEFAULT_TIMEZONE", app.config.get("SCHEDULER_TIMEZONE", "UTC"))
    # The .mo files are built from the .po at start-up, where this install may write them
    # (beside the .po in a checkout, INSTANCE/translations in an installed wheel).
    app.config["BABEL_TRANSLATION_DIRECTORIES"] = str(
        ensure_compiled(app.logger, instance_path=app.instance_path)
    )
    babel.init_app(app, locale_selector=select_locale)
    app.jinja_env.filters.update(
        fmt_date=fmt_date, fmt_datetime=fmt_datetime, fmt_num=fmt_num, localized=localized
    )
    app.jinja_env.globals.update(
        localized=localized, colon=colon, LOCALES=LOCALES, LOCALE_NAMES=LOCALE_NAMES
    )

    @app.context_processor
    def _inject_locale() -> dict:
        locale = current_locale()
        return {"current_locale": locale, "html_lang": HTML_LANG[locale]}
