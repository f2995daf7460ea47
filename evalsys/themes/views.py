"""The unit page's "Recurring themes" block: a template global, no route of its own.

The block is drawn for readers of the unit's reports (the page asks before calling);
sections are named in quotes only at department level and only for readers who may
see the unit's feedback records (``Perm.VIEW_FEEDBACK``). Computed once per request.
"""

from __future__ import annotations

from flask import Blueprint, g
from flask_babel import get_locale
from flask_login import current_user

from evalsys.accounts.access import Perm, may
from evalsys.db import get_session
from evalsys.org.models import OrgUnit, Term
from evalsys.themes.service import ThemeCount, themes_for_unit

bp = Blueprint("themes", __name__)

#: How many themes the unit page shows (most records first).
SHOWN = 6


def unit_themes(unit: OrgUnit, term: Term) -> list[ThemeCount]:
    """The unit's recurring themes of the term, as the current reader may see them."""
    if unit.id is None or term.id is None:
        return []
    cache: dict[tuple[int, int], list[ThemeCount]] = g.setdefault("unit_themes", {})
    key = (unit.id, term.id)
    if key not in cache:
        session = get_session()
        cache[key] = themes_for_unit(
            session,
            unit.id,
            term.id,
            show_sections=may(session, current_user, Perm.VIEW_FEEDBACK, unit.id),
        )[:SHOWN]
    return cache[key]


def theme_label(theme: ThemeCount) -> str:
    return theme.label(str(get_locale() or "en"))


bp.add_app_template_global(unit_themes, "unit_themes")
bp.add_app_template_global(theme_label, "theme_label")
