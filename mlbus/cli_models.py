"""`mlbus models`, `mlbus promote`, `mlbus rollback`: read the registry, move its aliases.

Reads need nothing; promote and rollback need the registry token: --token, else
MLBUS_REGISTRY_TOKEN, else --token-file, else the file the running `mlbus up` wrote (see
mlbus.registry_token). The registry URL comes from --registry or MLBUS_REGISTRY_URL.
"""

from __future__ import annotations

import argparse
import getpass
import os
from pathlib import Path
from typing import Any

import httpx

from mlbus import registry_token

DEFAULT_REGISTRY = "http://127.0.0.1:8003"


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    models = sub.add_parser("models", help="list the registry's models and aliases")
    registry_option(models, None)
    models.set_defaults(handler=cmd_models)
    models_sub = models.add_subparsers(metavar="SUBCOMMAND")
    show = models_sub.add_parser("show", help="one version: metrics, lineage, signature")
    show.add_argument("name")
    show.add_argument("version", type=int)
    registry_option(show, argparse.SUPPRESS)
    show.set_defaults(handler=cmd_show)
    history = models_sub.add_parser("history", help="who moved which alias, when and why")
    history.add_argument("name")
    registry_option(history, argparse.SUPPRESS)
    history.set_defaults(handler=cmd_history)

    promote = sub.add_parser("promote", help="make a version the champion (needs the token)")
    promote.add_argument("name")
    promote.add_argument("version", type=int)
    _write_options(promote, "manual promotion from the CLI")
    promote.set_defaults(handler=cmd_promote)

    rollback = sub.add_parser("rollback", help="give champion back to the previous champion")
    rollback.add_argument("name")
    _write_options(rollback, "rollback from the CLI")
    rollback.set_defaults(handler=cmd_rollback)


def registry_option(parser: argparse.ArgumentParser, default: str | None) -> None:
    # SUPPRESS on subcommands: `mlbus models --registry X show ...` keeps X.
    parser.add_argument(
        "--registry",
        default=default if default is not None else env_registry(),
        help=f"registry URL (MLBUS_REGISTRY_URL, default {DEFAULT_REGISTRY})",
    )


def env_registry() -> str:
    return os.environ.get("MLBUS_REGISTRY_URL") or DEFAULT_REGISTRY


def _write_options(parser: argparse.ArgumentParser, reason: str) -> None:
    registry_option(parser, None)
    token_options(parser)
    parser.add_argument("--reason", default=reason, help="why: kept in the alias history")
    parser.add_argument("--actor", default=None, help="who (default: your user name)")


def token_options(parser: argparse.ArgumentParser) -> None:
    """--token and --token-file, for the commands that change the registry."""
    parser.add_argument("--token", help="registry token (default: MLBUS_REGISTRY_TOKEN)")
    parser.add_argument(
        "--token-file",
        type=Path,
        help="file holding the token (default: the one the running `mlbus up` wrote)",
    )


def _get(args: argparse.Namespace, path: str) -> Any:
    response = httpx.get(f"{args.registry}{path}", timeout=10)
    check(response)
    return response.json()


def check(response: httpx.Response) -> None:
    if response.is_success:
        return
    try:
        detail = response.json().get("detail", response.text)
    except ValueError:
        detail = response.text
    raise RuntimeError(f"registry answered {response.status_code}: {detail}")


REGRESSOR_SCORES = ("rmse", "mae", "r2")
CLASSIFIER_SCORES = ("log_loss", "accuracy", "macro_f1", "roc_auc")


def scores_text(metrics: dict[str, Any], digits: int = 4) -> str:
    """A model's holdout scores as "name=value" pairs: a classifier's (the metric promotion
    compares by first, e.g. "log_loss=0.21 accuracy=0.95"), else rmse, mae and r2."""
    classifier = metrics.get("task") == "classification" or any(
        metrics.get(name) is not None for name in CLASSIFIER_SCORES
    )
    names = CLASSIFIER_SCORES if classifier else REGRESSOR_SCORES
    first = str(metrics.get("metric"))
    ordered = ([first] if first in names else []) + [n for n in names if n != first]
    return " ".join(
        f"{name}={metrics[name]:.{digits}g}" for name in ordered if metrics.get(name) is not None
    )


def cmd_models(args: argparse.Namespace) -> int:
    models = _get(args, "/models")
    if not models:
        print("no models registered yet")
    for model in models:
        print(model_line(model))
    return 0


