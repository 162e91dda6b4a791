"""The package layout shows the architecture, and stays true (README, Layout).

Layers, each importing only itself and the layers below: the platform (``decidero/platform``), the
meeting engine (``decidero/meetings``), the activity types (``decidero/activities``), and above
them the app (the modules directly in ``decidero/``), which assembles everything. Features built on
the engine beside the activity types (``decidero/designer``, ``decidero/exchange``, ``decidero/reports``) may import the engine and the
platform but no activity package: they reach types through the registry, as the engine does. Every import
counts, including those inside functions; none may close a cycle.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

from conftest import ROOT

from decidero.meetings.activity_types import TYPES

PACKAGE = ROOT / "decidero"
ACTIVITIES = PACKAGE / "activities"
# What each layer may import besides itself (the app layer may import anything).
BELOW = {
    "platform": {"platform"},
    "meetings": {"platform"},
    "activities": {"meetings", "platform"},
    "designer": {"meetings", "platform"},
    "exchange": {"meetings", "platform"},
    "reports": {"meetings", "platform"},
}


def module_name(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


MODULES = {module_name(p): p for p in sorted(PACKAGE.rglob("*.py"))}


def layer(module: str) -> str:
    """``platform``, ``meetings``, ``activities``, ``designer``, ``exchange``, ``reports``, or ``app`` for the modules directly in
    the package."""
    parts = module.split(".")
    return parts[1] if len(parts) > 1 and parts[1] in BELOW else "app"


def imports_of(module: str) -> Iterator[tuple[str, int]]:
    """(imported decidero module, line) for every import statement, at any depth. ``from P import
    name`` counts as importing module ``P.name`` when there is one, else ``P`` itself."""
    path = MODULES[module]
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*anchor, base] if base else anchor)
            targets = [f"{base}.{a.name}" if f"{base}.{a.name}" in MODULES else base for a in node.names]
        else:
            continue
        for target in targets:
            if target == "decidero" or target.startswith("decidero."):
                yield target, node.lineno


GRAPH = {module: sorted({target for target, _ in imports_of(module)}) for module in MODULES}


def type_packages() -> set[str]:
    """The packages ``decidero/activities/__init__.py`` imports: one per activity type."""
    return {t for t, _ in imports_of("decidero.activities") if t.startswith("decidero.activities.")}


def test_every_import_points_down_the_layers() -> None:
    wrong = []
    for module in MODULES:
        own = layer(module)
        for target, line in imports_of(module):
            if own != "app" and layer(target) not in {own, *BELOW[own]}:
                wrong.append(f"{MODULES[module].relative_to(ROOT)}:{line} imports {target} ({own} may import {sorted({own, *BELOW[own]})})")
    assert not wrong, "imports against the layering:\n" + "\n".join(wrong)


def test_only_the_app_imports_the_list_of_activity_types() -> None:
    # The engine reaches types through the registry; a type package reaches nothing through the list.
    importers = [m for m, targets in GRAPH.items() if "decidero.activities" in targets and layer(m) != "app"]
    assert not importers


def test_an_activity_type_imports_no_other_type() -> None:
    """Types are independent plug-ins; what two types share lives in a shared package (``ballots``)."""
    types = type_packages()
    wrong = []
    for module, targets in GRAPH.items():
        if layer(module) != "activities" or module == "decidero.activities":
            continue
        home = ".".join(module.split(".")[:3])
        for target in targets:
            other = ".".join(target.split(".")[:3])
            if other != home and other in types:
                wrong.append(f"{module} imports {target}")
    assert not wrong, "\n".join(wrong)


def test_no_import_cycles() -> None:
    state: dict[str, str] = {}  # module → "open" while on the path, "done" after
    path: list[str] = []
    cycles: list[list[str]] = []

    def visit(module: str) -> None:
        state[module] = "open"
        path.append(module)
        for target in GRAPH.get(module, []):
            if state.get(target) == "open":
                cycles.append([*path[path.index(target) :], target])
            elif target not in state:
                visit(target)
        path.pop()
        state[module] = "done"

    for module in MODULES:
        if module not in state:
            visit(module)
    assert not cycles, "import cycles:\n" + "\n".join(" → ".join(c) for c in cycles)


def test_adding_a_type_is_one_folder_and_one_line() -> None:
    """Each package ``activities/__init__.py`` lists is a folder and registers exactly one type,
    defined in that folder; nothing else (shared code such as ``ballots``) registers one."""
    listed = type_packages()
    assert listed <= {module_name(p) for p in ACTIVITIES.glob("*/__init__.py")}
    homes = [type(t).__module__.rpartition(".")[0] for t in TYPES.values()]
    assert sorted(homes) == sorted(listed)
