"""Starting and stopping the real processes the integration tests run (servers, workers)."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
from collections.abc import Sequence
from pathlib import Path


def start(argv: Sequence[str], *, cwd: Path, env: dict[str, str]) -> subprocess.Popen[str]:
    """Run in its own process group, so stopping it stops its children (qcluster's workers)."""
    return subprocess.Popen(
        list(argv),
        cwd=cwd,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )


def stop(process: subprocess.Popen[str], timeout: float = 20) -> str:
    """Ask the group to stop (SIGINT, as Ctrl-C would), then kill it; returns its output."""
    if process.poll() is None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGINT)
    try:
        output, _ = process.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
        output, _ = process.communicate(timeout=timeout)
    return output or ""
