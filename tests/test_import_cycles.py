"""No import cycles among evalsys's modules.

A cycle works only while its imports happen in a lucky order (an import at the foot
of a file, or inside a function to dodge the other one), and it ties two modules
into one: neither can be read, tested or moved alone. The graph is read from the
source with :mod:`ast` (``import evalsys...`` and ``from evalsys... import``, at the
top of a module, in a class body, and inside functions), so it sees the imports a
run might never reach. Imports under ``if TYPE_CHECKING:`` are left out: they never
run. A module's implicit import of its parent package is left out too (importing
``evalsys.i18n.catalog`` first runs ``evalsys/i18n/__init__.py``): that is how packages
work, and the ``__init__`` files import little at their top (the root only
:mod:`evalsys.config`, :mod:`evalsys.i18n` its catalog and the clock).

Top-level imports must form no cycle at all. Among all imports, the cycles left are
listed in :data:`ALLOWED`, one import each, with the reason it is still there; the
list can only shrink: an entry that no longer closes a cycle fails the test too.

Some packages sit above others (:data:`ABOVE`): the importer writes the rows of org
and feedback, so it imports them and they never import it, not even in a function
or for the type checker.
"""

from __future__ import annotations

import ast
import functools
from collections import deque
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path

import evalsys

PACKAGE = Path(evalsys.__file__).resolve().parent

#: Function-level imports that close a cycle, each to be removed some day.
ALLOWED: dict[tuple[str, str], str] = {
    ("evalsys", "evalsys.web"): (
        "create_app is the composition root: it imports the web layer when called, and"
        " modules below import the root for ROOT/resource_folder (i18n.catalog,"
        " reports.render) and create_app (reports.render's worker processes). Moving those"
        " to a module of their own is another task."
    ),
    ("evalsys.accounts.sessions", "evalsys.accounts.service"): (
        "end_all writes its audit row with accounts.service.audit, and the service ends"
        " sessions; audit belongs in evalsys.security.audit, out of this task's scope."
    ),
    ("evalsys.i18n.cli", "evalsys.cli"): (
        "`translations compile` on an installed package borrows the CLI's _instance_path;"
        " it belongs somewhere both can import (out of this task's scope)."
    ),
}

#: A package -> the packages below it, which must never import it (any import at all).
ABOVE: dict[str, tuple[str, ...]] = {
    "evalsys.importer": ("evalsys.org", "evalsys.feedback"),
}


@dataclass(frozen=True)
class Edge:
    source: str
    target: str
    in_function: bool
    line: int


