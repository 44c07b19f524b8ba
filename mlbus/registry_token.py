"""Where `mlbus up` keeps the registry token it generated, for `mlbus promote` and `rollback`.

`mlbus up` uses MLBUS_REGISTRY_TOKEN when it is set. Otherwise it generates a token, writes it
to `registry-token` in its workdir (mode 0600), and notes that file's path in a pointer under
the user's state directory ($MLBUS_STATE_DIR, else $XDG_STATE_HOME/mlbus, else
~/.local/state/mlbus), so that promote and rollback find it without being told. The pointer is
removed when that `mlbus up` stops.
"""

from __future__ import annotations

import contextlib
import os
from pathlib import Path

TOKEN_FILE_NAME = "registry-token"  # noqa: S105 (a file name, not a secret)
_POINTER_NAME = "registry-token-file"


def state_dir() -> Path:
    explicit = os.environ.get("MLBUS_STATE_DIR")
    if explicit:
        return Path(explicit)
    base = os.environ.get("XDG_STATE_HOME") or str(Path.home() / ".local" / "state")
    return Path(base) / "mlbus"


def pointer_path() -> Path:
    return state_dir() / _POINTER_NAME


def write_token_file(workdir: Path, token: str) -> Path:
    """`token` in `workdir`/registry-token, readable by its owner only; the file's path."""
    path = workdir / TOKEN_FILE_NAME
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(descriptor, "w", encoding="utf-8") as handle:
        os.fchmod(handle.fileno(), 0o600)  # an existing file keeps its mode through O_CREAT
        handle.write(token + "\n")
    return path


def point_at(token_file: Path) -> Path:
    """Note `token_file` as the running stack's token file; the pointer's path."""
    pointer = pointer_path()
    pointer.parent.mkdir(parents=True, exist_ok=True)
    pointer.write_text(str(token_file.resolve()) + "\n", encoding="utf-8")
    return pointer


def forget(token_file: Path) -> None:
    """Remove the pointer if it still names `token_file` (another `mlbus up` may own it now)."""
    pointer = pointer_path()
    with contextlib.suppress(OSError):
        if pointer.read_text(encoding="utf-8").strip() == str(token_file.resolve()):
            pointer.unlink()


def read_token(token_file: Path | None = None) -> str | None:
    """The token in `token_file`, or in the file the pointer names; None when there is none."""
    if token_file is None:
        try:
            token_file = Path(pointer_path().read_text(encoding="utf-8").strip())
        except OSError:
            return None
    try:
        return token_file.read_text(encoding="utf-8").strip() or None
    except OSError:
        return None
