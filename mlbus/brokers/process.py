"""What every locally run broker shares: a free port, a child process with a log file, readiness."""

from __future__ import annotations

import atexit
import ctypes
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import IO, TYPE_CHECKING, Literal, Self

from mlbus.brokers.probe import is_ready

if TYPE_CHECKING:
    from collections.abc import Callable, Mapping, Sequence
    from types import TracebackType

LOCALHOST = "127.0.0.1"
BrokerKind = Literal["tansu", "kafka"]
PR_SET_PDEATHSIG = 1


class BrokerStartError(RuntimeError):
    """A broker process exited or did not become ready; the message ends with its log tail."""


def free_port(host: str = LOCALHOST) -> int:
    """A TCP port nobody listens on right now (the OS picks it)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


def cache_root() -> Path:
    """Where downloads are kept between runs: $MLBUS_CACHE_DIR, else $XDG_CACHE_HOME/mlbus."""
    explicit = os.environ.get("MLBUS_CACHE_DIR")
    if explicit:
        return Path(explicit)
    xdg = os.environ.get("XDG_CACHE_HOME")
    return (Path(xdg) if xdg else Path.home() / ".cache") / "mlbus"


def log_tail(path: Path, lines: int = 30) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no log)"


def die_with_parent_hook() -> Callable[[], None] | None:
    """A preexec hook (Linux) that has the child terminated when this process dies unstopped.

    The kernel signals when the *thread* that forked exits, so only the main thread, which
    lives as long as the process, may use it. The hook only calls a C function looked up
    beforehand: no import and no library load happen between fork and exec.
    """
    if sys.platform != "linux" or threading.current_thread() is not threading.main_thread():
        return None
    prctl = ctypes.CDLL(None, use_errno=True).prctl
    term = int(signal.SIGTERM)

    def hook() -> None:
        prctl(PR_SET_PDEATHSIG, term)

    return hook


class ManagedProcess:
    """One child process whose output goes to a log file; stopped with SIGTERM, then SIGKILL."""

    def __init__(self, log_path: Path) -> None:
        self.log_path = log_path
        self._popen: subprocess.Popen[bytes] | None = None
        self._log: IO[bytes] | None = None
        self.exit_code: int | None = None  # of the last process stopped (negative: a signal)

    @property
    def running(self) -> bool:
        return self._popen is not None and self._popen.poll() is None

    @property
    def pid(self) -> int | None:
        return self._popen.pid if self._popen is not None else None

    def spawn(self, argv: Sequence[str], env: Mapping[str, str] | None = None) -> None:
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        self._log = self.log_path.open("ab")
        self._log.write(f"\n=== mlbus: starting {' '.join(argv)}\n".encode())
        self._log.flush()
        # Own session: a Ctrl-C meant for the parent does not kill the broker before we stop
        # it (clients commit first); if the parent dies hard, the death signal still ends it.
        self._popen = subprocess.Popen(
            list(argv),
            stdin=subprocess.DEVNULL,
            stdout=self._log,
            stderr=subprocess.STDOUT,
            env=dict(env) if env is not None else None,
            start_new_session=True,
            preexec_fn=die_with_parent_hook(),
        )
        atexit.register(self.stop)

    def wait_until(self, ready: Callable[[], bool], timeout: float) -> None:
        """Block until `ready()` holds; BrokerStartError if the process exits or time runs out."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if not self.running:
                code = self._popen.returncode if self._popen else None
                raise BrokerStartError(f"broker exited with {code}:\n{log_tail(self.log_path)}")
            if ready():
                return
            time.sleep(0.1)
        raise BrokerStartError(
            f"broker not ready after {timeout:.0f} s:\n{log_tail(self.log_path)}"
        )

    def stop(self, grace: float = 10.0) -> None:
        """Terminate politely (the broker flushes and closes its logs), kill after `grace` s."""
        atexit.unregister(self.stop)
        popen, self._popen = self._popen, None
        if popen is not None and popen.poll() is None:
            popen.terminate()
            try:
                popen.wait(grace)
            except subprocess.TimeoutExpired:
                popen.kill()
                popen.wait()
        if popen is not None:
            self.exit_code = popen.returncode
        if self._log is not None:
            self._log.close()
            self._log = None


class LocalBroker:
    """Base of the brokers run as child processes: start/stop, context manager, address."""

    host = LOCALHOST
    start_timeout = 30.0
    stop_grace = 10.0

    def __init__(self, log_path: Path, port: int | None = None) -> None:
        self.port = port or free_port()
        self.process = ManagedProcess(log_path)
        self.last_start_seconds: float | None = None

    @property
    def bootstrap_servers(self) -> str:
        return f"{self.host}:{self.port}"

    @property
    def log_path(self) -> Path:
        return self.process.log_path

    def command(self) -> list[str]:
        """The argv that runs the broker; subclasses also prepare files here."""
        raise NotImplementedError

    def environment(self) -> dict[str, str] | None:
        return None

    def client_env(self) -> dict[str, str]:
        """Settings (MLBUS_* environment) the services should run with against this broker."""
        return {}

    def ready(self) -> bool:
        """Serves clients: answers metadata and lists itself at its advertised address."""
        return is_ready(self.host, self.port)

    def start(self) -> None:
        """Run the broker and return once it serves requests; a no-op when already running."""
        if self.process.running:
            return
        began = time.monotonic()
        self.process.spawn(self.command(), self.environment())
        try:
            self.process.wait_until(self.ready, self.start_timeout)
        except BaseException:
            self.process.stop(self.stop_grace)
            raise
        self.last_start_seconds = time.monotonic() - began

    def stop(self) -> None:
        self.process.stop(self.stop_grace)

    def restart(self) -> None:
        """Stop and start again on the same port (and, if the broker keeps any, the same data)."""
        self.stop()
        self.start()

    def __enter__(self) -> Self:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.stop()
