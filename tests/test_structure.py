"""The shape of the package (issue 19): rooms of one concept (no module over 400 lines, no function over 60), no import
circle anywhere, no import inside a function to dodge one in the page, and imports that flow one way, as STYLE.md
draws the layers."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PACKAGE = ROOT / "playground"
MODULES = sorted(PACKAGE.rglob("*.py"))
MAX_MODULE_LINES = 400
MAX_FUNCTION_LINES = 60
# Being reworked by another change of issue 19 (the "catalogue" helper: the contract's models and the price table,
# and the CLI): exempt until it lands, so the two changes do not edit the same lines.
EXEMPT: set[str] = set()

# STYLE.md's layers, top to bottom: a module may import its own layer and those below, never one above. The local
# API is a separate program beside them: it may share the bottom layer (sizes, ranges, statuses, signatures).
LAYERS = [
    {"web", "__main__"},                                          # the served app and the command line
    {"ui"},                                                       # the page
    {"drafts", "report"},                                         # the page's sweeps and finals; tables and plots
    {"session", "sweep"},                                         # who pays, runs, history; sweep plans and runs
    {"receiver", "runner", "pipeline", "backend"},                # one request to a video; many under one scheduler
    {"client", "jobs", "caps", "media", "identity", "snippets"},  # HTTP, the ledger, budgets, videos on disk
    {"contract", "pricing", "images", "netsafe", "webhooks", "progress", "status", "videotags", "errors"},
]
SEPARATE = {"local", "samples"}
LAYER_OF = {name: rank for rank, names in enumerate(LAYERS) for name in names}


def module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


NAMES = {module_name(p): p for p in MODULES}


def imported(path: Path, *, inside_functions: bool | None = None, name: str | None = None) -> set[str]:
    """The playground modules ``path`` (the module ``name``) imports; a name imported from a package is that
    submodule when it is one. ``inside_functions``: only those imported in a function body (True), only the module's
    own (False), or all."""
    name, tree = name or module_name(path), ast.parse(path.read_text())
    package = name if path.name == "__init__.py" else name.rsplit(".", 1)[0]
    in_function = {id(n) for f in ast.walk(tree) if isinstance(f, (ast.FunctionDef, ast.AsyncFunctionDef))
                   for n in ast.walk(f) if n is not f}
    found = set()
    for node in ast.walk(tree):
        if inside_functions is not None and (id(node) in in_function) != inside_functions:
            continue
        if isinstance(node, ast.Import):
            targets = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = ".".join(package.split(".")[:len(package.split(".")) - node.level + 1]) if node.level else ""
            module = ".".join(p for p in (base, node.module or "") if p)
            targets = [f"{module}.{a.name}" if f"{module}.{a.name}" in NAMES else module for a in node.names]
        else:
            continue
        for target in targets:
            while target not in NAMES and "." in target:
                target = target.rsplit(".", 1)[0]
            if target in NAMES and target != name:
                found.add(target)
    return found


def top(name: str) -> str:
    return name.split(".")[1] if "." in name else name


def cycle_in(graph: dict[str, set[str]]) -> list[str] | None:
    """One import circle of ``graph`` (module -> modules it imports), or None."""
    state: dict[str, int] = {}
    path: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        path.append(node)
        for nxt in sorted(graph.get(node, ())):
            if state.get(nxt) == 1:
                return path[path.index(nxt):] + [nxt]
            if nxt not in state and (found := visit(nxt)):
                return found
        path.pop()
        state[node] = 2
        return None

    return next((c for n in sorted(graph) if n not in state and (c := visit(n))), None)


@pytest.mark.parametrize("path", [p for p in MODULES if p.name not in EXEMPT or p.parent != PACKAGE],
                         ids=lambda p: str(p.relative_to(PACKAGE)))
def test_no_module_is_over_400_lines(path):
    assert len(path.read_text().splitlines()) <= MAX_MODULE_LINES


def test_no_function_is_over_60_lines():
    long = [f"{path.relative_to(PACKAGE)}: {node.name} ({node.end_lineno - node.lineno + 1} lines)"
            for path in MODULES if path.name not in EXEMPT or path.parent != PACKAGE
            for node in ast.walk(ast.parse(path.read_text()))
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef))
            and node.end_lineno - node.lineno + 1 > MAX_FUNCTION_LINES]
    assert not long


def test_there_is_no_import_circle_anywhere_in_the_package():
    graph = {name: imported(path) for name, path in NAMES.items()}
    assert cycle_in(graph) is None
    # Imports inside functions too: a circle closed there is still a circle.
    both = {name: graph[name] | imported(path, inside_functions=True) for name, path in NAMES.items()}
    assert cycle_in(both) is None


def test_the_page_imports_nothing_inside_its_functions_and_its_context_nothing_of_the_page():
    ui = [p for p in MODULES if p.parent == PACKAGE / "ui"]
    assert not {str(p.name): imported(p, inside_functions=True) for p in ui if imported(p, inside_functions=True)}
    assert not {n for n in imported(PACKAGE / "ui" / "context.py") if n.startswith("playground.ui")}
    # All wiring in one place: only events.py binds a handler to an event.
    binders = {p.name for p in ui if "bind(" in p.read_text().replace("def bind(", "")}
    assert binders == {"events.py"}


def test_imports_flow_one_way_down_the_layers():
    assert {top(n) for n in NAMES if n != "playground"} == set(LAYER_OF) | SEPARATE
    upward = [f"{name} imports {target}" for name, path in NAMES.items() if top(name) in LAYER_OF
              for target in imported(path) if top(target) in LAYER_OF
              and LAYER_OF[top(target)] < LAYER_OF[top(name)]]
    assert not upward
    local = {top(t) for n, p in NAMES.items() if top(n) == "local" for t in imported(p)} - {"local"}
    assert local <= LAYERS[-1] and "client" not in local


def test_the_checker_sees_a_circle_and_an_import_inside_a_function(tmp_path):
    assert cycle_in({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert cycle_in({"a": {"b"}, "b": set()}) is None
    sneaky = tmp_path / "sneaky.py"
    sneaky.write_text("def f():\n    from .handlers import run\n    from ..drafts import run_sweep\n")
    name = "playground.ui.sneaky"
    assert imported(sneaky, inside_functions=True, name=name) == {"playground.ui.handlers", "playground.drafts"}
    assert imported(sneaky, inside_functions=False, name=name) == set()