def model_line(model: dict[str, Any]) -> str:
    """One GET /models entry: name, data set, task, metric, champion, challenger, scores."""
    aliases: dict[str, int] = model["aliases"]
    champion = model.get("champion") or {}  # registries before 2026-12 do not list it
    served = " ".join(
        f"{alias} {f'v{aliases[alias]}' if alias in aliases else '-':<4}"
        for alias in ("champion", "challenger")
    )
    others = ", ".join(
        f"{a}=v{v}" for a, v in sorted(aliases.items()) if a not in ("champion", "challenger")
    )
    line = (
        f"{model['model_name']:<24} {champion.get('dataset', '-'):<24}"
        f" {champion.get('task', '-'):<15} {champion.get('metric', '-'):<9}"
        f" {served} latest v{model['latest_version']}"
    )
    if others:
        line += f" ({others})"
    if champion:
        scores = {**champion["scores"], "task": champion["task"], "metric": champion["metric"]}
        line += f"  {scores_text(scores)}"
    return line


def cmd_show(args: argparse.Namespace) -> int:
    details = _get(args, f"/models/{args.name}/versions/{args.version}/details")
    version, card = details["version"], details["version"]["card"]
    metrics = card["metrics"]
    parent = details["parent_champion"]
    lines = [
        f"{version['model_name']} v{version['version']}",
        f"  aliases        {', '.join(version['aliases']) or '-'}",
        f"  created        {version['created_at']}",
        f"  sha256         {version['sha256']} ({version['size_bytes']} bytes)",
        f"  estimator      {card['estimator']} on dataset {card['dataset']}",
        f"  metrics        {scores_text(metrics, digits=6)} holdout={metrics['holdout_size']}",
        f"  snapshot       {card['snapshot_fingerprint']} ({card['snapshot_size']} records)",
        f"  parent         {f'v{parent}' if parent is not None else '-'} (champion at upload)",
        f"  registered as  {details['registered_as']}: {details['decision_reason']}",
        "  inputs         " + ", ".join(f"{i['name']}:{i['type']}" for i in card["inputs"]),
        *_classes_line(card),
    ]
    if details["signature"]:
        outputs = details["signature"]["outputs"]
        lines.append("  outputs        " + ", ".join(f"{o['name']}:{o['type']}" for o in outputs))
    print("\n".join(lines))
    return 0


def _classes_line(card: dict[str, Any]) -> list[str]:
    """A classifier's classes, and the threshold of its binary target at training time."""
    classes = card.get("classes")
    if not classes:
        return []
    target = card.get("target") or {}
    threshold = target.get("threshold") if len(classes) == 2 else None
    positive = target.get("positive_class") or target.get("classes", classes)[-1]
    decided = f" ({positive} from p >= {threshold:g})" if threshold is not None else ""
    return [f"  classes        {', '.join(classes)}{decided}"]


def cmd_history(args: argparse.Namespace) -> int:
    for move in _get(args, f"/models/{args.name}/alias-history"):
        source = f"v{move['from_version']}" if move["from_version"] is not None else "-"
        target = f"v{move['to_version']}" if move["to_version"] is not None else "-"
        print(
            f"{move['at']}  {move['alias']:<10} {source:>4} -> {target:<4}"
            f" {move['kind']:<8} by {move['actor']}: {move['reason']}"
        )
    return 0


def _write(args: argparse.Namespace, path: str) -> int:
    token = write_token(args)
    response = httpx.post(
        f"{args.registry}{path}",
        json={"reason": args.reason, "actor": args.actor or _user()},
        headers={"Authorization": f"Bearer {token}"},
        timeout=30,
    )
    check(response)
    result = response.json()
    print(f"{result['model_name']}: champion is now v{result['champion']}")
    return 0


def write_token(args: argparse.Namespace) -> str:
    token = args.token or os.environ.get("MLBUS_REGISTRY_TOKEN")
    if token:
        return str(token)
    token = registry_token.read_token(args.token_file)
    if token:
        return token
    if args.token_file is not None:
        raise RuntimeError(f"no registry token in {args.token_file}")
    raise RuntimeError(
        "a registry token is needed: --token, MLBUS_REGISTRY_TOKEN or --token-file"
        f" (none found from a running `mlbus up`: {registry_token.pointer_path()})"
    )


def cmd_promote(args: argparse.Namespace) -> int:
    return _write(args, f"/models/{args.name}/versions/{args.version}/promote")


def cmd_rollback(args: argparse.Namespace) -> int:
    return _write(args, f"/models/{args.name}/rollback")


def _user() -> str:
    try:
        return getpass.getuser()
    except (OSError, KeyError):  # no login name in some containers
        return "cli"
