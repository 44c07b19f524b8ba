"""`mlbus`: run the stack, the demo, publish data, ask for training, list models."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import signal
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import TYPE_CHECKING, Any

import httpx

from contracts import HOUSE_PRICES, Topics, TrainModel
from mlbus import cli_data, cli_models, cli_specs, registry_token
from mlbus.brokers import Broker, BrokerKind, BrokerStartError, start_broker
from mlbus.brokers.choice import default_broker_kind, fallback_message
from mlbus.bus import publish_all
from mlbus.cli_options import bus_options
from mlbus.demo import DEMO_ENV, DemoPlan, run_demo, summary
from mlbus.runner import Stack, StackConfig, environment_token, free_port
from mlbus.train_verdict import registration, wait_for_verdict
from services.common.specfile import SpecError, load_spec

if TYPE_CHECKING:
    from collections.abc import Iterator, Sequence


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        return int(args.handler(args))
    except (SpecError, TimeoutError, RuntimeError, ValueError, httpx.HTTPError) as exc:
        print(f"mlbus: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="mlbus", description=__doc__)
    sub = parser.add_subparsers(required=True, metavar="COMMAND")

    up = sub.add_parser("up", help="run a broker (unless --bootstrap) and the five services")
    _stack_options(up, many_specs=True)
    up.add_argument(
        "--broker-port", type=int, default=9092, help="port of the embedded broker (default 9092)"
    )
    up.set_defaults(handler=cmd_up)

    demo = sub.add_parser("demo", help="run the whole loop once and print a summary")
    _stack_options(demo)
    demo.add_argument("--timeout", type=float, default=120.0, help="seconds per step")
    demo.add_argument(
        "--keep-running", action="store_true", help="keep the stack up after the summary"
    )
    demo.set_defaults(handler=cmd_demo)

    spec_actions = cli_data.register(sub)

    train = sub.add_parser("train", help="ask the trainer to train now (TrainModel)")
    bus_options(train)
    train.add_argument("--model", help="model name (default: the trainer's)")
    train.add_argument(
        "--dataset",
        help="data set to train on (default: the one training --model, else the trainer's own)",
    )
    train.add_argument("--estimator", choices=("linear", "random_forest", "hist_gradient_boosting"))
    train.add_argument(
        "--param",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="hyperparameter for this run (JSON value), repeatable",
    )
    train.add_argument("--seed", type=int)
    train.add_argument(
        "--trainer",
        default=os.environ.get("MLBUS_TRAINER_URL") or "http://127.0.0.1:8002",
        help="trainer URL, for its verdict (MLBUS_TRAINER_URL, default http://127.0.0.1:8002)",
    )
    train.add_argument(
        "--registry",
        default=cli_models.env_registry(),
        help="registry URL, for how it took the new version (MLBUS_REGISTRY_URL)",
    )
    train.add_argument(
        "--timeout",
        type=float,
        default=600.0,
        help="seconds to wait for the trainer's verdict (default 600)",
    )
    train.add_argument(
        "--no-wait", action="store_true", help="publish the command, do not wait for the verdict"
    )
    window = train.add_mutually_exclusive_group()
    window.add_argument("--recent", type=int, metavar="N", help="train on the N newest records")
    window.add_argument("--window", type=float, metavar="S", help="records of the last S seconds")
    train.set_defaults(handler=cmd_train)

    cli_models.register(sub)
    cli_specs.register(sub, spec_actions)
    return parser


def _stack_options(parser: argparse.ArgumentParser, *, many_specs: bool = False) -> None:
    parser.add_argument("--bootstrap", help="use this Kafka instead of an embedded broker")
    parser.add_argument(
        "--broker",
        choices=("tansu", "kafka"),
        help="broker to start when --bootstrap is not given (default: Apache Kafka where Java"
        " 17+ runs, else the embedded tansu)",
    )
    if many_specs:
        parser.add_argument(
            "--spec",
            type=Path,
            action="append",
            help="dataset spec (YAML/JSON), repeatable: each is registered with the registry;"
            " the services are started with the first",
        )
    else:
        parser.add_argument("--spec", type=Path, help="dataset spec (YAML/JSON)")
    parser.add_argument("--workdir", type=Path, help="where data and logs go (default: temp)")
    parser.add_argument("--topic-prefix", default="")
    parser.add_argument(
        "--replication-factor",
        type=int,
        default=1,
        help="replicas of each topic the stack creates (3 on a replicated cluster); topics that"
        " already exist are left as they are",
    )


@contextlib.contextmanager
def _running_stack(
    args: argparse.Namespace,
    extra_env: dict[str, str],
    *,
    free_ports: bool = False,
) -> Iterator[StackConfig]:
    spec_paths = _spec_paths(args)
    for path in spec_paths:
        load_spec(path)  # a bad spec stops here, with the file and the problem named
    spec_path = spec_paths[0] if spec_paths else None
    with contextlib.ExitStack() as stack:
        workdir = args.workdir or Path(
            stack.enter_context(tempfile.TemporaryDirectory(prefix="mlbus-"))
        )
        workdir.mkdir(parents=True, exist_ok=True)
        bootstrap = args.bootstrap
        if not bootstrap:
            broker = stack.enter_context(_start_broker(args, workdir / "broker"))
            bootstrap = broker.bootstrap_servers
            extra_env = {**broker.client_env(), **extra_env}
        config = StackConfig(
            bootstrap,
            workdir,
            topic_prefix=args.topic_prefix,
            spec_path=spec_path,
            extra_env=extra_env,
            replication_factor=args.replication_factor,
        )
        if free_ports:  # the demo must not collide with a stack the user already runs
            config.ports = {name: free_port() for name in config.ports}
        _say_where_the_token_is(config)
        print(f"starting services on {bootstrap} (logs: {workdir / 'logs'}) ...")
        services = stack.enter_context(Stack(config))
        # Generous: a busy machine can take minutes; a service that exits fails it at once.
        services.wait_ready(timeout=300)
        yield config


def _spec_paths(args: argparse.Namespace) -> list[Path]:
    """The --spec files given, resolved: a list for `up` (repeatable), one for `demo`."""
    given = args.spec if isinstance(args.spec, list) else [args.spec] if args.spec else []
    return [path.resolve() for path in given]


def _register_specs(config: StackConfig, paths: Sequence[Path]) -> None:
    """Store every spec given to `up` in the registry (the first one again is a no-op)."""
    for path in paths:
        registered = cli_specs.register_spec(
            config.url("registry"), config.registry_token, load_spec(path)
        )
        print(f"  {registered.render()} ({path.name})")


def _say_where_the_token_is(config: StackConfig) -> None:
    if environment_token() == config.registry_token:
        print("registry token: MLBUS_REGISTRY_TOKEN from your environment")
        return
    path = registry_token.write_token_file(config.workdir, config.registry_token)
    print(f"registry token: in {path} (mode 0600)")


def _start_broker(args: argparse.Namespace, workdir: Path) -> Broker:
    """The broker named by --broker, else Apache Kafka where it runs, else tansu (said so)."""
    port = getattr(args, "broker_port", None)
    kind: BrokerKind = args.broker or default_broker_kind()
    names = {"kafka": "Apache Kafka (KRaft)", "tansu": "the embedded tansu broker"}
    print(f"starting {names[kind]} ...")
    began = time.monotonic()
    try:
        broker = start_broker(kind, workdir, port)
    except BrokerStartError as exc:
        if args.broker or kind == "tansu":
            raise
        print(fallback_message(f"it did not start: {str(exc).splitlines()[0]}"))
        broker = start_broker("tansu", workdir, port)
    print(f"broker ready at {broker.bootstrap_servers} in {time.monotonic() - began:.1f} s")
    return broker


def cmd_up(args: argparse.Namespace) -> int:
    with _running_stack(args, {}) as config:
        _register_specs(config, _spec_paths(args))
        for name, port in sorted(config.ports.items()):
            print(f"  {name:<10} http://127.0.0.1:{port}  (/healthz /readyz /metrics)")
        print(f"  kafka      {config.bootstrap_servers}")
        token_file = config.workdir / registry_token.TOKEN_FILE_NAME
        if token_file.exists():
            registry_token.point_at(token_file)
            print("  mlbus promote / rollback read the registry token from there")
        try:
            _wait_for_interrupt()
        finally:
            registry_token.forget(token_file)
    return 0


def _wait_for_interrupt() -> None:
    print("running; Ctrl-C stops everything")
    signal.signal(signal.SIGTERM, _interrupt)
    with contextlib.suppress(KeyboardInterrupt):
        while True:
            time.sleep(1)


def _interrupt(*_: object) -> None:
    raise KeyboardInterrupt


def cmd_demo(args: argparse.Namespace) -> int:
    spec = load_spec(args.spec) if args.spec else HOUSE_PRICES
    with _running_stack(args, DEMO_ENV, free_ports=True) as config:
        result = asyncio.run(run_demo(config, DemoPlan(timeout=args.timeout), spec))
        print(summary(result, config))
        if args.keep_running:
            _wait_for_interrupt()
    return 0 if result.complete else 1


def cmd_train(args: argparse.Namespace) -> int:
    """Publish TrainModel; unless --no-wait, print the trainer's verdict (non-zero exit unless
    a model was trained)."""
    topic = Topics.with_prefix(args.topic_prefix).trainer_commands
    # A tag of our own in the reason: the trainer's /status names the request it last ended.
    reason = f"requested from the CLI ({uuid.uuid4().hex[:12]})"
    command = TrainModel(
        model_name=args.model,
        dataset=args.dataset,
        reason=reason,
        estimator=args.estimator,
        hyperparameters=dict(_parse_param(p) for p in args.param) or None,
        seed=args.seed,
        snapshot_mode="recent" if args.recent else "window" if args.window else None,
        snapshot_records=args.recent,
        snapshot_window_seconds=args.window,
    )
    asyncio.run(publish_all(args.bootstrap, topic, [command]))
    print(f"TrainModel {command.event_id} published to {topic}")
    if args.no_wait:
        return 0
    print(f"waiting up to {args.timeout:.0f}s for the trainer's verdict ...", file=sys.stderr)
    verdict = wait_for_verdict(args.trainer, reason, timeout=args.timeout)
    print(verdict.render())
    if verdict.model_name is not None and verdict.version is not None:
        print(registration(args.registry, verdict.model_name, verdict.version))
    return 0 if verdict.trained else 1


def _parse_param(text: str) -> tuple[str, Any]:
    """`max_iter=200` -> ("max_iter", 200); values are JSON, bare words stay strings."""
    name, sep, value = text.partition("=")
    if not sep or not name:
        raise ValueError(f"--param wants NAME=VALUE, got {text!r}")
    try:
        return name, json.loads(value)
    except json.JSONDecodeError:
        return name, value


if __name__ == "__main__":
    raise SystemExit(main())
