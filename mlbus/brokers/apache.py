"""Real Apache Kafka (KRaft, one node) from the Maven Central jars and the machine's Java 17+.

No Docker and no distribution tarball: Maven resolves org.apache.kafka:kafka_2.13 and its
runtime dependencies once into a cache directory, and the broker runs as `java kafka.Kafka`.
The data directory persists, so `restart()` (same ports, same data) keeps topics and offsets.
"""

from __future__ import annotations

import base64
import os
import shutil
import subprocess
import tempfile
import uuid
from pathlib import Path
from typing import TYPE_CHECKING

from mlbus.brokers.probe import groups_ready
from mlbus.brokers.process import (
    LOCALHOST,
    BrokerStartError,
    LocalBroker,
    cache_root,
    free_port,
    log_tail,
)

if TYPE_CHECKING:
    from collections.abc import Mapping

KAFKA_VERSION = "4.1.1"
POM = Path(__file__).with_name("kafka-pom.xml")
COMPLETE_MARKER = ".complete"

LOG4J2_PROPERTIES = """\
# Written by mlbus: the broker logs to files in its log directory, nothing to the console.
status = warn
# Kafka stops log4j itself; a JVM hook of its own only warns during shutdown.
shutdownHook = disable
appender.server.type = File
appender.server.name = SERVER
appender.server.fileName = ${sys:kafka.logs.dir}/server.log
appender.server.layout.type = PatternLayout
appender.server.layout.pattern = [%d] %p %m (%c)%n
rootLogger.level = INFO
rootLogger.appenderRef.server.ref = SERVER
logger.request.name = kafka.request.logger
logger.request.level = WARN
logger.state.name = state.change.logger
logger.state.level = WARN
"""


class MissingToolError(RuntimeError):
    """Java or Maven is not installed."""


def _tool(name: str, hint: str) -> str:
    java_home = os.environ.get("JAVA_HOME")
    if name == "java" and java_home and Path(java_home, "bin", "java").is_file():
        return str(Path(java_home, "bin", "java"))
    found = shutil.which(name)
    if found is None:
        raise MissingToolError(f"`{name}` not found on PATH; {hint}")
    return found


def java_path() -> str:
    """The java executable: $JAVA_HOME's, else the one on PATH."""
    return _tool("java", "install a Java 17+ runtime (apt-get install openjdk-17-jre-headless)")


def kafka_libs_dir(version: str = KAFKA_VERSION) -> Path:
    return cache_root() / f"kafka-{version}" / "libs"


def ensure_kafka_libs(version: str = KAFKA_VERSION, libs_dir: Path | None = None) -> Path:
    """The directory of Kafka's jars, resolved with Maven on first use (about a minute)."""
    libs = libs_dir or kafka_libs_dir(version)
    if (libs / COMPLETE_MARKER).is_file():
        return libs
    mvn = _tool("mvn", "install Maven (apt-get install maven) to fetch the Kafka jars")
    libs.parent.mkdir(parents=True, exist_ok=True)
    # Resolve into a sibling temp dir and rename: a killed download never looks complete.
    staging = Path(tempfile.mkdtemp(prefix="libs-", dir=libs.parent))
    argv = [mvn, "-q", "-B", "-f", str(POM), "dependency:copy-dependencies"]
    argv += [f"-DoutputDirectory={staging}", "-DincludeScope=runtime", f"-Dkafka.version={version}"]
    result = subprocess.run(argv, capture_output=True, text=True, timeout=900, check=False)
    if result.returncode != 0:
        shutil.rmtree(staging, ignore_errors=True)
        raise RuntimeError(f"maven could not resolve kafka {version}:\n{result.stdout[-3000:]}")
    (staging / COMPLETE_MARKER).write_text(version)
    shutil.rmtree(libs, ignore_errors=True)
    staging.rename(libs)
    return libs


def new_cluster_id() -> str:
    """A random cluster id in Kafka's Uuid format (22 chars of url-safe base64)."""
    while True:
        value = base64.urlsafe_b64encode(uuid.uuid4().bytes).decode().rstrip("=")
        if not value.startswith("-"):  # Kafka avoids ids that look like a command-line flag
            return value


def server_properties(
    port: int, controller_port: int, data_dir: Path, overrides: Mapping[str, str] | None = None
) -> dict[str, str]:
    """A single-node KRaft config (broker and controller in one process) on 127.0.0.1."""
    settings = {
        "process.roles": "broker,controller",
        "node.id": "1",
        "controller.quorum.voters": f"1@{LOCALHOST}:{controller_port}",
        "listeners": f"PLAINTEXT://{LOCALHOST}:{port},CONTROLLER://{LOCALHOST}:{controller_port}",
        # Clients reconnect to what is advertised: it must be the very host:port we listen on.
        "advertised.listeners": f"PLAINTEXT://{LOCALHOST}:{port}",
        "controller.listener.names": "CONTROLLER",
        "inter.broker.listener.name": "PLAINTEXT",
        "listener.security.protocol.map": "CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT",
        "log.dirs": str(data_dir),
        "num.partitions": "4",
        "auto.create.topics.enable": "true",
        "offsets.topic.replication.factor": "1",
        "offsets.topic.num.partitions": "8",  # 50 by default: slow first group join, no gain here
        "transaction.state.log.replication.factor": "1",
        "transaction.state.log.min.isr": "1",
        "share.coordinator.state.topic.replication.factor": "1",
        "share.coordinator.state.topic.min.isr": "1",
        "group.initial.rebalance.delay.ms": "0",
    }
    settings.update(overrides or {})
    return settings


