"""Nothing in the shipped code can unpickle: no pickle-family import, no allow_pickle=True."""

from __future__ import annotations

import ast
from pathlib import Path
from typing import TypeGuard

ROOT = Path(__file__).resolve().parents[3]
PACKAGES = ("contracts", "services", "mlbus")
FORBIDDEN = {"pickle", "_pickle", "cPickle", "cloudpickle", "dill", "joblib", "shelve", "marshal"}


def sources() -> list[Path]:
    files = [path for package in PACKAGES for path in (ROOT / package).rglob("*.py")]
    assert len(files) > 30, "the scan found too few files: wrong root?"
    return files


def test_no_module_imports_a_pickle_family_module() -> None:
    offenders = [
        f"{path.relative_to(ROOT)}:{node.lineno} {name}"
        for path in sources()
        for node in ast.walk(ast.parse(path.read_text(), str(path)))
        if isinstance(node, ast.stmt | ast.expr)
        for name in imported_modules(node)
        if name.split(".")[0] in FORBIDDEN
    ]
    assert offenders == []


def test_no_call_enables_pickle_loading() -> None:
    offenders = [
        f"{path.relative_to(ROOT)}:{node.lineno}"
        for path in sources()
        for node in ast.walk(ast.parse(path.read_text(), str(path)))
        if isinstance(node, ast.keyword)
        and node.arg == "allow_pickle"
        and not (isinstance(node.value, ast.Constant) and node.value.value is False)
    ]
    assert offenders == []


def imported_modules(node: ast.AST) -> list[str]:
    """The modules an import statement or an `__import__("name")` call names."""
    if isinstance(node, ast.Import):
        return [alias.name for alias in node.names]
    if isinstance(node, ast.ImportFrom):
        return [node.module] if node.module else []
    if _is_dunder_import(node) and isinstance(node.args[0], ast.Constant):
        return [str(node.args[0].value)]
    return []


def _is_dunder_import(node: ast.AST) -> TypeGuard[ast.Call]:
    return (
        isinstance(node, ast.Call)
        and isinstance(node.func, ast.Name)
        and node.func.id == "__import__"
        and bool(node.args)
    )
