"""The layout holds: imports point down the layers, no cycles, no blueprint imported by a feature,
no module over 400 lines. Reads the source with `ast`; nothing is imported or run.

The layers (docs/architecture.md draws them): `core` at the bottom, `access` on it, the features
above, each allowed the features listed for it; the composition roots at the top (`app`, `cli`,
`wsgi`, `workers`) may import anything. `webhooks/` (the PBX adapters) sits beside `core`.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PACKAGE = ROOT / "callcenter"
MAX_LINES = 400

BASE = frozenset({"core", "webhooks"})
ALLOWED: dict[str, frozenset[str]] = {
    "core": frozenset({"core"}),
    "webhooks": frozenset({"webhooks", "core"}),
    "access": BASE | {"access"},
    "schedule": BASE | {"access", "schedule"},
    "callscripts": BASE | {"access", "callscripts", "schedule"},
    "inbound": BASE | {"access", "inbound"},
    "outbound": BASE | {"access", "outbound", "inbound", "schedule", "callscripts", "complaints"},
    "analytics": BASE | {"access", "analytics", "outbound"},
    # complaints: a reply to the rating text is stored as the visit's rating.
    "messaging": BASE | {"access", "messaging", "inbound", "outbound", "schedule", "callscripts",
                         "complaints"},
    "desk": BASE | {"access", "desk", "inbound", "outbound", "schedule", "callscripts", "messaging"},
    # messaging: the clinic page shows what the clinic's reminders by text will cost.
    "admin": BASE | {"access", "admin", "inbound", "outbound", "schedule", "messaging"},
    "exchange": BASE | {"access", "admin", "exchange"},
    "demo": BASE | {"access", "demo", "inbound", "outbound", "schedule"},
    "webtracking": BASE | {"access", "webtracking"},
    "complaints": BASE | {"access", "complaints"},
}
ROOTS = frozenset({"app", "cli", "wsgi", "workers", "__init__"})


def _sources() -> Iterator[Path]:
    for folder in (PACKAGE, ROOT / "webhooks"):
        for path in sorted(folder.rglob("*.py")):
            if "migrations" not in path.relative_to(ROOT).parts:
                yield path


def _module(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _layer(module: str) -> str:
    """`callcenter.desk.popcard` → desk; `callcenter.cli` → cli; `webhooks.mango` → webhooks."""
    parts = module.split(".")
    if parts[0] == "webhooks":
        return "webhooks"
    return parts[1] if len(parts) > 1 else "__init__"


def _imports(path: Path, *, top_level_only: bool) -> Iterator[tuple[int, str]]:
    """(line, module) of every import of our own code; names imported from a package count as
    modules when they are one (`from callcenter.desk import routes`)."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    nodes = tree.body if top_level_only else list(ast.walk(tree))
    for node in nodes:
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            targets = [node.module] + [f"{node.module}.{alias.name}" for alias in node.names]
        else:
            continue
        for target in targets:
            if target.split(".")[0] in ("callcenter", "webhooks") and _exists(target):
                yield node.lineno, target


def _exists(module: str) -> bool:
    base = ROOT.joinpath(*module.split("."))
    return base.with_suffix(".py").is_file() or (base / "__init__.py").is_file()


SOURCES = {_module(path): path for path in _sources()}


def test_imports_point_down_the_layers() -> None:
    wrong = []
    for module, path in SOURCES.items():
        layer = _layer(module)
        if layer in ROOTS:
            continue
        allowed = ALLOWED.get(layer)
        assert allowed is not None, f"{module}: package {layer!r} has no entry in ALLOWED"
        for line, target in _imports(path, top_level_only=False):
            if _layer(target) not in allowed:
                wrong.append(f"{path.relative_to(ROOT)}:{line}: {layer} may not import {target}")
    assert wrong == [], "\n".join(wrong)


def test_only_the_app_imports_blueprints() -> None:
    wrong = []
    for module, path in SOURCES.items():
        if module == "callcenter.app":
            continue
        for line, target in _imports(path, top_level_only=False):
            leaf = target.rsplit(".", 1)[-1]
            if (leaf == "routes" or leaf.endswith("_routes")) and target != module:
                wrong.append(f"{path.relative_to(ROOT)}:{line}: imports the blueprint {target}")
    assert wrong == [], "\n".join(wrong)


def test_no_import_cycles() -> None:
    graph = {module: {target for _, target in _imports(path, top_level_only=False)
                      if target in SOURCES and target != module}
             for module, path in SOURCES.items()}
    cycles: list[list[str]] = []
    state: dict[str, int] = {}  # 1 = on the current path, 2 = done

    def visit(module: str, trail: list[str]) -> None:
        state[module] = 1
        for target in sorted(graph[module]):
            if state.get(target) == 1:
                cycles.append([*trail[trail.index(target):], target])
            elif target not in state:
                visit(target, [*trail, target])
        state[module] = 2

    for module in sorted(graph):
        if module not in state:
            visit(module, [module])
    # A package's __init__ re-exporting its own modules is not a cycle anyone can trip on.
    real = [c for c in cycles if not all(m == c[0] or m.startswith(c[0] + ".") for m in c)]
    assert real == [], "\n".join(" -> ".join(c) for c in real)


@pytest.mark.parametrize("path", [p for p in _sources()], ids=lambda p: str(p.relative_to(ROOT)))
def test_no_module_is_over_400_lines(path: Path) -> None:
    lines = len(path.read_text(encoding="utf-8").splitlines())
    assert lines <= MAX_LINES, f"{path.relative_to(ROOT)} has {lines} lines; split it by responsibility"
