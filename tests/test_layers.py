"""The package's layering: module-level imports point down (no cycle), and no module reaches into another's privates."""

from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1] / "kagglekit"
# Lower layers never import higher ones at module level (function-level imports are the lazy faces: the CLI's
# commands, the package's __getattr__).
LAYERS = [
    {"errors", "io", "config", "durations", "metrics", "logs", "device", "inputs", "demo"},
    {"tables", "data", "submission", "folds", "encoders", "models", "shapes", "catalogue"},
    {"runs", "outputs"},
    {"ensemble", "predict"},
    {"engine", "analysis", "kaggle", "tuning", "tokens", "doctor"},
    {"api", "cli", "__main__", "__init__"},
]


def _module(path: Path) -> str:
    return ".".join(path.relative_to(PACKAGE.parent).with_suffix("").parts).removesuffix(".__init__")


def _top(module: str) -> str:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else "__init__"


def _imports(path: Path) -> list[ast.ImportFrom]:
    """kagglekit imports at module level (TYPE_CHECKING blocks excluded: they never run)."""
    found = []
    for node in ast.parse(path.read_text(encoding="utf-8")).body:
        if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("kagglekit"):
            found.append(node)
    return found


def _target(node: ast.ImportFrom, name: str) -> str:
    """The module an import loads: ``from kagglekit import config`` is kagglekit.config."""
    candidate = f"{node.module}.{name}"
    as_path = PACKAGE.parent / Path(*candidate.split("."))
    return candidate if as_path.with_suffix(".py").is_file() or (as_path / "__init__.py").is_file() else node.module


def test_module_level_imports_point_down_and_form_no_cycle() -> None:
    layer = {name: i for i, names in enumerate(LAYERS) for name in names}
    graph: dict[str, set[str]] = {}
    for path in PACKAGE.rglob("*.py"):
        module = _module(path)
        graph[module] = {_target(node, alias.name) for node in _imports(path) for alias in node.names}
        for target in graph[module]:
            here, there = _top(module), _top(target)
            assert here in layer and there in layer, f"place {here if here not in layer else there} in LAYERS"
            assert layer[there] <= layer[here], f"{module} imports {target}, which stands above it"
    seen: dict[str, int] = {}

    def visit(module: str, trail: list[str]) -> None:
        if seen.get(module) == 1:
            raise AssertionError("import cycle: " + " -> ".join([*trail, module]))
        if seen.get(module) == 2:
            return
        seen[module] = 1
        for target in graph.get(module, ()):
            visit(target, [*trail, module])
        seen[module] = 2

    for module in graph:
        visit(module, [])


def test_no_module_imports_another_modules_private_names() -> None:
    offenders = [f"{_module(path)}: from {node.module} import {alias.name}"
                 for path in PACKAGE.rglob("*.py") for node in ast.walk(ast.parse(path.read_text(encoding="utf-8")))
                 if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("kagglekit")
                 for alias in node.names if alias.name.startswith("_") and not alias.name.endswith("__")]
    assert not offenders, offenders
