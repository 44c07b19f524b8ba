"""Ingest with MLBUS_INGEST_PUBLISH_V2: v1 consumers see exactly what they saw before."""

from __future__ import annotations

from typing import Any

from faststream.kafka import KafkaBroker, TestKafkaBroker

from contracts import (
    HOUSE_PRICES,
    NumericFeature,
    RecordIngested,
    RecordIngestedV2,
    records_v2_topic,
)
from mlbus.datagen import RecordGenerator
from services.common.settings import KafkaSettings
from services.ingest.app import create_app
from services.ingest.config import Settings

# The house spec, but a missing area takes 1,500: v2 says which features were imputed.
SPEC = HOUSE_PRICES.model_copy(
    update={
        "features": (
            NumericFeature(name="area", min=100, nullable=True, impute=1500),
            *HOUSE_PRICES.features[1:],
        )
    }
)


async def test_v2_is_published_beside_an_unchanged_v1() -> None:
    settings = Settings(kafka=KafkaSettings(topic_prefix="svc-v2."), publish_v2=True, spec=SPEC)
    topics = settings.kafka.topics
    broker: KafkaBroker = create_app(settings, in_memory=True).state.broker
    v1_seen: list[RecordIngested] = []
    v2_seen: list[dict[str, Any]] = []

    @broker.subscriber(topics.records)  # a v1 consumer, as the trainer is
    async def v1_consumer(event: RecordIngested) -> None:
        v1_seen.append(event)

    @broker.subscriber(records_v2_topic(topics))
    async def v2_consumer(body: dict[str, Any]) -> None:
        v2_seen.append(body)

    record = RecordGenerator(seed=4).record()
    del record["area"]
    async with TestKafkaBroker(broker) as test_broker:
        await test_broker.publish(record, topics.raw, partition=1)

    [v1] = v1_seen
    [v2] = [RecordIngestedV2.model_validate(body) for body in v2_seen]
    assert v1.kind == "record.ingested.v1"
    assert v1.features["area"] == 1500.0
    assert v2.to_v1() == v1  # same record, same event id
    assert (v2.imputed, v2.source, v2.partition, v2.offset) == (("area",), topics.raw, 1, 0)
