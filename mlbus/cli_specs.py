"""`mlbus spec register FILE [--major]`, `mlbus spec retire NAME [--reason TEXT]` and
`mlbus specs`: data set specs in the registry.

Registering and retiring need the registry token, found as for `mlbus promote` (see
mlbus.cli_models); listing needs nothing. `mlbus up --spec a.yaml --spec b.yaml` registers
its specs the same way.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import httpx

from mlbus.cli_models import check, registry_option, token_options, write_token
from services.common.specfile import load_spec

if TYPE_CHECKING:
    import argparse

    from contracts import DatasetSpec


@dataclass(frozen=True)
class Registered:
    """What the registry answered to one spec: its version and whether it is new."""

    dataset: str
    version: int
    major: int
    created: bool

    def render(self) -> str:
        state = "new version" if self.created else "unchanged, already the latest"
        return f"{self.dataset}: spec v{self.version} (major {self.major}), {state}"


def register(
    sub: argparse._SubParsersAction[argparse.ArgumentParser],
    spec_actions: argparse._SubParsersAction[argparse.ArgumentParser],
) -> None:
    """`mlbus specs`, and `register` among the actions of `mlbus spec` (beside `infer`)."""
    add = spec_actions.add_parser(
        "register", help="store a spec file as its data set's next version"
    )
    add.add_argument("file", type=Path, help="dataset spec (YAML/JSON)")
    add.add_argument(
        "--major",
        action="store_true",
        help="store it even if incompatible with the latest version, as a new major version",
    )
    registry_option(add, None)
    token_options(add)
    add.set_defaults(handler=cmd_spec_register)
    _add_retire(spec_actions)

    specs = sub.add_parser("specs", help="list the registry's data sets and their spec versions")
    registry_option(specs, None)
    specs.set_defaults(handler=cmd_specs)


def _add_retire(spec_actions: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    retire = spec_actions.add_parser(
        "retire", help="retire a data set: its records are dead-lettered, its models stay"
    )
    retire.add_argument("name", help="the data set's name")
    retire.add_argument("--reason", help="why (shown in each dead-lettered record's reason)")
    registry_option(retire, None)
    token_options(retire)
    retire.set_defaults(handler=cmd_spec_retire)


def register_spec(
    registry: str, token: str, spec: DatasetSpec, *, major: bool = False
) -> Registered:
    """PUT `spec` to the registry; RuntimeError with the registry's reasons if refused."""
    response = httpx.put(
        f"{registry}/specs/{spec.name}",
        json=spec.model_dump(mode="json"),
        params={"major": "true"} if major else None,
        headers={"Authorization": f"Bearer {token}"},
        timeout=30,
    )
    check(response)
    body = response.json()
    return Registered(body["dataset"], body["version"], body["major"], body["created"])


def cmd_spec_register(args: argparse.Namespace) -> int:
    spec = load_spec(args.file)
    print(register_spec(args.registry, write_token(args), spec, major=args.major).render())
    return 0


def cmd_spec_retire(args: argparse.Namespace) -> int:
    response = httpx.post(
        f"{args.registry}/specs/{args.name}/retire",
        json=None if args.reason is None else {"reason": args.reason},
        headers={"Authorization": f"Bearer {write_token(args)}"},
        timeout=30,
    )
    check(response)
    body = response.json()
    state = "retired" if body["created"] else "already retired"
    print(f"{args.name}: {state} at v{body['version']} since {_since(body)}")
    return 0


def cmd_specs(args: argparse.Namespace) -> int:
    response = httpx.get(f"{args.registry}/specs", timeout=10)
    check(response)
    listed: list[dict[str, Any]] = response.json()
    if not listed:
        print("no specs registered yet")
    for entry in listed:
        print(
            f"{entry['dataset']:<24} v{entry['latest_version']:<4} major {entry['major']:<3}"
            f" {entry['task']:<15} {entry['features']} features{_retired_note(entry)}"
        )
    return 0


def _retired_note(entry: dict[str, Any]) -> str:
    retired = entry.get("retired")
    return "" if retired is None else f"  retired since {_since(retired)}"


def _since(retirement: dict[str, Any]) -> str:
    return f"{retirement['retired_at']}: {retirement['reason']}"
