"""`python -m mlbus.brokers run tansu|kafka` until Ctrl-C; `fetch-kafka` caches the jars."""

from __future__ import annotations

import argparse
import signal
import tempfile
from pathlib import Path
from typing import get_args

from mlbus.brokers import BrokerKind, start_broker
from mlbus.brokers.apache import KAFKA_VERSION, ensure_kafka_libs


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m mlbus.brokers", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    run = commands.add_parser("run", help="run a broker until Ctrl-C")
    run.add_argument("kind", choices=get_args(BrokerKind))
    run.add_argument("--workdir", type=Path, help="log (and Kafka data) directory; default: temp")
    run.add_argument("--port", type=int, help="client port; default: a free one")
    fetch = commands.add_parser("fetch-kafka", help="resolve the Apache Kafka jars into the cache")
    fetch.add_argument("--version", default=KAFKA_VERSION)
    return parser.parse_args(argv)


def run_until_signal(kind: BrokerKind, workdir: Path, port: int | None) -> None:
    broker = start_broker(kind, workdir, port)
    print(f"{kind} broker ready at {broker.bootstrap_servers} (log: {broker.log_path})", flush=True)
    try:
        signal.signal(signal.SIGTERM, signal.default_int_handler)  # stop cleanly on SIGTERM too
        signal.pause()
    except KeyboardInterrupt:
        pass
    finally:
        broker.stop()


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    if args.command == "fetch-kafka":
        print(ensure_kafka_libs(args.version))
        return
    if args.workdir is not None:
        run_until_signal(args.kind, args.workdir, args.port)
        return
    with tempfile.TemporaryDirectory(prefix=f"mlbus-{args.kind}-") as workdir:
        run_until_signal(args.kind, Path(workdir), args.port)


if __name__ == "__main__":
    main()
