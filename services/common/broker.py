"""The faststream Kafka broker, built from settings the same way in every service."""

from __future__ import annotations

import ssl
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any, Literal

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from faststream.kafka import KafkaBroker
from faststream.kafka.prometheus import KafkaPrometheusMiddleware
from faststream.kafka.subscriber.usecase import BatchSubscriber
from faststream.security import BaseSecurity, SASLPlaintext, SASLScram256, SASLScram512

if TYPE_CHECKING:
    from prometheus_client import CollectorRegistry

    from services.common.settings import KafkaSettings


def security_from(settings: KafkaSettings) -> BaseSecurity | None:
    """faststream security object for the configured protocol; None for PLAINTEXT."""
    protocol = settings.security_protocol
    if protocol == "PLAINTEXT":
        return None
    context = ssl.create_default_context(cafile=settings.ssl_cafile) if "SSL" in protocol else None
    if protocol == "SSL":
        return BaseSecurity(ssl_context=context)
    password = settings.sasl_password.get_secret_value() if settings.sasl_password else ""
    username = settings.sasl_username or ""
    sasl: dict[str, Any] = {"username": username, "password": password, "ssl_context": context}
    match settings.sasl_mechanism:
        case "SCRAM-SHA-256":
            return SASLScram256(**sasl)
        case "SCRAM-SHA-512":
            return SASLScram512(**sasl)
        case _:
            return SASLPlaintext(**sasl)


# Prefix of the per-handler message metrics faststream's middleware exports in every service:
# mlbus_bus_received_messages_total, mlbus_bus_received_processed_messages_total{status},
# mlbus_bus_received_processed_messages_duration_seconds (histogram),
# mlbus_bus_received_processed_messages_exceptions_total{exception_type},
# mlbus_bus_published_messages_total{destination,status}, ... labelled app_name (the service),
# broker ("kafka") and handler (the topic consumed).
BUS_METRICS_PREFIX = "mlbus_bus"


def make_broker(
    settings: KafkaSettings, client_id: str, *, registry: CollectorRegistry
) -> KafkaBroker:
    """The service's broker; its message metrics go to `registry`, app_name = the service."""
    service = client_id.removeprefix("mlbus-")
    metrics = KafkaPrometheusMiddleware(
        registry=registry, app_name=service, metrics_prefix=BUS_METRICS_PREFIX
    )
    return KafkaBroker(
        bootstrap_list(settings),
        client_id=client_id,
        security=security_from(settings),
        retry_backoff_ms=200,
        request_timeout_ms=30_000,
        max_batch_size=settings.producer_batch_bytes,
        max_request_size=settings.producer_request_bytes,
        acks=producer_acks(settings),
        enable_idempotence=settings.producer_idempotence,
        middlewares=(metrics,),
    )


def bootstrap_list(settings: KafkaSettings) -> list[str]:
    """The comma-separated bootstrap servers as a list: faststream takes a string as one
    address, so "a:9092,b:9092,c:9092" (every node of a cluster) would not resolve."""
    return [address.strip() for address in settings.bootstrap_servers.split(",") if address.strip()]


def producer_acks(settings: KafkaSettings) -> Literal[0, 1, "all"]:
    """The setting as aiokafka takes it: 0, 1 or "all"."""
    return "all" if settings.producer_acks == "all" else 1 if settings.producer_acks == "1" else 0


def raw_producer(broker: KafkaBroker) -> AIOKafkaProducer | None:
    """The connected aiokafka producer under `broker`, or None (not connected yet, or faststream's
    in-memory test broker).

    Hot paths send already serialised events straight to it, skipping faststream's per-message
    publish path (command objects, codec, middlewares), which costs more than scoring a record.
    This reaches into faststream 0.7's internal layout, defensively: callers fall back to the
    ordinary publisher whenever it returns None.
    """
    try:
        client = broker.config.producer._producer.producer  # type: ignore[attr-defined]
    except Exception:  # faststream raises IncorrectState before connect; fakes lack the chain
        return None
    return client if isinstance(client, AIOKafkaProducer) else None


# How long a batch subscriber's consumer waits for records per call once they wait on the
# broker: any record ends the wait at once, so this only sets how often an idle loop wakes.
IDLE_WAIT_MS = 1000

# aiokafka's background fetcher also wakes every consumer_timeout_ms (200 ms by default), even
# while its fetch waits on the broker. Whatever needs it sooner wakes it at once (a fetch
# answered, records consumed, a seek, a new assignment), so this only sets how often an idle
# consumer wakes: pass it as the subscriber's consumer_timeout_ms.
FETCHER_WAKE_MS = IDLE_WAIT_MS

GetMany = Callable[..., Awaitable[dict[Any, list[Any]]]]


def wait_for_records(broker: KafkaBroker) -> int:
    """Have the started batch subscribers wait on the broker for records instead of polling.

    faststream's batch subscriber calls getmany(timeout_ms=batch_timeout_ms) and, when that
    finds nothing, sleeps as long again: a short timeout polls (an idle predictor woke 100
    times a second), a long one holds back the first record after a quiet spell. getmany
    returns as soon as a record is fetched, so waiting in it until one is there costs no
    latency; the consumer's fetches wait on the broker (fetch_max_wait_ms) meanwhile.
    Reaches into faststream 0.7's subscribers, defensively: whatever does not look like them
    (the in-memory test broker) keeps faststream's loop. Returns how many were changed.
    """
    changed = 0
    for subscriber in broker.subscribers:
        consumer = getattr(subscriber, "consumer", None)
        if isinstance(subscriber, BatchSubscriber) and isinstance(consumer, AIOKafkaConsumer):
            consumer.getmany = _until_records(consumer.getmany)
            changed += 1
    return changed


def _until_records(getmany: GetMany) -> GetMany:
    async def wait(*partitions: Any, timeout_ms: int = 0, max_records: int | None = None) -> Any:
        wait_ms = max(timeout_ms, IDLE_WAIT_MS)
        while True:  # ends with records, or when stopping cancels the consume task
            records = await getmany(*partitions, timeout_ms=wait_ms, max_records=max_records)
            if records:
                return records

    return wait
