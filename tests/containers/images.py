"""Building the container tier's images: the five services from the project's Dockerfile on a
Debian base made here, and the test-only stand-ins for Kafka, PostgreSQL and Prometheus.

Nothing comes from a container registry. The base and the stand-ins are tagged by the hash of
what they are built from, so a second run finds them and skips their builds; the service
images are rebuilt every run (BuildKit's layer and cache mounts make an unchanged tree quick).
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from mlbus.brokers.apache import KAFKA_VERSION
from mlbus.brokers.process import cache_root

ROOT = Path(__file__).resolve().parents[2]
STAND_INS = Path(__file__).with_name("stand-ins")
SERVICES = ("ingest", "trainer", "registry", "predictor", "monitor")
COMPLETE_MARKER = ".complete"


def run(argv: list[str], timeout: float, **kwargs: object) -> subprocess.CompletedProcess[str]:
    """Run a command; on failure raise with the tail of its output (builds print a lot)."""
    env = {**os.environ, "DOCKER_BUILDKIT": "1"}
    result = subprocess.run(
        argv, capture_output=True, text=True, timeout=timeout, env=env, check=False, **kwargs
    )  # type: ignore[call-overload]
    if result.returncode != 0:
        output = (result.stdout + result.stderr)[-4000:]
        raise RuntimeError(f"{' '.join(argv[:4])} ... failed ({result.returncode}):\n{output}")
    return result  # type: ignore[no-any-return]


def docker_engine() -> str:
    """The docker CLI of a running engine, started by scripts/docker-engine.sh if need be."""
    result = run(["bash", str(ROOT / "scripts" / "docker-engine.sh")], timeout=600)
    return result.stdout.strip().splitlines()[-1]


def base_image(docker: str) -> str:
    result = run(["bash", str(ROOT / "scripts" / "debian-base-image.sh"), docker], timeout=900)
    return result.stdout.strip().splitlines()[-1]


def build(docker: str, context: Path, tag: str, *build_args: str) -> None:
    argv = [docker, "build", "--network", "host", "--tag", tag]
    for arg in build_args:
        argv += ["--build-arg", arg]
    run([*argv, str(context)], timeout=1200)


def build_service_image(docker: str, base: str, service: str) -> str:
    """mlbus-SERVICE, the tag compose.yaml gives it, from the project's own Dockerfile.
    The image it replaces is removed: on vfs each one holds gigabytes of copied layers."""
    tag = f"mlbus-{service}"
    replaced = _image_id(docker, tag)
    build(docker, ROOT, tag, f"PYTHON_IMAGE={base}", f"SERVICE={service}")
    if replaced and replaced != _image_id(docker, tag):
        _remove_images(docker, [replaced])
    return tag


def _content_hash(folder: Path, *extra: str) -> str:
    digest = hashlib.sha256("\n".join(extra).encode())
    for path in sorted(p for p in folder.rglob("*") if p.is_file()):
        digest.update(str(path.relative_to(folder)).encode() + b"\0" + path.read_bytes())
    return digest.hexdigest()[:12]


def _image_id(docker: str, tag: str) -> str | None:
    argv = [docker, "image", "inspect", "--format", "{{.Id}}", tag]
    result = subprocess.run(argv, capture_output=True, text=True, check=False)
    return result.stdout.strip() if result.returncode == 0 else None


def _remove_images(docker: str, images: list[str]) -> None:
    """Best effort: an image a container still uses stays."""
    if images:
        subprocess.run([docker, "rmi", *images], capture_output=True, check=False)


def stand_in_image(docker: str, base: str, name: str) -> str:
    """mlbus-test/NAME:HASH from tests/containers/stand-ins/NAME, built unless it exists."""
    folder = STAND_INS / name
    # This module assembles the context too: a change to it makes a new tag.
    recipe = hashlib.sha256(Path(__file__).read_bytes()).hexdigest()
    tag = f"mlbus-test/{name}:{_content_hash(folder, base, recipe)}"
    if _image_id(docker, tag):
        return tag
    with tempfile.TemporaryDirectory(prefix=f"mlbus-image-{name}-") as tmp:
        context = Path(tmp)
        shutil.copytree(folder, context, dirs_exist_ok=True)
        if name == "kafka":
            _kafka_tree(folder, context / "opt-kafka")
        build(docker, context, tag, f"BASE_IMAGE={base}")
    listed = [docker, "images", f"mlbus-test/{name}", "--format", "{{.Repository}}:{{.Tag}}"]
    tags = subprocess.run(listed, capture_output=True, text=True, check=True).stdout.split()
    _remove_images(docker, [old for old in tags if old != tag])  # earlier recipes'
    return tag


def _kafka_tree(folder: Path, opt_kafka: Path) -> None:
    """/opt/kafka as the distribution lays it out: bin/, config/ and the jars in libs/."""
    shutil.copytree(folder / "bin", opt_kafka / "bin")
    shutil.copytree(folder / "config", opt_kafka / "config")
    shutil.copytree(kafka_image_libs(folder / "pom.xml"), opt_kafka / "libs", copy_function=_link)
    for path in (opt_kafka, *opt_kafka.rglob("*")):  # what the user appuser must read
        path.chmod(0o755 if path.is_dir() or os.access(path, os.X_OK) else 0o644)


def _link(source: str, target: str) -> None:
    try:
        os.link(source, target)
    except OSError:  # another filesystem
        shutil.copy2(source, target)


def kafka_image_libs(pom: Path) -> Path:
    """The broker's and the tools' jars from Maven Central, resolved once into the cache."""
    libs = cache_root() / f"kafka-image-{KAFKA_VERSION}" / "libs"
    if (libs / COMPLETE_MARKER).is_file():
        return libs
    libs.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix="libs-", dir=libs.parent))
    argv = ["mvn", "-q", "-B", "-f", str(pom), "dependency:copy-dependencies"]
    argv += [f"-DoutputDirectory={staging}", "-DincludeScope=runtime"]
    argv += [f"-Dkafka.version={KAFKA_VERSION}"]
    run(argv, timeout=900)
    (staging / COMPLETE_MARKER).write_text(KAFKA_VERSION)
    staging.chmod(0o755)  # mkdtemp's 0700 would follow the jars into the image
    shutil.rmtree(libs, ignore_errors=True)
    staging.rename(libs)
    return libs


@dataclass(frozen=True)
class Images:
    """The engine's CLI and the tags of the base and the three stand-ins."""

    docker: str
    base: str
    kafka: str
    postgres: str
    prometheus: str


class Stopwatch:
    """Named durations, printed at the end of the session (tests/containers/conftest.py)."""

    def __init__(self) -> None:
        self.laps: list[tuple[str, float]] = []

    def time(self, name: str) -> _Lap:
        return _Lap(self, name)


class _Lap:
    def __init__(self, watch: Stopwatch, name: str) -> None:
        self.watch, self.name = watch, name

    def __enter__(self) -> None:
        self.started = time.monotonic()

    def __exit__(self, *exc: object) -> None:
        self.watch.laps.append((self.name, time.monotonic() - self.started))


STOPWATCH = Stopwatch()
