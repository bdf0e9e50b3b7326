"""The package's import graph respects harness/layers.py: no upward import, no cycle, every module placed.

Imports are read with ast (module level and inside functions alike); registry strings such as
"harness.backends.ort_backend:OrtBackend" count as imports, since they are imports by another name.
"""

import ast
import re
from pathlib import Path

import pytest

from harness.layers import LAYERS, layer_name, layer_of

PACKAGE = Path(__file__).resolve().parents[1] / "harness"


def module_name(path: Path, root: Path = PACKAGE) -> str:
    parts = list(path.relative_to(root.parent).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts = parts[:-1]
    return ".".join(parts)


def _resolve(current: str, is_pkg: bool, level: int, target: str | None) -> str:
    if level == 0:
        return target or ""
    base = current.split(".")
    if not is_pkg:
        base = base[:-1]
    if level > 1:
        base = base[: len(base) - (level - 1)]
    return ".".join(base + ([target] if target else []))


def import_graph(root: Path = PACKAGE) -> dict[str, set[str]]:
    mods = {module_name(p, root): p for p in sorted(root.rglob("*.py"))}
    edges: dict[str, set[str]] = {m: set() for m in mods}
    for mod, path in mods.items():
        tree = ast.parse(path.read_text())
        is_pkg = path.name == "__init__.py"
        for node in ast.walk(tree):
            targets: list[str] = []
            if isinstance(node, ast.Import):
                targets = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom):
                base = _resolve(mod, is_pkg, node.level, node.module)
                targets = [base] + [f"{base}.{a.name}" for a in node.names]
            elif isinstance(node, ast.Constant) and isinstance(node.value, str):
                hit = re.fullmatch(r"(harness(?:\.\w+)+):\w+", node.value)
                targets = [hit.group(1)] if hit else []
            for t in targets:
                while t and t not in mods:
                    t = t.rpartition(".")[0]
                if t and t != mod and t.startswith("harness"):
                    edges[mod].add(t)
    return edges


def upward_imports(edges) -> list[str]:
    out = []
    for mod, targets in edges.items():
        for t in targets:
            if layer_of(t) > layer_of(mod):
                out.append(f"{mod} ({layer_name(layer_of(mod))}) imports {t} ({layer_name(layer_of(t))})")
    return sorted(out)


def cycles(edges) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan)."""
    index, low, on, stack, out, counter = {}, {}, set(), [], [], [0]

    def visit(v):
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on.add(v)
        for w in edges[v]:
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                out.append(sorted(comp))

    for v in edges:
        if v not in index:
            visit(v)
    return out


def test_every_module_has_a_layer():
    unplaced = [m for m in import_graph() if layer_of(m) is None]
    assert unplaced == [], f"add these modules to a layer in harness/layers.py: {unplaced}"


def test_no_module_imports_a_higher_layer():
    assert upward_imports(import_graph()) == []


def test_no_import_cycles():
    assert cycles(import_graph()) == []


def test_the_checks_catch_what_they_claim(tmp_path):
    """The checker itself: an upward import, a registry string and a cycle in a throwaway package."""
    pkg = tmp_path / "harness"
    (pkg / "backends").mkdir(parents=True)
    (pkg / "__init__.py").write_text("")
    (pkg / "backends" / "__init__.py").write_text("")
    (pkg / "foundation").mkdir()
    (pkg / "foundation" / "__init__.py").write_text("")
    (pkg / "foundation" / "stats.py").write_text("from ..backends import thing\n")  # foundation -> backends: upward
    (pkg / "backends" / "thing.py").write_text("SPEC = 'harness.contracts:X'\nimport harness.cli\n")
    (pkg / "contracts.py").write_text("from harness.backends import thing\n")  # cycle with thing via the string
    (pkg / "cli.py").write_text("")
    edges = import_graph(pkg)
    up = upward_imports(edges)
    assert "harness.foundation.stats (foundation) imports harness.backends.thing (backends)" in up
    assert "harness.backends.thing (backends) imports harness.cli (cli)" in up
    assert "harness.contracts (contracts) imports harness.backends.thing (backends)" in up
    assert ["harness.backends.thing", "harness.contracts"] in cycles(edges)


@pytest.mark.parametrize("module, layer", [
    ("harness", "contracts"), ("harness.contracts", "contracts"), ("harness.models.bert", "domain"),
    ("harness.backends.ort_backend", "backends"), ("harness.cli", "cli"), ("harness.commands.bench", "commands"),
])
def test_layer_table(module, layer):
    assert layer_name(layer_of(module)) == layer
    assert layer_of("harness.not_a_module_anywhere") is None
    assert [name for name, _ in LAYERS][0] == "contracts"
