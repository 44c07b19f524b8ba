"""/readyz sees progress: a consumer stuck on one record turns it red, saying which and why."""

from __future__ import annotations

import asyncio
import re
from typing import Any

import httpx
import pytest
from faststream import AckPolicy
from faststream.message import StreamMessage
from prometheus_client import CollectorRegistry

from mlbus.brokers import Broker
from mlbus.bus import publish_all
from services.common.broker import make_broker
from services.common.http import service_app
from services.common.settings import KafkaSettings

# What brokers do differently: on tansu (test-fast) as well as Apache Kafka (test-kafka).
pytestmark = [pytest.mark.e2e, pytest.mark.both_brokers]

STALL_SECONDS = 2.0


async def test_readyz_turns_red_and_says_why_when_a_consumer_makes_no_progress(
    broker: Broker, topic_prefix: str
) -> None:
    settings = KafkaSettings(bootstrap_servers=broker.bootstrap_servers, topic_prefix=topic_prefix)
    registry = CollectorRegistry()
    kafka = make_broker(settings, client_id="mlbus-stuck", registry=registry)
    topic = f"{topic_prefix}stuck"
    handled: list[bytes] = []

    @kafka.subscriber(
        topic,
        group_id=f"{topic_prefix}stuck",
        auto_offset_reset="earliest",
        ack_policy=AckPolicy.NACK_ON_ERROR,
        fetch_max_wait_ms=10,
        decoder=_raw_body,
    )
    async def stuck(body: bytes) -> None:
        if body == b'"poison"':  # handed back and delivered again, for ever
            await asyncio.sleep(0.05)
            raise ConnectionError("this record never gets through")
        handled.append(body)

    app = service_app("stuck", kafka, registry, stall_seconds=STALL_SECONDS)
    transport = httpx.ASGITransport(app=app)
    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(transport=transport, base_url="http://stuck") as client,
    ):
        await _until(lambda: _ready(client, 200), "the service is ready")
        await publish_all(broker.bootstrap_servers, topic, [b'"fine"'])
        await _until(lambda: _handled(handled), "the good record is handled and committed")
        await asyncio.sleep(1)  # its offset committed, then the poison
        await publish_all(broker.bootstrap_servers, topic, [b'"poison"'])
        answer = await _until(lambda: _ready(client, 503), "/readyz turns red", timeout=30)
        [why] = answer["stalled"]
        assert re.fullmatch(
            rf"consumer {re.escape(topic)} has 1 records waiting and its offsets have not moved"
            rf" for \d+s \(limit 2s\)",
            why,
        ), why
        metrics = (await client.get("/metrics")).text
        assert f'mlbus_consumer_stalled{{consumer="{topic}"}} 1.0' in metrics
        assert f'mlbus_consumer_lag{{consumer="{topic}"}} 1.0' in metrics


async def _raw_body(message: StreamMessage[Any]) -> Any:
    return message.body


async def _ready(client: httpx.AsyncClient, status: int) -> dict[str, object] | None:
    answer = await client.get("/readyz")
    return dict(answer.json()) if answer.status_code == status else None


async def _handled(handled: list[bytes]) -> bool | None:
    return True if handled else None


async def _until(check, what: str, timeout: float = 30.0):  # type: ignore[no-untyped-def]
    async with asyncio.timeout(timeout):
        while (found := await check()) is None:
            await asyncio.sleep(0.2)
    assert found is not None, what
    return found
