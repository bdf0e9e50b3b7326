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


# Third-party packages heavy enough at import (seconds, or hundreds of MB mapped) that a harness module which
# needs one is imported inside the function that uses it; every other import stands at the top of its module.
HEAVY = {"torch", "transformers", "onnxruntime", "openvino", "deepsparse", "onnx", "nncf", "sklearn", "scipy",
         "pandas", "matplotlib", "boto3", "botocore", "kubernetes", "mlperf_loadgen", "asv", "safetensors",
         "tokenizers"}
# The worker imports nothing but the standard library, numpy and harness.contracts before it has timed its engine's
# import, and runs under the DeepSparse environment's interpreter too (harness/runner/worker.py's docstring).
LAZY_BY_DESIGN = {"harness.runner.worker"}


def _imports(mod: str, path: Path, is_pkg: bool, *, in_functions: bool) -> list[tuple[str, int]]:
    """(imported name, line) of the module's top-level imports, or of those inside its functions."""
    found = []

    def scan(nodes, in_function):
        for node in nodes:
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda)):
                scan(ast.iter_child_nodes(node), True)
            elif isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
                continue
            elif isinstance(node, (ast.Import, ast.ImportFrom)):
                if in_function == in_functions:
                    names = ([a.name for a in node.names] if isinstance(node, ast.Import) else
                             [f"{_resolve(mod, is_pkg, node.level, node.module)}.{a.name}" for a in node.names])
                    found.extend((n, node.lineno) for n in names)
            else:
                scan(ast.iter_child_nodes(node), in_function)

    scan(ast.parse(path.read_text()).body, False)
    return found


def lazy_imports_without_reason(root: Path = PACKAGE) -> list[str]:
    """Imports of harness modules inside functions whose module loads no HEAVY package at import (through its
    top-level imports, and its packages'), outside LAZY_BY_DESIGN."""
    mods = {module_name(p, root): p for p in sorted(root.rglob("*.py"))}

    def owner(name: str) -> str | None:
        while name and name not in mods:
            name = name.rpartition(".")[0]
        return name or None

    heavy: dict[str, bool] = {}

    def loads_heavy(mod: str, seen=()) -> bool:
        if mod not in heavy:
            path = mods[mod]
            parents = [".".join(mod.split(".")[:i]) for i in range(1, mod.count(".") + 1)]
            names = [n for n, _ in _imports(mod, path, path.name == "__init__.py", in_functions=False)]
            heavy[mod] = any(n.split(".")[0] in HEAVY for n in names) or any(
                t not in seen and t != mod and loads_heavy(t, seen + (mod,))
                for t in {owner(n) for n in names if n.startswith("harness")} | set(parents) if t)
        return heavy[mod]

    out = []
    for mod, path in mods.items():
        if mod in LAZY_BY_DESIGN:
            continue
        for name, line in _imports(mod, path, path.name == "__init__.py", in_functions=True):
            target = owner(name) if name.startswith("harness") else None
            if target and target != mod and not loads_heavy(target):
                out.append(f"{path.relative_to(root.parent)}:{line} imports {target} inside a function")
    return sorted(set(out))


def test_imports_stand_at_the_top_unless_they_load_a_heavy_engine():
    assert lazy_imports_without_reason() == []


def test_the_lazy_import_check_tells_heavy_from_light(tmp_path):
    pkg = tmp_path / "harness"
    pkg.mkdir()
    (pkg / "__init__.py").write_text("")
    (pkg / "light.py").write_text("import json\n")
    (pkg / "engine.py").write_text("import torch\n")
    (pkg / "via.py").write_text("from harness import engine\n")  # heavy through another module
    (pkg / "user.py").write_text("def f():\n    from harness.light import x\n    from .via import y\n"
                                 "    from harness import engine\n")
    assert lazy_imports_without_reason(pkg) == ["harness/user.py:2 imports harness.light inside a function"]


@pytest.mark.parametrize("module, layer", [
    ("harness", "contracts"), ("harness.contracts", "contracts"), ("harness.models.bert", "domain"),
    ("harness.backends.ort_backend", "backends"), ("harness.cli", "cli"), ("harness.commands.bench", "commands"),
])
def test_layer_table(module, layer):
    assert layer_name(layer_of(module)) == layer
    assert layer_of("harness.not_a_module_anywhere") is None
    assert [name for name, _ in LAYERS][0] == "contracts"