def render_properties(settings: Mapping[str, str]) -> str:
    return "".join(f"{key}={value}\n" for key, value in settings.items())


class ApacheKafkaBroker(LocalBroker):
    """Apache Kafka in KRaft mode on 127.0.0.1:PORT with its log in `workdir`/data."""

    start_timeout = 60.0
    stop_grace = 20.0

    def __init__(
        self,
        workdir: Path,
        port: int | None = None,
        *,
        controller_port: int | None = None,
        overrides: Mapping[str, str] | None = None,
        libs_dir: Path | None = None,
        heap: str = "512m",
        cluster_id: str | None = None,
    ) -> None:
        self.workdir = Path(workdir)
        super().__init__(self.workdir / "logs" / "kafka.out", port)
        self.controller_port = controller_port or free_port()
        self.overrides = dict(overrides or {})
        self.libs_dir = libs_dir
        self.heap = heap
        # The nodes of one cluster format their storage with the same id; one node, a new one.
        self.cluster_id = cluster_id or new_cluster_id()

    @property
    def data_dir(self) -> Path:
        return self.workdir / "data"

    @property
    def settings(self) -> dict[str, str]:
        return server_properties(self.port, self.controller_port, self.data_dir, self.overrides)

    @property
    def config_path(self) -> Path:
        return self.workdir / "config" / "server.properties"

    def command(self) -> list[str]:
        libs = ensure_kafka_libs(libs_dir=self.libs_dir)
        self._write_config()
        if not (self.data_dir / "meta.properties").is_file():
            self._format_storage(libs)
        return self._java(libs, "kafka.Kafka", str(self.config_path))

    @property
    def server_log(self) -> Path:
        return self.log_path.parent / "server.log"

    def start(self) -> None:
        try:
            super().start()
        except BrokerStartError as exc:  # the reason is in log4j's file, not on stdout
            raise BrokerStartError(
                f"{exc}\n--- {self.server_log}:\n{self.server_errors()}"
            ) from exc

    def server_errors(self, limit: int = 10) -> str:
        """The last ERROR/FATAL lines of server.log (Kafka logs a failure, then a long shutdown)."""
        try:
            lines = self.server_log.read_text(errors="replace").splitlines()
        except OSError:
            return "(no server.log)"
        errors = [line for line in lines if "] ERROR " in line or "] FATAL " in line]
        return "\n".join(errors[-limit:]) or log_tail(self.server_log, limit)

    def ready(self) -> bool:
        """Also wait for the group coordinator: right after a restart it still loads offsets."""
        partitions = int(self.settings["offsets.topic.num.partitions"])
        return super().ready() and groups_ready(self.host, self.port, partitions)

    @property
    def class_archive(self) -> Path:
        """The classes a broker loads, archived once beside the jars (AppCDS): mapping them
        instead of loading them from the jars cut start-up by a quarter on a busy machine."""
        return ensure_kafka_libs(libs_dir=self.libs_dir).parent / "broker-classes.jsa"

    @property
    def _archive_draft(self) -> Path:
        return self.workdir / "broker-classes.jsa"

    def stop(self) -> None:
        super().stop()
        self._keep_class_archive()

    def _keep_class_archive(self) -> None:
        """Move the archive a first broker wrote at exit into the cache, if it exited cleanly
        (SIGTERM: 143); one killed midway may have left a partial file."""
        draft = self._archive_draft
        if not draft.is_file():
            return
        if self.process.exit_code in (0, 143) and not self.class_archive.exists():
            staging = self.class_archive.with_suffix(f".{os.getpid()}.tmp")
            shutil.copyfile(draft, staging)
            staging.replace(self.class_archive)  # atomic: readers never see half an archive
        draft.unlink()

    def _class_sharing(self) -> list[str]:
        if self.class_archive.is_file():
            return [f"-XX:SharedArchiveFile={self.class_archive}", "-Xshare:auto"]
        return [f"-XX:ArchiveClassesAtExit={self._archive_draft}"]

    def _java(self, libs: Path, main_class: str, *args: str) -> list[str]:
        java = java_path()
        logs = self.log_path.parent
        sharing = self._class_sharing() if main_class == "kafka.Kafka" else []
        return [
            java,
            *sharing,
            f"-Xmx{self.heap}",
            "-XX:+UseG1GC",
            "-Djava.awt.headless=true",
            f"-Dkafka.logs.dir={logs}",
            f"-Dlog4j2.configurationFile={logs / 'log4j2.properties'}",
            "-cp",
            f"{libs}/*",  # the JVM expands this wildcard itself
            main_class,
            *args,
        ]

    def _write_config(self) -> None:
        self.config_path.parent.mkdir(parents=True, exist_ok=True)
        self.data_dir.mkdir(parents=True, exist_ok=True)
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        self.config_path.write_text(render_properties(self.settings))
        (self.log_path.parent / "log4j2.properties").write_text(LOG4J2_PROPERTIES)

    def _format_storage(self, libs: Path) -> None:
        """Write meta.properties and the bootstrap metadata: once per data directory."""
        argv = self._java(libs, "kafka.tools.StorageTool", "format", "-t", self.cluster_id)
        argv += ["-c", str(self.config_path), "--ignore-formatted"]
        result = subprocess.run(argv, capture_output=True, text=True, timeout=120, check=False)
        if result.returncode != 0:
            output = (result.stdout + result.stderr)[-3000:]
            raise BrokerStartError(f"kafka storage format failed:\n{output}")
