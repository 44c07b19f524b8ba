"""Brokers the project runs itself: embedded tansu (fast, in memory) or real Apache Kafka."""

from __future__ import annotations

from typing import TYPE_CHECKING, Protocol, Self

from mlbus.brokers.apache import ApacheKafkaBroker
from mlbus.brokers.process import BrokerKind, BrokerStartError
from mlbus.brokers.tansu import TansuBroker

if TYPE_CHECKING:
    from pathlib import Path
    from types import TracebackType

__all__ = [
    "ApacheKafkaBroker",
    "Broker",
    "BrokerKind",
    "BrokerStartError",
    "TansuBroker",
    "new_broker",
    "start_broker",
]


class Broker(Protocol):
    """A running (or startable) broker on this machine that clients reach at bootstrap_servers."""

    @property
    def bootstrap_servers(self) -> str: ...

    @property
    def log_path(self) -> Path: ...

    def start(self) -> None: ...

    def stop(self) -> None: ...

    def restart(self) -> None: ...

    def client_env(self) -> dict[str, str]: ...

    def __enter__(self) -> Self: ...

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None: ...


def new_broker(kind: BrokerKind, workdir: Path, port: int | None = None) -> Broker:
    """A broker of `kind` that keeps its files (log; Kafka: data) in `workdir`, not yet started."""
    match kind:
        case "tansu":
            return TansuBroker(workdir, port)
        case "kafka":
            return ApacheKafkaBroker(workdir, port)
    raise ValueError(f"unknown broker kind {kind!r}: expected 'tansu' or 'kafka'")


def start_broker(kind: BrokerKind, workdir: Path, port: int | None = None) -> Broker:
    """Start a broker of `kind` and return it once it serves requests; stop() it when done."""
    broker = new_broker(kind, workdir, port)
    broker.start()
    return broker
