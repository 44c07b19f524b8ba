"""The faststream Kafka broker, built from settings the same way in every service."""

from __future__ import annotations

import ssl
from typing import Any

from faststream.kafka import KafkaBroker
from faststream.security import BaseSecurity, SASLPlaintext, SASLScram256, SASLScram512

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


def make_broker(settings: KafkaSettings, client_id: str) -> KafkaBroker:
    return KafkaBroker(
        settings.bootstrap_servers,
        client_id=client_id,
        security=security_from(settings),
        retry_backoff_ms=200,
        request_timeout_ms=30_000,
    )
