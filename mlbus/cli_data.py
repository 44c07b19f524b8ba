"""`mlbus publish`: data files in as raw data events."""

from __future__ import annotations

import argparse
import asyncio
import csv
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from contracts import HOUSE_PRICES, Topics
from mlbus.bus import publish_all
from services.common.specfile import load_spec


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    from mlbus.cli import bus_options

    publish = sub.add_parser("publish", help="publish a CSV file's rows as data events")
    publish.add_argument("file", type=Path)
    bus_options(publish)
    publish.add_argument("--spec", type=Path, help="dataset spec (YAML/JSON) of the CSV")
    publish.set_defaults(handler=cmd_publish)


def cmd_publish(args: argparse.Namespace) -> int:
    spec = load_spec(args.spec) if args.spec else HOUSE_PRICES
    topic = Topics.with_prefix(args.topic_prefix).raw
    rows = list(_csv_rows(args.file))
    started = time.monotonic()
    sent = asyncio.run(
        publish_all(
            args.bootstrap,
            topic,
            rows,
            key=lambda r: r.get(spec.record_id_field),
            on_sent=lambda n: print(f"\r  published {n}/{len(rows)}", end="", flush=True),
        )
    )
    print(f"\n{sent} records from {args.file} to {topic} in {time.monotonic() - started:.1f}s")
    return 0


def _csv_rows(path: Path) -> Iterator[dict[str, Any]]:
    """CSV rows as raw records: empty cells become null; ingest does all the validation."""
    with path.open(newline="", encoding="utf-8") as handle:
        for row in csv.DictReader(handle):
            yield {name: (value if value != "" else None) for name, value in row.items()}
