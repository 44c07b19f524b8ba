"""`mlbus publish` (CSV and Parquet rows in as raw records) and `mlbus spec infer`."""

from __future__ import annotations

import asyncio
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING

from contracts import HOUSE_PRICES, Topics
from mlbus.cli_options import bus_options
from mlbus.datafiles import column_names, count_rows, file_identity, read_rows, with_record_ids
from mlbus.publishing import ProgressBar, check_rows, output_offsets, publish_rows, summarise
from mlbus.spec_inference import draft_spec, guesses_comment, looks_like_id_name
from mlbus.target_inference import MAX_CLASSES, MIN_ROWS_PER_CLASS, TARGET_NAMES, TASKS
from services.common.specfile import dump_spec, load_spec

if TYPE_CHECKING:
    import argparse


def register(
    sub: argparse._SubParsersAction[argparse.ArgumentParser],
) -> argparse._SubParsersAction[argparse.ArgumentParser]:
    """`mlbus publish` and `mlbus spec infer`; the actions of `mlbus spec`, for more of them."""
    publish = sub.add_parser("publish", help="publish a CSV or Parquet file's rows as data events")
    publish.add_argument("file", type=Path, help="a .csv file, or .parquet / .pq")
    bus_options(publish)
    publish.add_argument(
        "--spec",
        type=Path,
        help="the stack's dataset spec (YAML/JSON): its record id field, and --check's rules"
        " (default: the built-in house-price spec)",
    )
    publish.add_argument(
        "--dataset",
        metavar="NAME",
        help="the registered data set the rows belong to, named in each message's mlbus-dataset"
        " header (default: none, for the data set ingest started with)",
    )
    publish.add_argument("--rate", type=float, help="at most this many records per second")
    publish.add_argument(
        "--wait",
        type=float,
        default=60.0,
        help="seconds to wait for ingest's verdicts for the summary (0: no summary)",
    )
    publish.add_argument(
        "--check",
        action="store_true",
        help="only check the rows with ingest's normaliser, send nothing (exit 1 if one fails)",
    )
    publish.set_defaults(handler=cmd_publish)

    spec = sub.add_parser("spec", help="dataset specs")
    spec_sub = spec.add_subparsers(required=True, metavar="ACTION")
    infer = spec_sub.add_parser("infer", help="draft a dataset spec (YAML) from a CSV file")
    infer.add_argument("file", type=Path)
    infer.add_argument("--name", help="dataset name (default: from the file name)")
    infer.add_argument(
        "--target",
        help=f"target column (default: the first of {'/'.join(TARGET_NAMES)}, any case, that"
        " holds numbers or class labels; else the last column that does)",
    )
    infer.add_argument(
        "--task",
        choices=TASKS,
        help="the target's task (default: classification for text, and for whole numbers with"
        f" at most --max-classes distinct values and {MIN_ROWS_PER_CLASS} rows a value on"
        " average; else regression)",
    )
    infer.add_argument(
        "--max-classes",
        type=int,
        default=MAX_CLASSES,
        help="most classes a classification target may have (default: %(default)s)",
    )
    infer.add_argument(
        "--record-id",
        help="record id column (default: one named like an id, e.g. record_id, id, *_id, with"
        " distinct values; else a text column with distinct values; else none)",
    )
    infer.add_argument("--max-categories", type=int, default=30)
    infer.add_argument("-o", "--output", type=Path, help="write here instead of stdout")
    infer.set_defaults(handler=cmd_spec_infer)
    return spec_sub


def cmd_publish(args: argparse.Namespace) -> int:
    spec = load_spec(args.spec) if args.spec else HOUSE_PRICES
    try:  # reads the whole file: text that is not UTF-8 is refused before anything is sent
        total = count_rows(args.file)
    except UnicodeDecodeError as exc:
        message = f"{args.file} is not valid UTF-8 text ({exc}); nothing was published"
        raise ValueError(message) from exc
    rows = read_rows(args.file)
    if _derive_ids(args, spec.record_id_field):
        rows = with_record_ids(rows, spec.record_id_field, file_identity(args.file))
    if args.check:
        checked = check_rows(rows, spec)
        print(checked.render())
        return 1 if checked.rejected else 0
    topics = Topics.with_prefix(args.topic_prefix)
    if args.rate is not None and args.rate <= 0:
        raise RuntimeError("--rate must be positive")
    since = asyncio.run(output_offsets(args.bootstrap, topics)) if args.wait > 0 else {}
    progress = ProgressBar(total)
    started = time.monotonic()
    published = asyncio.run(
        publish_rows(
            args.bootstrap,
            topics.raw,
            rows,
            spec,
            rate=args.rate,
            progress=progress,
            dataset=args.dataset,
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


def _derive_ids(args: argparse.Namespace, id_field: str) -> bool:
    """Whether rows without an id get one derived from the file (in `id_field`).

    Without --spec the id field is the built-in spec's; a file with an id column of another
    name is likely meant for a spec that names it, where an added field would be unknown.
    """
    columns = column_names(args.file)
    others = [c for c in columns if c != id_field and looks_like_id_name(c)]
    if args.spec is not None or id_field in columns or not others:
        return True
    print(
        f"note: no --spec, and the file has {others[0]!r} but no {id_field!r} column: ids are"
        " not derived from the file (pass the stack's spec with --spec to derive them)",
        file=sys.stderr,
    )
    return False


def cmd_spec_infer(args: argparse.Namespace) -> int:
    try:
        draft = draft_spec(
            args.file,
            name=args.name,
            target=args.target,
            record_id=args.record_id,
            max_categories=args.max_categories,
            task=args.task,
            max_classes=args.max_classes,
        )
    except (OSError, ValueError) as exc:
        raise RuntimeError(f"cannot infer a spec from {args.file}: {exc}") from exc
    for note in (*draft.guesses, *draft.skipped):
        print(f"note: {note}", file=sys.stderr)
    header = (
        f"# Drafted by `mlbus spec infer {args.file.name}`: check bounds, categories and classes.\n"
    )
    text = header + dump_spec(draft.spec) + guesses_comment(draft)
    if args.output:
        args.output.write_text(text, encoding="utf-8")
        print(f"spec written to {args.output}", file=sys.stderr)
    else:
        print(text, end="")
    return 0
