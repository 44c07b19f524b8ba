"""AsyncAPI documents of the five services, from their faststream brokers.

    .venv/bin/python -m mlbus.asyncapi            # (re)write docs/asyncapi/<service>.json
    .venv/bin/faststream docs gen --factory mlbus.asyncapi:ingest --out docs/asyncapi/ingest.json

Each service's app is built with default settings (no topic prefix, documentation-only
secrets), so the documents do not depend on the environment they are generated in.
"""

from __future__ import annotations

import contextlib
import importlib
import json
import os
import sys
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING, Any

from faststream import FastStream
from faststream.specification import AsyncAPI

if TYPE_CHECKING:
    from collections.abc import Iterator

SERVICES = ("ingest", "trainer", "registry", "predictor", "monitor")
DOCS = Path(__file__).resolve().parents[1] / "docs" / "asyncapi"
_DOC_TOKEN = "asyncapi-docs-only-not-a-secret-0123456789"  # noqa: S105 (builds apps, never served)


@contextlib.contextmanager
def _documentation_environment() -> Iterator[None]:
    """Default settings only: no MLBUS_* variable of the caller leaks into the documents."""
    saved = dict(os.environ)
    with tempfile.TemporaryDirectory(prefix="mlbus-asyncapi-") as tmp:
        for name in [n for n in os.environ if n.startswith("MLBUS_")]:
            del os.environ[name]
        os.environ.update(
            {
                "MLBUS_REGISTRY_TOKEN": _DOC_TOKEN,
                "MLBUS_TRAINER_REGISTRY_TOKEN": _DOC_TOKEN,
                "MLBUS_REGISTRY_DATA_DIR": str(Path(tmp) / "registry"),
            }
        )
        try:
            yield
        finally:
            os.environ.clear()
            os.environ.update(saved)


def application(service: str) -> FastStream:
    """A FastStream app around `service`'s broker, carrying its AsyncAPI specification."""
    if service not in SERVICES:
        raise ValueError(f"unknown service {service!r}; one of {SERVICES}")
    with _documentation_environment():
        create_app = importlib.import_module(f"services.{service}.app").create_app
        broker = create_app().state.broker
    description = (importlib.import_module(f"services.{service}").__doc__ or "").strip()
    specification = AsyncAPI(
        broker, title=f"mlbus {service}", version="1.0.0", description=description
    )
    return FastStream(broker, specification=specification)


def document(service: str) -> dict[str, Any]:
    """The AsyncAPI document of `service`, as JSON-able data."""
    jsonable: dict[str, Any] = application(service).schema.to_specification().to_jsonable()
    return jsonable


def render(service: str) -> str:
    return json.dumps(document(service), indent=2, sort_keys=True) + "\n"


# Factories for `faststream docs gen --factory mlbus.asyncapi:<service>`.
def ingest() -> FastStream:
    return application("ingest")


def trainer() -> FastStream:
    return application("trainer")


def registry() -> FastStream:
    return application("registry")


def predictor() -> FastStream:
    return application("predictor")


def monitor() -> FastStream:
    return application("monitor")


def main(argv: list[str] | None = None) -> int:
    target = Path(argv[0]) if argv else DOCS
    target.mkdir(parents=True, exist_ok=True)
    for service in SERVICES:
        path = target / f"{service}.json"
        path.write_text(render(service), encoding="utf-8")
        print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
