"""Run by a service's own venv (`uv sync --no-dev --extra SERVICE`), not by the test's Python.

Imports `services.SERVICE.app` (what the image's `python -m services.SERVICE` does first),
then resolves every module that the service's code, `services.common` and `contracts` import
anywhere (function-level imports too: a lazy import fails only on the path that needs it).
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
            for node in ast.walk(ast.parse(source.read_text(), str(source))):
                if isinstance(node, ast.Import):
                    names.update(alias.name.split(".")[0] for alias in node.names)
                elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                    names.add(node.module.split(".")[0])
    return names - {"__future__"}


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
