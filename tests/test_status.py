"""One vocabulary of statuses: every status a job can have is named once, in playground/status.py, and a ledger row
moves only along the table of allowed moves there."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

from playground import status

PACKAGE = Path(status.__file__).parent
STATUSES = {v for k, v in vars(status).items() if k.isupper() and isinstance(v, str)}
SQL = re.compile(r"\b(SELECT|UPDATE|INSERT|DELETE|WHERE)\b")
QUOTED = re.compile(r"'(" + "|".join(sorted(STATUSES)) + r")'")


def _statusish(node: ast.AST) -> bool:
    """An expression that holds a status: ``status``, ``job.status``, ``row["status"]``, ``row.get("status")``."""
    if isinstance(node, ast.Name):
        return "status" in node.id.lower()
    if isinstance(node, ast.Attribute):
        return "status" in node.attr.lower()
    if isinstance(node, ast.Subscript):
        return isinstance(node.slice, ast.Constant) and node.slice.value == "status"
    if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr == "get":
        return bool(node.args) and isinstance(node.args[0], ast.Constant) and node.args[0].value == "status"
    return False


def _strings(node: ast.AST | None) -> list[str]:
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return [node.value]
    if isinstance(node, (ast.Tuple, ast.List, ast.Set)):
        return [s for e in node.elts for s in _strings(e)]
    if isinstance(node, ast.IfExp):
        return _strings(node.body) + _strings(node.orelse)
    return []


def _used_as_status(node: ast.AST) -> list[str]:
    """The status literals ``node`` uses where a status is meant."""
    if isinstance(node, ast.Compare) and any(_statusish(o) for o in (node.left, *node.comparators)):
        return [s for o in (node.left, *node.comparators) for s in _strings(o)]
    if isinstance(node, ast.keyword) and node.arg and "status" in node.arg:
        return _strings(node.value)
    if isinstance(node, ast.Dict):
        pairs = zip(node.keys, node.values, strict=True)
        return [s for k, v in pairs if _strings(k) == ["status"] for s in _strings(v)]
    if isinstance(node, (ast.Assign, ast.AnnAssign)):
        targets = node.targets if isinstance(node, ast.Assign) else [node.target]
        return _strings(node.value) if any(_statusish(t) for t in targets) else []
    if isinstance(node, ast.BoolOp) and any(_statusish(v) for v in node.values):
        return [s for v in node.values for s in _strings(v)]
    if isinstance(node, ast.Call) and _statusish(node):
        return _strings(node.args[1]) if len(node.args) > 1 else []
    if isinstance(node, (ast.Tuple, ast.List, ast.Set)) and len(node.elts) > 1:
        values = _strings(node)
        return values if len(values) == len(node.elts) and set(values) <= STATUSES else []
    if isinstance(node, ast.Constant) and isinstance(node.value, str) and SQL.search(node.value):
        return QUOTED.findall(node.value)
    return []


def status_literals(source: str) -> list[tuple[int, str]]:
    """(line, status) for every status written as a literal where a status is meant."""
    found = []
    for node in ast.walk(ast.parse(source)):
        for value in _used_as_status(node):
            if value in STATUSES:
                found.append((getattr(node, "lineno", 0), value))
    return sorted(set(found))


def test_the_check_finds_status_literals_in_comparisons_arguments_tables_and_sql():
    source = '''
if job.status == "completed" or row.get("status", "failed") != "failed": pass
ledger.update(1, status="lost")
db.execute("UPDATE jobs SET x = 1 WHERE status = 'pending'")
MAY = ("created", "processing")
state = {"status": "unknown"}
status: str = "rejected"
kind = data.get("status") or "created"
PHASE = "processing"              # a phase, not a status
END = frozenset({"done", "failed"})
'''
    assert status_literals(source) == [(2, "completed"), (2, "failed"), (3, "lost"), (4, "pending"),
                                       (5, "created"), (5, "processing"), (6, "unknown"), (7, "rejected"),
                                       (8, "created")]


def test_no_status_literal_outside_status_py():
    # local/ is the embedded API, a separate program with its own task states (local/tasks.py).
    offenders = []
    for path in sorted(PACKAGE.rglob("*.py")):
        rel = path.relative_to(PACKAGE)
        if rel.name == "status.py" or rel.parts[0] == "local":
            continue
        offenders += [f"playground/{rel}:{line}: {value!r}" for line, value in status_literals(path.read_text())]
    assert not offenders, "statuses written as literals; use the names in playground/status.py:\n" + \
        "\n".join(offenders)


def test_no_move_goes_back_and_an_ended_row_stays_ended():
    order = [status.PENDING, status.UNKNOWN, status.CREATED, status.PROCESSING]
    for i, before in enumerate(order):
        assert not set(order[:i]) & status.MOVES[before], f"{before} may move back"
    for ended in (*status.TERMINAL, status.REJECTED, status.LOST):
        assert status.MOVES[ended] == frozenset()
    assert set(status.MOVES) == STATUSES - {status.ERROR}  # every ledger status has a row; ERROR is a sweep's
    assert status.allowed_before(status.REJECTED) == (status.PENDING, status.REJECTED)
    with pytest.raises(ValueError, match="not a ledger status"):
        status.allowed_before("done")
