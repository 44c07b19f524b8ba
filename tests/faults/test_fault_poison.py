"""Fault 5: poisoned and oversized messages are dead-lettered or refused; partitions move on."""

from __future__ import annotations

import json
import re
import time
from collections.abc import Callable

import httpx
import pytest
from aiokafka import AIOKafkaProducer
from aiokafka.errors import KafkaError, MessageSizeTooLargeError

from contracts import HOUSE_PRICES, Topics
from mlbus.bus import publish_all
from mlbus.datagen import RecordGenerator
from mlbus.runner import Stack
from tests.support.accounting import account, read_all, wait_until_processed

pytestmark = pytest.mark.e2e

ONE_MB = 1024 * 1024
# Things that make a naive handler raise: bad UTF-8, nesting past the recursion limit,
# the wrong JSON type, a record bigger than a dead-letter event may carry.
POISON_RAW = (
    b"\xff\xfe\x00garbage",
    b"[" * 100_000,
    b"null",
    json.dumps({"record_id": "poison-huge", "area": "x" * 900_000}).encode(),
)


def _features() -> dict[str, object]:
    record = next(RecordGenerator(HOUSE_PRICES, seed=9).records(1, labelled=False))
    return {name: value for name, value in record.items() if name != "record_id"}


POISON_REQUESTS = (
    b"\x00\x01 not json",
    b'{"kind": "prediction.requested.v1"}',
    json.dumps(
        {"record_id": "poison-req", "dataset": "house-prices", "features": {"area": "huge"}}
    ).encode(),
    # A valid request within Kafka's 1 MiB message limit, but its prediction (which echoes the
    # features) would not be: it must be dead-lettered, with a bounded original.
    json.dumps(
        {
            "record_id": "poison-big",
            "dataset": "house-prices",
            "features": {**_features(), "note": "y" * 1_047_400},
        }
    ).encode(),
)
POISON_RESULTS = (b"{not json", b'{"kind": "prediction.made.v1", "record_id": 1}')


async def test_a_message_over_the_producer_limit_is_refused_with_a_clear_error(
    trained_stack: Stack,
) -> None:
    topics = Topics.with_prefix(trained_stack.config.topic_prefix)
    with pytest.raises(MessageSizeTooLargeError, match="larger than the maximum request size"):
        await publish_all(trained_stack.config.bootstrap_servers, topics.raw, [b"x" * 2 * ONE_MB])


async def test_poison_is_dead_lettered_and_the_partitions_move_on(trained_stack: Stack) -> None:
    config = trained_stack.config
    bootstrap, topics = config.bootstrap_servers, Topics.with_prefix(config.topic_prefix)
    started = time.monotonic()
    # Poison on every partition of each topic a service consumes (keys spread them).
    for partition_key in range(4):
        key = f"poison-{partition_key}"
        await publish_all(bootstrap, topics.raw, POISON_RAW, key=_always(key))
        await publish_all(bootstrap, topics.predict_requests, POISON_REQUESTS, key=_always(key))
        await publish_all(bootstrap, topics.predict_results, POISON_RESULTS, key=_always(key))
    oversized = await _publish_over_the_broker_limit(bootstrap, topics.raw)
    good = list(
        RecordGenerator(HOUSE_PRICES, seed=5, id_prefix="after-poison").records(200, labelled=False)
    )
    await publish_all(bootstrap, topics.raw, good, key=lambda r: str(r["record_id"]))

    result, waited = await wait_until_processed(
        bootstrap, config.topic_prefix, expected=len(good), record_prefix="after-poison", timeout=60
    )
    print(f"fault 5 (poison): sent {len(good)} good records after the poison; {result.summary()}")
    print(f"fault 5: time to process the good records after the poison {waited:.1f}s")
    assert result.lost == [], result.summary()
    assert result.processed == len(good)

    everything = await account(bootstrap, config.topic_prefix)
    rejected_sources = await _rejected_by_source(bootstrap, topics)
    # 4 raw poison per partition key, plus the oversized one if the broker took it.
    assert rejected_sources.get(topics.raw, 0) >= 4 * len(POISON_RAW) + (1 if oversized else 0)
    assert rejected_sources.get(topics.predict_requests, 0) >= 4 * len(POISON_REQUESTS)
    assert everything.unstable_ids == {}
    # The monitor has no dead-letter topic: it skips and counts what it cannot read.
    metrics = httpx.get(config.url("monitor") + "/metrics").text
    invalid = re.search(r"^mlbus_monitor_invalid_messages_total (\S+)$", metrics, re.M)
    assert invalid is not None, metrics[-2000:]
    assert float(invalid[1]) >= 4 * len(POISON_RESULTS), metrics[-2000:]
    trained_stack.check_alive()
    print(f"fault 5: total {time.monotonic() - started:.1f}s; {everything.summary()}")


def _always(key: str) -> Callable[[object], str]:
    """A key function that puts every payload on the partition of `key`."""
    return lambda _: key


async def _publish_over_the_broker_limit(bootstrap: str, topic: str) -> bool:
    """Send 1.5 MB past the producer's own limit: True if the broker stored it."""
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, max_request_size=4 * ONE_MB)
    await producer.start()
    try:
        await producer.send_and_wait(topic, b'"' + b"y" * (3 * ONE_MB // 2) + b'"', key=b"big")
    except KafkaError as exc:  # Apache Kafka refuses it (message.max.bytes is 1 MB)
        refusal = exc
    else:
        return True
    finally:
        await producer.stop()
    assert "large" in str(refusal).lower() or "size" in str(refusal).lower(), repr(refusal)
    return False


async def _rejected_by_source(bootstrap: str, topics: Topics) -> dict[str, int]:
    messages = await read_all(bootstrap, [topics.rejected])
    counts: dict[str, int] = {}
    for value in messages[topics.rejected]:
        source = json.loads(value)["source"]  # our own RecordRejected events: always JSON
        counts[source] = counts.get(source, 0) + 1
    return counts
