"""Run by a service's own venv (`uv sync --no-dev --extra SERVICE`), not by the test's Python.

Imports `services.SERVICE.app` (what the image's `python -m services.SERVICE` does first),
then resolves every module that the service's code, `services.common` and `contracts` import
anywhere (function-level imports too: a lazy import fails only on the path that needs it;
not those under `if TYPE_CHECKING:`, which only type checkers read).
Prints JSON: the import error of the app (or null), the modules that cannot be found, and the
distributions that provide the third-party modules the code imports.
"""

from __future__ import annotations

import ast
import importlib
import importlib.metadata
import importlib.util
import json
import sys
import traceback
from pathlib import Path


def imported_top_levels(package_dirs: list[Path]) -> set[str]:
    names: set[str] = set()
    for package_dir in package_dirs:
        for source in package_dir.rglob("*.py"):
            for node in _run_time_nodes(ast.parse(source.read_text(), str(source))):
                if isinstance(node, ast.Import):
                    names.update(alias.name.split(".")[0] for alias in node.names)
                elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                    names.add(node.module.split(".")[0])
    return names - {"__future__"}


def _run_time_nodes(node: ast.AST) -> list[ast.AST]:
    """Every node below `node` except the bodies of `if TYPE_CHECKING:`, which never run."""
    found: list[ast.AST] = []
    for child in ast.iter_child_nodes(node):
        found.append(child)
        if isinstance(child, ast.If) and _is_type_checking(child.test):
            found.extend(n for branch in child.orelse for n in [branch, *_run_time_nodes(branch)])
            continue
        found.extend(_run_time_nodes(child))
    return found


def _is_type_checking(test: ast.expr) -> bool:
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def main(service: str, source_root: Path) -> None:
    app_error = None
    try:
        importlib.import_module(f"services.{service}.app")
    except Exception:
        app_error = traceback.format_exc(limit=3)
    dirs = [source_root / "services" / service, source_root / "services" / "common"]
    dirs.append(source_root / "contracts")
    modules = imported_top_levels(dirs)
    missing = sorted(name for name in modules if importlib.util.find_spec(name) is None)
    providers = importlib.metadata.packages_distributions()
    outside_stdlib = modules - set(sys.stdlib_module_names)
    third_party = sorted({dist for name in outside_stdlib for dist in providers.get(name, [])})
    print(json.dumps({"app_error": app_error, "missing": missing, "distributions": third_party}))


if __name__ == "__main__":
    main(sys.argv[1], Path(sys.argv[2]))