def module_names(package: Path = PACKAGE) -> dict[str, Path]:
    names = {}
    for path in sorted(package.rglob("*.py")):
        parts = list(path.relative_to(package.parent).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts.pop()
        names[".".join(parts)] = path
    return names


def _is_type_checking(test: ast.expr) -> bool:
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


class _Imports(ast.NodeVisitor):
    """Every import statement of one module, and whether it sits inside a function."""

    def __init__(self, *, type_checking: bool = False) -> None:
        self.found: list[tuple[ast.Import | ast.ImportFrom, bool]] = []
        self._depth = 0
        self._type_checking = type_checking

    def _function(self, node: ast.FunctionDef | ast.AsyncFunctionDef) -> None:
        self._depth += 1
        self.generic_visit(node)
        self._depth -= 1

    visit_FunctionDef = visit_AsyncFunctionDef = _function

    def visit_If(self, node: ast.If) -> None:
        if _is_type_checking(node.test) and not self._type_checking:
            for child in node.orelse:
                self.visit(child)
        else:
            self.generic_visit(node)

    def visit_Import(self, node: ast.Import) -> None:
        self.found.append((node, self._depth > 0))

    def visit_ImportFrom(self, node: ast.ImportFrom) -> None:
        self.found.append((node, self._depth > 0))


def _known(name: str, modules: Mapping[str, Path]) -> str | None:
    """The module ``name`` loads: itself, or the longest module its dotted name starts with."""
    while name and name not in modules:
        name = name.rpartition(".")[0]
    return name or None


def import_edges(modules: Mapping[str, Path], *, type_checking: bool = False) -> list[Edge]:
    """Every import of one evalsys module by another; ``type_checking`` adds those under
    ``if TYPE_CHECKING:`` (never run, so no cycle, but still a dependency)."""
    edges = []
    for source, path in modules.items():
        collector = _Imports(type_checking=type_checking)
        collector.visit(ast.parse(path.read_text(encoding="utf-8"), filename=str(path)))
        package = source if path.name == "__init__.py" else source.rpartition(".")[0]
        for node, in_function in collector.found:
            targets: list[str] = []
            if isinstance(node, ast.Import):
                targets = [alias.name for alias in node.names]
            else:
                base = node.module or ""
                if node.level:  # relative: from .x import y
                    parts = package.split(".")[: len(package.split(".")) - node.level + 1]
                    base = ".".join([*parts, base] if base else parts)
                # ``from evalsys.feedback import views`` loads the module views; ``from
                # evalsys.feedback.views import bp`` loads evalsys.feedback.views.
                targets = [
                    f"{base}.{alias.name}" if f"{base}.{alias.name}" in modules else base
                    for alias in node.names
                ]
            for target in targets:
                found = _known(target, modules) if target.startswith("evalsys") else None
                if found and found != source:
                    edges.append(Edge(source, found, in_function, node.lineno))
    return edges


@functools.cache
def package_edges(*, type_checking: bool = False) -> tuple[Edge, ...]:
    """:func:`import_edges` of evalsys itself, read once per test process: every test of
    the real package parses the same files (a second each); the edges are frozen and the
    tuple cannot be changed by a test. The tests of made-up packages read their own."""
    return tuple(import_edges(module_names(), type_checking=type_checking))


def _within(module: str, package: str) -> bool:
    return module == package or module.startswith(package + ".")


def layer_breaches(edges: Iterable[Edge], above: Mapping[str, Iterable[str]] = ABOVE) -> list[str]:
    """Each import of a package by one of the packages below it, located (once per line)."""
    found = [
        f"{e.source} (line {e.line}{', in a function' if e.in_function else ''}) imports {e.target}"
        for e in edges
        for upper, lowers in above.items()
        if _within(e.target, upper) and any(_within(e.source, low) for low in lowers)
    ]
    return list(dict.fromkeys(found))


def graph(edges: Iterable[Edge]) -> dict[str, set[str]]:
    out: dict[str, set[str]] = {}
    for edge in edges:
        out.setdefault(edge.source, set()).add(edge.target)
    return out


def _path(g: Mapping[str, set[str]], start: str, goal: str) -> list[str] | None:
    """The shortest import chain from ``start`` to ``goal`` (breadth first), if any."""
    came_from: dict[str, str | None] = {start: None}
    queue = deque([start])
    while queue:
        here = queue.popleft()
        for nxt in sorted(g.get(here, ())):
            if nxt == goal:
                chain = [goal, here]
                while (back := came_from[chain[-1]]) is not None:
                    chain.append(back)
                return chain[::-1]
            if nxt not in came_from:
                came_from[nxt] = here
                queue.append(nxt)
    return None


def cycles(g: Mapping[str, set[str]]) -> list[tuple[list[str], list[str]]]:
    """Each group of modules that import each other, with one cycle through it (a, ..., a).

    Tarjan's strongly connected components: every module of a component reaches every
    other, so one cycle from its first module names the problem, and the component
    tells how far it reaches.
    """
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    components: list[list[str]] = []

    def visit(node: str) -> None:  # recursion depth is bounded by the package's size
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for nxt in sorted(g.get(node, ())):
            if nxt not in index:
                visit(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in on_stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            component = []
            while True:
                top = stack.pop()
                on_stack.discard(top)
                component.append(top)
                if top == node:
                    break
            if len(component) > 1:
                components.append(sorted(component))

    for node in sorted(g):
        if node not in index:
            visit(node)
    found = []
    for component in components:
        inside = {m: g.get(m, set()) & set(component) for m in component}
        chain = _path(inside, component[0], component[0])
        assert chain is not None
        found.append((chain, component))
    return found


def _report(found: list[tuple[list[str], list[str]]], edges: list[Edge]) -> str:
    where = {(e.source, e.target): e for e in edges}
    lines = []
    for chain, component in found:
        steps = []
        for a, b in zip(chain, chain[1:], strict=False):
            e = where[(a, b)]
            steps.append(f"{a} (line {e.line}{', in a function' if e.in_function else ''})")
        lines.append(" -> ".join([*steps, chain[-1]]))
        if len(component) > len(chain) - 1:
            lines.append(f"    and through it: {', '.join(component)}")
    return "\n".join(lines)


def test_top_level_imports_form_no_cycle():
    edges = [e for e in package_edges() if not e.in_function]
    found = cycles(graph(edges))
    assert not found, "import cycles among top-level imports:\n" + _report(found, edges)


def test_no_import_cycle_but_the_allowed_ones():
    edges = [e for e in package_edges() if (e.source, e.target) not in ALLOWED]
    found = cycles(graph(edges))
    assert not found, (
        "import cycles (break them: move the shared part down, or let the lower module"
        " announce a signal, see evalsys/signals.py):\n" + _report(found, edges)
    )


def test_the_allowed_list_only_shrinks():
    """An allowed import that is gone, or no longer closes a cycle, comes off the list."""
    edges = package_edges()
    g = graph(edges)
    by_pair = {(e.source, e.target): e for e in edges}
    stale = []
    for source, target in ALLOWED:
        edge = by_pair.get((source, target))
        if edge is None or not edge.in_function or _path(g, target, source) is None:
            stale.append(f"{source} -> {target}")
    assert not stale, "take these off ALLOWED (no longer a function-level cycle):\n" + "\n".join(
        stale
    )


def test_the_graph_sees_what_it_must():
    """The checks above pass on an empty graph too: show that this one is read right."""
    modules = module_names()
    edges = package_edges()
    pairs = {(e.source, e.target): e for e in edges}
    assert len(modules) > 100
    # ``from evalsys.feedback import views, views_lists, views_record`` in a function.
    assert pairs[("evalsys.web", "evalsys.feedback.views_record")].in_function
    # ``from evalsys.loop.models import (...)`` at the top.
    assert not pairs[("evalsys.loop.notices", "evalsys.loop.models")].in_function
    # ``from evalsys import db as _db``: the module evalsys.db, not the root package.
    assert ("evalsys.feedback.models", "evalsys.db") in pairs
    assert ("evalsys.feedback.models", "evalsys") not in pairs
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a", "e"}, "d": {"a"}, "e": {"c"}}) == [
        (["a", "b", "c", "a"], ["a", "b", "c", "e"])
    ]
    assert cycles({"a": {"b"}, "b": set()}) == []


def test_a_cycle_in_the_source_is_found(tmp_path):
    """Two modules that import each other, one inside a function: the cycle is reported."""
    package = tmp_path / "evalsys"
    (package / "area").mkdir(parents=True)
    (package / "__init__.py").write_text("")
    (package / "area" / "__init__.py").write_text("")
    (package / "area" / "one.py").write_text("from evalsys.area.two import thing\n")
    (package / "area" / "two.py").write_text(
        "from typing import TYPE_CHECKING\n"
        "if TYPE_CHECKING:\n"
        "    from evalsys.area import three\n"
        "def thing():\n"
        "    from evalsys.area import one\n"
    )
    (package / "area" / "three.py").write_text("import evalsys.area.two\n")
    edges = import_edges(module_names(package))
    assert cycles(graph(e for e in edges if not e.in_function)) == []
    one, two = "evalsys.area.one", "evalsys.area.two"
    assert cycles(graph(edges)) == [([one, two, one], [one, two])]
    assert "evalsys.area.two (line 5, in a function)" in _report(cycles(graph(edges)), edges)


def test_org_and_feedback_never_import_the_importer():
    """The importer is above them: it uses org and feedback, they never reach back."""
    edges = package_edges(type_checking=True)
    pairs = {(e.source, e.target) for e in edges}
    # The graph does see the importer using both (else the check below proves nothing).
    assert ("evalsys.importer.check", "evalsys.org.models") in pairs
    assert ("evalsys.importer.feedback", "evalsys.feedback.writes") in pairs
    breaches = layer_breaches(edges)
    assert not breaches, (
        "evalsys.org and evalsys.feedback must not import evalsys.importer (it sits above"
        " them; move what both need down into org or feedback):\n" + "\n".join(breaches)
    )


def test_a_lower_package_importing_the_importer_is_found(tmp_path):
    """Any way of importing counts: in a function, relative, the bare package, for types."""
    package = tmp_path / "evalsys"
    for area in ("org", "feedback", "importer", "reports"):
        (package / area).mkdir(parents=True)
        (package / area / "__init__.py").write_text("")
    (package / "__init__.py").write_text("")
    (package / "importer" / "service.py").write_text("from evalsys.org import models\n")
    (package / "org" / "models.py").write_text("")
    (package / "org" / "views.py").write_text(
        "def run():\n    from evalsys.importer.service import thing\n"
    )
    (package / "org" / "cli.py").write_text("from ..importer import service\n")
    (package / "feedback" / "export.py").write_text(
        "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    import evalsys.importer\n"
    )
    (package / "reports" / "build.py").write_text("from evalsys.importer import service\n")
    modules = module_names(package)
    assert layer_breaches(import_edges(modules, type_checking=True)) == [
        "evalsys.feedback.export (line 3) imports evalsys.importer",
        "evalsys.org.cli (line 1) imports evalsys.importer.service",
        "evalsys.org.views (line 2, in a function) imports evalsys.importer.service",
    ]
    # Left out without type_checking (they never run), as the cycle checks leave them out.
    assert len(layer_breaches(import_edges(modules))) == 2
