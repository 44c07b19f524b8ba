"""`mlbus publish` (CSV and Parquet rows in as raw records) and `mlbus spec infer`."""

from __future__ import annotations

import argparse
import asyncio
import sys
import time
from pathlib import Path

from contracts import HOUSE_PRICES, Topics
from mlbus.datafiles import count_rows, infer_spec, read_rows
from mlbus.publishing import ProgressBar, output_offsets, publish_rows, summarise
from services.common.specfile import dump_spec, load_spec


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    from mlbus.cli import bus_options

    publish = sub.add_parser("publish", help="publish a CSV or Parquet file's rows as data events")
    publish.add_argument("file", type=Path, help="a .csv file, or .parquet / .pq")
    bus_options(publish)
    publish.add_argument("--spec", type=Path, help="dataset spec (YAML/JSON) of the file")
    publish.add_argument("--rate", type=float, help="at most this many records per second")
    publish.add_argument(
        "--wait",
        type=float,
        default=60.0,
        help="seconds to wait for ingest's verdicts for the summary (0: no summary)",
    )
    publish.set_defaults(handler=cmd_publish)

    spec = sub.add_parser("spec", help="dataset specs")
    spec_sub = spec.add_subparsers(required=True, metavar="ACTION")
    infer = spec_sub.add_parser("infer", help="draft a dataset spec (YAML) from a CSV file")
    infer.add_argument("file", type=Path)
    infer.add_argument("--name", help="dataset name (default: from the file name)")
    infer.add_argument("--target", help="target column (default: price/target/label/y or last)")
    infer.add_argument("--record-id", help="record id column (default: record_id or id)")
    infer.add_argument("--max-categories", type=int, default=30)
    infer.add_argument("-o", "--output", type=Path, help="write here instead of stdout")
    infer.set_defaults(handler=cmd_spec_infer)


def cmd_publish(args: argparse.Namespace) -> int:
    spec = load_spec(args.spec) if args.spec else HOUSE_PRICES
    topics = Topics.with_prefix(args.topic_prefix)
    if args.rate is not None and args.rate <= 0:
        raise RuntimeError("--rate must be positive")
    since = asyncio.run(output_offsets(args.bootstrap, topics)) if args.wait > 0 else {}
    try:  # reads the whole file: text that is not UTF-8 is refused before anything is sent
        progress = ProgressBar(count_rows(args.file))
    except UnicodeDecodeError as exc:
        message = f"{args.file} is not valid UTF-8 text ({exc}); nothing was published"
        raise ValueError(message) from exc
    started = time.monotonic()
    published = asyncio.run(
        publish_rows(
            args.bootstrap,
            topics.raw,
            read_rows(args.file),
            spec,
            rate=args.rate,
            progress=progress,
        )
    )
    count = len(published.positions)
    elapsed = time.monotonic() - started
    print(f"{count} records from {args.file} to {topics.raw} in {elapsed:.1f}s")
    if args.wait > 0:
        print(f"waiting up to {args.wait:.0f}s for ingest's verdicts ...", file=sys.stderr)
        summary = asyncio.run(summarise(args.bootstrap, topics, published, since, wait=args.wait))
        print(summary.render())
    return 0


def cmd_spec_infer(args: argparse.Namespace) -> int:
    notes: list[str] = []
    try:
        spec = infer_spec(
            args.file,
            name=args.name,
            target=args.target,
            record_id=args.record_id,
            max_categories=args.max_categories,
            warnings=notes,
        )
    except (OSError, ValueError) as exc:
        raise RuntimeError(f"cannot infer a spec from {args.file}: {exc}") from exc
    for note in notes:
        print(f"note: {note}", file=sys.stderr)
    header = f"# Drafted by `mlbus spec infer {args.file.name}`: check bounds and categories.\n"
    text = header + dump_spec(spec)
    if args.output:
        args.output.write_text(text, encoding="utf-8")
        print(f"spec written to {args.output}", file=sys.stderr)
    else:
        print(text, end="")
    return 0
