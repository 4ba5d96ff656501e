"""The package's layering (docs/design.md §7): steps import only library modules, never each other;
library modules never import a step or the CLI; no import cycles between modules."""

from __future__ import annotations

import ast
from pathlib import Path

SRC = Path(__file__).resolve().parents[1] / "src" / "staa"


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(SRC.parent).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def internal_imports() -> dict[str, set[str]]:
    """{module: the staa modules it imports (anywhere in its body)}."""
    paths = {_module_name(p): p for p in SRC.rglob("*.py")}
    graph: dict[str, set[str]] = {}
    for name, path in paths.items():
        package = name if path.name == "__init__.py" else name.rpartition(".")[0]
        found: set[str] = set()
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom):
                if node.level:
                    base = package.split(".")[: len(package.split(".")) - node.level + 1]
                    target = ".".join(base + ([node.module] if node.module else []))
                else:
                    target = node.module or ""
                candidates = [target] + [f"{target}.{a.name}" for a in node.names]
            elif isinstance(node, ast.Import):
                candidates = [a.name for a in node.names]
            else:
                continue
            found |= {c for c in candidates if c in paths and c != name}
        graph[name] = found
    return graph


def test_steps_import_only_library_modules():
    graph = internal_imports()
    steps = {m for m in graph if m.startswith("staa.steps.")}
    assert {
        "staa.steps.train_victim",
        "staa.steps.train_generator",
        "staa.steps.craft_staa",
        "staa.steps.score",
        "staa.steps.attack_baseline",
        "staa.steps.timing",
    } <= steps
    for step in sorted(steps):
        bad = {m for m in graph[step] if m.startswith("staa.steps") or m == "staa.cli"}
        assert not bad, f"{step} imports {sorted(bad)}: steps may import library modules only"


def test_library_never_imports_steps_or_cli():
    graph = internal_imports()
    for mod, deps in sorted(graph.items()):
        if mod.startswith("staa.steps") or mod == "staa.cli":
            continue
        bad = {m for m in deps if m.startswith("staa.steps") or m == "staa.cli"}
        assert not bad, f"library module {mod} imports {sorted(bad)}"


def test_no_import_cycles():
    graph = internal_imports()
    state: dict[str, int] = {}

    def visit(mod: str, path: tuple[str, ...]) -> None:
        state[mod] = 1
        for dep in sorted(graph[mod]):
            if state.get(dep) == 1:
                raise AssertionError("import cycle: " + " -> ".join(path[path.index(dep) :] + (dep,)))
            if dep not in state:
                visit(dep, path + (dep,))
        state[mod] = 2

    for mod in sorted(graph):
        if mod not in state:
            visit(mod, (mod,))


def test_no_default_argument_binds_stderr_at_import():
    """`log=sys.stderr` as a default keeps the stream of import time: once that stream is replaced and
    closed (pytest's capture, a notebook, a daemon), every later call writes to a closed file. Log
    streams default to None and are looked up per call."""
    offenders = []
    for path in sorted(SRC.rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda)):
                for default in node.args.defaults + [d for d in node.args.kw_defaults if d is not None]:
                    if ast.unparse(default) in ("sys.stderr", "sys.stdout"):
                        offenders.append(f"{path.relative_to(SRC)}:{node.lineno}")
    assert not offenders, f"default arguments bound to sys.stderr/stdout at import: {offenders}"
