"""Options several `mlbus` commands share; cli.py and the command modules both import them."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import argparse


def bus_options(parser: argparse.ArgumentParser) -> None:
    """The broker and topic prefix of a command that talks to a running stack's Kafka."""
    parser.add_argument("--bootstrap", default="127.0.0.1:9092", help="Kafka bootstrap servers")
    parser.add_argument("--topic-prefix", default="", help="prefix of every topic name")
