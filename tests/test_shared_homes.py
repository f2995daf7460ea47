"""What several areas share lives in one module each, imported from there (issue #14):
``evalsys.clock`` (now, today, site time), ``evalsys.pagination`` (pages of a list),
``evalsys.org.terms`` (the previous term), ``evalsys.aggregation.row`` (a result row's
fields).
No old home re-exports a moved name, so nothing can drift back to importing it there."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

import evalsys
from evalsys.pagination import Page, clamp_page, page_count

ROOT = Path(evalsys.__file__).parent.parent

#: Where a shared name used to live -> the names that must no longer be imported from there.
MOVED = {
    "evalsys.accounts.models": {"utcnow"},
    "evalsys.aggregation.service": {"local_today", "previous_term"},
    "evalsys.planner.inputs": {"previous_term"},
    # A result row's fields: the model evalsys.aggregation.row.AggregateRow.
    "evalsys.aggregation.read": {"ROW_FIELDS", "BANDS", "COVERAGE_FIELDS"},
}


def stale_imports(source: str) -> list[str]:
    found = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.ImportFrom) and node.module in MOVED:
            found += [f"{node.module}.{a.name}" for a in node.names if a.name in MOVED[node.module]]
    return found


def test_the_scan_sees_an_old_import():
    assert stale_imports("from evalsys.accounts.models import User, utcnow") == [
        "evalsys.accounts.models.utcnow"
    ]
    assert stale_imports("from evalsys.pagination import Page") == []


def test_nothing_imports_a_shared_name_from_its_old_home():
    files = sorted((ROOT / "evalsys").rglob("*.py")) + sorted((ROOT / "tests").rglob("*.py"))
    stale = [
        f"{path.relative_to(ROOT)}: {name}"
        for path in files
        for name in stale_imports(path.read_text(encoding="utf-8"))
    ]
    assert stale == []


#: Modules split up by what they are about (#14, point 9); both are gone, and nothing may
#: import them (an import would fail, but only when that code path runs).
SPLIT = {"evalsys.loop.service", "evalsys.feedback.service"}


def split_imports(source: str) -> list[str]:
    """The split modules ``source`` imports, however it names them."""
    found = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            found += [a.name for a in node.names if a.name in SPLIT]
        elif isinstance(node, ast.ImportFrom) and node.module:
            found += [node.module] if node.module in SPLIT else []
            found += [f"{node.module}.{a.name}" for a in node.names]
    return [name for name in found if name in SPLIT]


def test_the_scan_sees_an_import_of_a_split_module():
    assert split_imports("from evalsys.loop import service as loop") == ["evalsys.loop.service"]
    assert split_imports("import evalsys.feedback.service") == ["evalsys.feedback.service"]
    assert split_imports("from evalsys.feedback.service import submit_feedback") == [
        "evalsys.feedback.service"
    ]
    assert split_imports("from evalsys.feedback.writes import submit_feedback") == []


def test_nothing_imports_a_split_module():
    """Importers import from the new homes; no module re-exports the old names."""
    files = sorted((ROOT / "evalsys").rglob("*.py")) + sorted((ROOT / "tests").rglob("*.py"))
    stale = [
        f"{path.relative_to(ROOT)} imports {name}: import from the modules it was split into"
        for path in files
        if path.name != "test_shared_homes.py"
        for name in split_imports(path.read_text(encoding="utf-8"))
    ]
    assert stale == []
    assert not (ROOT / "evalsys/loop/service.py").exists()
    assert not (ROOT / "evalsys/feedback/service.py").exists()


def test_no_old_home_defines_or_exports_a_moved_name():
    import evalsys.aggregation.service as aggregation_service
    import evalsys.planner.inputs as planner_inputs
    from evalsys.org import terms

    assert not hasattr(aggregation_service, "local_today")
    # One previous_term: the aggregation's comparisons and the planner's "rated low last
    # term" cannot come to mean different terms.
    assert aggregation_service.previous_term is terms.previous_term
    assert planner_inputs.previous_term is terms.previous_term


# --- pages ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("total", "per_page", "pages"), [(0, 25, 1), (1, 25, 1), (25, 25, 1), (26, 25, 2), (51, 25, 3)]
)
def test_page_count(total, per_page, pages):
    assert page_count(total, per_page) == pages


@pytest.mark.parametrize(("asked", "shown"), [(-3, 1), (0, 1), (1, 1), (3, 3), (4, 3), (99, 3)])
def test_a_page_number_is_kept_in_range(asked, shown):
    assert clamp_page(asked, total=51, per_page=25) == shown


def test_page_knows_its_neighbours():
    first, middle, last = (Page(items=[], page=n, per_page=25, total=51) for n in (1, 2, 3))
    assert first.pages == 3 and not first.has_prev and first.has_next
    assert middle.has_prev and middle.has_next
    assert last.has_prev and not last.has_next
    empty = Page(items=[], page=1, per_page=25, total=0)
    assert empty.pages == 1 and not empty.has_prev and not empty.has_next
