"""The AsyncAPI documents under docs/asyncapi/ are those the services' brokers generate now."""

from __future__ import annotations

import json

import pytest

from mlbus.asyncapi import DOCS, SERVICES, document, render


@pytest.mark.parametrize("service", SERVICES)
def test_the_checked_in_asyncapi_document_is_up_to_date(service: str) -> None:
    path = DOCS / f"{service}.json"
    assert path.exists(), f"missing {path}: run .venv/bin/python -m mlbus.asyncapi"
    assert path.read_text(encoding="utf-8") == render(service), (
        f"{path} is stale: run .venv/bin/python -m mlbus.asyncapi and check in the result"
    )


def test_the_ingest_document_names_its_input_and_every_output() -> None:
    spec = document("ingest")
    assert spec["asyncapi"].startswith("3.")
    addresses = {channel["address"] for channel in spec["channels"].values()}
    assert addresses == {
        "ingest.raw.v1",
        "ingest.records.v1",
        "predict.requests.v1",
        "ingest.rejected.v1",
    }
    schemas = json.dumps(spec["components"]["schemas"])
    assert "record.rejected.v1" in schemas
    assert "record.ingested.v1" in schemas
