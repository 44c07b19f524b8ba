"""Who may import whom, read from the source (function-level imports too).

contracts import only pydantic; a service imports no other service (services.common is
shared); mlbus reaches into services only through services.common; product code imports
nothing from tests/; and mlbus's modules import each other without a cycle.
"""

from __future__ import annotations

import ast
import sys
from collections.abc import Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PRODUCT = ("contracts", "services", "mlbus")
TEST_SUPPORT = {path.stem for path in (ROOT / "tests" / "support").glob("*.py")}


def module_name(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imports(path: Path) -> Iterator[str]:
    """The absolute modules `path` imports; `from a import b` gives both a and a.b."""
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            yield from (alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            yield node.module
            yield from (f"{node.module}.{alias.name}" for alias in node.names)


def sources(package: str) -> list[Path]:
    return sorted((ROOT / package).rglob("*.py"))


def test_contracts_import_only_pydantic_and_the_standard_library() -> None:
    allowed = {"pydantic", "contracts", "__future__", *sys.stdlib_module_names}
    found = {
        (module_name(path), name)
        for path in sources("contracts")
        for name in imports(path)
        if name.split(".")[0] not in allowed
    }
    assert found == set()


def test_a_service_imports_no_other_service() -> None:
    found = set()
    for path in sources("services"):
        own = path.relative_to(ROOT / "services").parts[0]
        for name in imports(path):
            parts = name.split(".")
            if parts[0] == "services" and len(parts) > 1 and parts[1] not in (own, "common"):
                found.add((module_name(path), name))
    assert found == set()


def test_mlbus_reaches_services_only_through_services_common() -> None:
    found = {
        (module_name(path), name)
        for path in sources("mlbus")
        for name in imports(path)
        if name.startswith("services.") and not name.startswith("services.common")
    }
    assert found == set()


def test_product_code_imports_nothing_from_tests() -> None:
    assert {"accounting", "drift_oracle"} <= TEST_SUPPORT
    found = {
        (module_name(path), name)
        for package in PRODUCT
        for path in sources(package)
        for name in imports(path)
        if name.split(".")[0] in {"tests", *TEST_SUPPORT}
    }
    assert found == set()


def test_mlbus_modules_import_each_other_without_a_cycle() -> None:
    modules = {module_name(path): path for path in sources("mlbus")}
    graph = {
        name: {target for target in imports(path) if target in modules and target != name}
        for name, path in modules.items()
    }
    assert _cycles(graph) == []


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Every cycle met by a depth-first walk, as the path that closes it."""
    found: list[list[str]] = []
    done: set[str] = set()

    def visit(node: str, path: list[str]) -> None:
        if node in path:
            found.append([*path[path.index(node) :], node])
            return
        if node in done:
            return
        for target in sorted(graph[node]):
            visit(target, [*path, node])
        done.add(node)

    for node in sorted(graph):
        visit(node, [])
    return found
