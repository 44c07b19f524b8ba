"""Which broker `mlbus up` and the demo start when none is named: Apache Kafka where it can run.

Apache Kafka speaks the protocol every client speaks (kcat and librdkafka fail against the
embedded tansu build), so it is the default whenever the machine has Java 17+ and the jars are
cached or Maven can fetch them; tansu is the fallback, announced with the reason.
"""

from __future__ import annotations

import re
import subprocess
from collections.abc import Callable
from typing import TYPE_CHECKING

from mlbus.brokers.apache import (
    COMPLETE_MARKER,
    MissingToolError,
    ensure_kafka_libs,
    java_path,
    kafka_libs_dir,
)

if TYPE_CHECKING:
    from mlbus.brokers.process import BrokerKind

MIN_JAVA = 17
_VERSION = re.compile(r'version "(?P<major>\d+)(?:\.(?P<minor>\d+))?')

Say = Callable[[str], None]


def java_major_version(version_output: str) -> int | None:
    """The major version in `java -version` output: "17.0.15" -> 17, the old "1.8.0" -> 8."""
    match = _VERSION.search(version_output)
    if match is None:
        return None
    major = int(match["major"])
    return int(match["minor"] or 0) if major == 1 else major


def kafka_unavailable(say: Say) -> str | None:
    """Why Apache Kafka cannot run here (None: it can); fetches the jars once if need be."""
    try:
        java = java_path()
    except MissingToolError as exc:
        return str(exc)
    result = subprocess.run([java, "-version"], capture_output=True, text=True, check=False)
    major = java_major_version(result.stderr + result.stdout)
    if major is None or major < MIN_JAVA:
        return f"{java} is Java {major or 'of unknown version'}; Apache Kafka needs {MIN_JAVA}+"
    if (kafka_libs_dir() / COMPLETE_MARKER).is_file():
        return None
    say("fetching the Apache Kafka jars with Maven (once, about a minute) ...")
    try:
        ensure_kafka_libs()
    except (MissingToolError, RuntimeError, subprocess.TimeoutExpired) as exc:
        return f"the Kafka jars could not be fetched: {exc}"
    return None


def default_broker_kind(say: Say = print) -> BrokerKind:
    """ "kafka" where Apache Kafka can run, else "tansu" after saying why and what it costs."""
    reason = kafka_unavailable(say)
    if reason is None:
        return "kafka"
    say(fallback_message(reason))
    return "tansu"


def fallback_message(reason: str) -> str:
    return (
        f"Apache Kafka cannot run here ({reason}); falling back to the embedded tansu broker. "
        "Python clients work with it, but kcat and other librdkafka clients do not: install "
        f"Java {MIN_JAVA}+ and Maven for Apache Kafka."
    )
