"""`mlbus models`: what the registry holds."""

from __future__ import annotations

import argparse

import httpx


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    models = sub.add_parser("models", help="list the registry's models and aliases")
    models.add_argument("--registry", default="http://127.0.0.1:8003")
    models.set_defaults(handler=cmd_models)


def cmd_models(args: argparse.Namespace) -> int:
    response = httpx.get(f"{args.registry}/models", timeout=10)
    response.raise_for_status()
    models = response.json()
    if not models:
        print("no models registered yet")
    for model in models:
        aliases = ", ".join(f"{a}=v{v}" for a, v in sorted(model["aliases"].items())) or "-"
        print(f"{model['model_name']:<24} latest v{model['latest_version']:<4} {aliases}")
    return 0
