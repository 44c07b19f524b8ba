"""The trainer on the session's broker learns data sets from the specs topic and trains each."""

from __future__ import annotations

import asyncio

import pytest

from contracts import TrainModel
from mlbus.brokers import Broker
from mlbus.bus import publish_all
from services.common.settings import KafkaSettings
from services.trainer.app import create_app
from services.trainer.registry_client import RegistryClient
from tests.e2e.test_end_offsets import create_topic
from tests.service.trainer.conftest import FakeRegistry
from tests.support.polling import eventually
from tests.support.spec_samples import churn, registered, rentals
from tests.unit.trainer.trainer_samples import labelled_records, trainer_settings

pytestmark = [pytest.mark.e2e]

TIMEOUT = 40.0


async def test_data_sets_announced_before_and_after_start_are_trained(
    broker: Broker, topic_prefix: str
) -> None:
    bootstrap = broker.bootstrap_servers
    kafka = KafkaSettings(bootstrap_servers=bootstrap, topic_prefix=topic_prefix)
    topics = kafka.topics
    for topic in (topics.specs, topics.records, topics.trainer_commands, topics.drift):
        await create_topic(bootstrap, topic)
    await publish_all(bootstrap, topics.specs, [registered(rentals())], key=lambda _: "rentals")
    settings = trainer_settings(kafka=kafka, estimator="linear", min_records=100)
    registry = FakeRegistry()
    uploader = RegistryClient(
        "http://registry", settings.registry_token, transport=registry.transport()
    )
    app = create_app(settings, uploader=uploader)

    async with app.router.lifespan_context(app):
        # churn's records come before the trainer learns churn: they are held, then trained.
        records = [*labelled_records(120, spec=rentals()), *labelled_records(110, spec=churn())]
        await publish_all(bootstrap, topics.records, records, key=lambda r: r.record_id)
        await publish_all(bootstrap, topics.specs, [registered(churn())], key=lambda _: "churn")
        await eventually(
            lambda: _buffered(app.state.datasets.status()),
            what="both data sets buffered",
            until=lambda buffered: buffered == {"churn": 110, "house-prices": 0, "rentals": 120},
            timeout=TIMEOUT,
        )
        commands = [TrainModel(dataset="churn"), TrainModel(dataset="rentals")]
        await publish_all(bootstrap, topics.trainer_commands, commands)
        await eventually(
            lambda: _uploaded(registry),
            what="a model of each data set",
            until=lambda uploaded: uploaded == {"churn": 110, "rentals": 120},
            timeout=TIMEOUT,
        )


async def _buffered(status: dict[str, object]) -> dict[str, int]:
    datasets = status["datasets"]
    assert isinstance(datasets, dict)
    return {name: int(s["records_buffered"]) for name, s in datasets.items()}


async def _uploaded(registry: FakeRegistry) -> dict[str, int]:
    await asyncio.sleep(0)
    return {v.card.model_name: v.card.snapshot_size for _, v in registry.versions}
