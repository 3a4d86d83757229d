"""The shape issue 11 asks of the page's code: small modules and functions, and a UI that reaches the money, the
ledger and the network only through the session service."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parent.parent / "playground"
UI_MODULES = sorted((PACKAGE / "ui").glob("*.py"))
# What the page may import from the package: the session service and the pure modules below it.
ALLOWED = {"session", "drafts", "pricing", "contract", "snippets", "errors", "status"}
FORBIDDEN = {"client", "jobs", "backend", "pipeline", "runner"}


def playground_imports(path: Path) -> set[str]:
    """The top-level playground modules ``path`` imports (``playground.x`` or ``..x`` from inside playground/ui)."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found |= {a.name.split(".")[1] for a in node.names if a.name.startswith("playground.")}
        elif isinstance(node, ast.ImportFrom):
            module = node.module or ""
            if node.level == 0 and module.startswith("playground."):
                found.add(module.split(".")[1])
            elif node.level == 2:  # from ..x import y: a sibling of ui
                found |= {module.split(".")[0]} if module else {a.name for a in node.names}
    return found


def functions(path: Path):
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            yield node


def test_the_ui_package_exists_and_replaces_the_single_module():
    assert not (PACKAGE / "ui.py").exists()
    assert {p.stem for p in UI_MODULES} >= {"__init__", "layout", "handlers", "present", "endpoints"}


@pytest.mark.parametrize("path", UI_MODULES, ids=lambda p: p.name)
def test_no_ui_module_is_over_250_lines(path):
    assert len(path.read_text().splitlines()) <= 250


@pytest.mark.parametrize("path", [*UI_MODULES, *sorted((PACKAGE / "session").glob("*.py"))], ids=lambda p: p.name)
def test_no_function_of_the_page_or_the_session_is_over_60_lines(path):
    long = {f"{f.name} ({f.end_lineno - f.lineno + 1} lines)" for f in functions(path)
            if f.end_lineno - f.lineno + 1 > 60}
    assert not long


@pytest.mark.parametrize("path", UI_MODULES, ids=lambda p: p.name)
def test_the_ui_reaches_client_ledger_backend_and_pipeline_only_through_the_session(path):
    imported = playground_imports(path)
    assert not imported & FORBIDDEN
    assert imported <= ALLOWED


def test_the_import_checker_sees_a_forbidden_import(tmp_path):
    sneaky = tmp_path / "sneaky.py"
    sneaky.write_text("from ..jobs import Ledger\nimport playground.client\nfrom .. import backend\n")
    assert playground_imports(sneaky) == {"jobs", "client", "backend"}


def test_private_events_are_declared_once():
    texts = "\n".join(p.read_text() for p in UI_MODULES)
    assert texts.count('"private"') == 1 and "api_visibility=" not in texts
