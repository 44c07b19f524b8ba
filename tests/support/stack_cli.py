"""The mlbus CLI as a user runs it against a test stack, with its registry's URL and token."""

from __future__ import annotations

import os
import subprocess
import sys
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from mlbus.runner import Stack


def stack_cli(stack: Stack, *args: str, timeout: float = 180) -> str:
    """`mlbus ARGS`' standard output; fails the test, with both outputs, on a non-zero exit."""
    env = {
        **os.environ,
        "MLBUS_REGISTRY_URL": stack.config.url("registry"),
        "MLBUS_REGISTRY_TOKEN": stack.config.registry_token,
    }
    done = subprocess.run(
        [sys.executable, "-m", "mlbus", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    assert done.returncode == 0, f"mlbus {args[0]} failed:\n{done.stdout}\n{done.stderr}"
    return done.stdout
