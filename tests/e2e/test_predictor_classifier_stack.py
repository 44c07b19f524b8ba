"""A classifier through the real registry and predictor processes on a real broker: checked on
upload, served with every class's probability, and its threshold changed by editing the spec
and restarting the predictor, without retraining."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from contracts import ClassificationMade, DatasetSpec, PredictionRequested, Topics
from mlbus.brokers import Broker
from mlbus.bus import ensure_topics, publish_all, read_topic
from mlbus.runner import Stack, StackConfig
from tests.support.classifiers import (
    BINARY,
    built_classifier,
    classification_spec,
    classifier_card,
    feature_rows,
)

pytestmark = pytest.mark.e2e

SPEC = classification_spec(BINARY, name="churn-e2e")
ROWS = feature_rows(60, seed=11)


@pytest.fixture(scope="module")
def stack(broker: Broker, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    """The registry and the predictor only, both serving SPEC (the registry checks uploads)."""
    workdir = tmp_path_factory.mktemp("classifier-e2e")
    spec_path = workdir / "spec.json"
    _write_spec(spec_path, SPEC)
    config = StackConfig.with_free_ports(
        broker.bootstrap_servers,
        workdir,
        topic_prefix=f"c{uuid.uuid4().hex[:10]}.",
        extra_env={"MLBUS_PREDICTOR_POLL_SECONDS": "0.2"},
    )
    config.spec_path = spec_path
    topics = Topics.with_prefix(config.topic_prefix).all()
    asyncio.run(ensure_topics(config.bootstrap_servers, topics))
    stack = Stack(config)
    stack.log_dir.mkdir(parents=True, exist_ok=True)
    try:
        for name in ("registry", "predictor"):
            stack.start_service(name)
        stack.wait_service_ready("registry", timeout=90)
        yield stack
    finally:
        stack.stop()


def _write_spec(path: Path | None, spec: DatasetSpec) -> None:
    assert path is not None
    path.write_text(spec.model_dump_json())


def _upload(stack: Stack, card_spec: DatasetSpec, classes: tuple[str, ...]) -> httpx.Response:
    built = built_classifier(BINARY)
    card = classifier_card(card_spec, classes)
    return httpx.post(
        f"{stack.config.url('registry')}/models/{SPEC.name}/versions",
        headers={"Authorization": f"Bearer {stack.config.registry_token}"},
        files={"artifact": ("m.onnx", built.onnx, "application/octet-stream")},
        data={"card": card.model_dump_json()},
        timeout=30,
    )


def _classify(stack: Stack, prefix: str) -> dict[str, ClassificationMade]:
    """ROWS sent as requests whose ids start with `prefix`; their classifications by row."""
    config = stack.config
    requests = [
        PredictionRequested(record_id=f"{prefix}{i:03d}", dataset=SPEC.name, features=row)
        for i, row in enumerate(ROWS)
    ]
    topic = config.topic_prefix + "predict.requests.v1"
    asyncio.run(publish_all(config.bootstrap_servers, topic, requests, key=lambda r: r.record_id))

    def mine(messages: list[dict[str, Any]]) -> list[dict[str, Any]]:
        return [m for m in messages if str(m.get("record_id", "")).startswith(prefix)]

    messages = asyncio.run(
        read_topic(
            config.bootstrap_servers,
            config.topic_prefix + "predict.results.v1",
            until=lambda ms: len({m["record_id"] for m in mine(ms)}) >= len(ROWS),
            timeout=60,
        )
    )
    made = [ClassificationMade.model_validate(m) for m in mine(messages)]
    return {m.record_id.removeprefix(prefix): m for m in made}


def test_a_classifier_is_served_and_its_threshold_changes_with_the_spec(stack: Stack) -> None:
    wrong = _upload(stack, SPEC, ("no", "maybe"))
    assert wrong.status_code == 422
    assert "['maybe'] are not classes" in wrong.text
    assert _upload(stack, SPEC, built_classifier(BINARY).classes).status_code == 201
    stack.wait_service_ready("predictor", timeout=60)

    at_half = _classify(stack, "half-")
    assert len(at_half) == len(ROWS)
    for made in at_half.values():
        assert made.threshold == 0.5
        assert sum(made.probabilities.values()) == pytest.approx(1.0, abs=1e-5)
        assert made.prediction == ("yes" if made.probabilities["yes"] >= 0.5 else "no")
    answer = httpx.post(
        stack.config.url("predictor") + "/predict", json={"features": ROWS[0]}, timeout=10
    ).json()
    assert answer["predictions"][0]["probabilities"] == pytest.approx(
        at_half["000"].probabilities, abs=1e-6
    )

    stack.stop_service("predictor")
    _write_spec(stack.config.spec_path, classification_spec(BINARY, name=SPEC.name, threshold=0.9))
    stack.start_service("predictor")
    stack.wait_service_ready("predictor", timeout=60)
    at_nine_tenths = _classify(stack, "strict-")
    flipped = 0
    for row, made in at_nine_tenths.items():
        assert made.threshold == 0.9
        assert made.probabilities == pytest.approx(at_half[row].probabilities, abs=1e-6)
        assert made.prediction == ("yes" if made.probabilities["yes"] >= 0.9 else "no")
        flipped += made.prediction != at_half[row].prediction
    assert flipped > 0  # the same model (v1), other decisions
    assert {m.model_version for m in at_nine_tenths.values()} == {1}
