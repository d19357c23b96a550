#!/usr/bin/env python
"""Run the example shop: web server and task worker together, stopped with Ctrl-C.

Usage (from the repository root, with the virtualenv's Python)::

    .venv/bin/python example_site/run_demo.py [--port 8000] [--reset] [--contacts 500]

It migrates the database (``example_site/db.sqlite3``, or ``$ONEONONE_DEMO_DB``), loads
the demo data unless it is already there (``--reset`` reloads it), makes sure the
``admin`` / ``oneonone-demo`` superuser exists, then starts ``manage.py runserver`` and
``manage.py qcluster`` as child processes. Ctrl-C (SIGINT) or SIGTERM stops both and
exits 0; if either child dies on its own, the other is stopped and the exit status is
non-zero.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

SITE_DIR = Path(__file__).resolve().parent
MANAGE = SITE_DIR / "manage.py"
STOP_TIMEOUT = 15.0


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8000)
    parser.add_argument("--python", default=sys.executable, help="interpreter for the children")
    parser.add_argument("--reset", action="store_true", help="reload the demo data")
    parser.add_argument("--contacts", type=int, default=500)
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--admin-username", default="admin")
    parser.add_argument("--admin-password", default="oneonone-demo")
    return parser.parse_args(argv)


def manage(python: str, *args: str) -> list[str]:
    return [python, str(MANAGE), *args]


def prepare(args: argparse.Namespace, env: dict[str, str]) -> None:
    """Migrate and load the demo; raises CalledProcessError on failure."""
    subprocess.run(manage(args.python, "migrate", "--noinput"), check=True, env=env)
    load = [
        "load_demo",
        f"--contacts={args.contacts}",
        f"--seed={args.seed}",
        f"--admin-username={args.admin_username}",
        f"--admin-password={args.admin_password}",
    ]
    if args.reset:
        load.append("--reset")
    subprocess.run(manage(args.python, *load), check=True, env=env)


def port_is_free(host: str, port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        return probe.connect_ex((host, port)) != 0


def wait_for_port(host: str, port: int, process: subprocess.Popen[bytes], timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and process.poll() is None:
        if not port_is_free(host, port):
            return True
        time.sleep(0.2)
    return False


def start(command: list[str], env: dict[str, str]) -> subprocess.Popen[bytes]:
    # Each child leads its own process group: a Ctrl-C reaches only this runner, which
    # then stops the children in order (qcluster's workers are in its group).
    return subprocess.Popen(command, env=env, start_new_session=True)


def stop(name: str, process: subprocess.Popen[bytes]) -> None:
    """SIGINT (what a terminal Ctrl-C sends; qcluster stops its workers on it), then kill."""
    if process.poll() is None:
        _signal_group(process, signal.SIGINT)
        try:
            process.wait(STOP_TIMEOUT)
        except subprocess.TimeoutExpired:
            print(f"{name} did not stop in {STOP_TIMEOUT:.0f} s; killing it.", flush=True)
    # Whatever is left in the group (an orphaned worker) goes too.
    _signal_group(process, signal.SIGKILL)
    process.wait()


def _signal_group(process: subprocess.Popen[bytes], signum: int) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(process.pid, signum)


def run(args: argparse.Namespace) -> int:
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    base_url = f"http://{args.host}:{args.port}"
    env.setdefault("ONEONONE_DEMO_BASE_URL", base_url)
    if not port_is_free(args.host, args.port):
        print(f"Port {args.port} on {args.host} is in use; pass --port.", file=sys.stderr)
        return 2
    try:
        prepare(args, env)
    except subprocess.CalledProcessError as exc:
        print(f"Preparing the demo failed: {' '.join(exc.cmd)}", file=sys.stderr)
        return exc.returncode or 1
    except KeyboardInterrupt:
        return 130

    stopping = False

    def request_stop(signum: int, frame: object) -> None:
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGINT, request_stop)
    signal.signal(signal.SIGTERM, request_stop)

    children = {
        "web server": start(
            manage(args.python, "runserver", f"{args.host}:{args.port}", "--noreload"), env
        ),
        "task worker": start(manage(args.python, "qcluster"), env),
    }
    exit_code = 0
    try:
        if wait_for_port(args.host, args.port, children["web server"], timeout=60):
            print(
                f"\nOpen {base_url}/ — admin at {base_url}/admin/ "
                f"({args.admin_username} / {args.admin_password}). Ctrl-C stops the demo.\n",
                flush=True,
            )
        while not stopping:
            for name, process in children.items():
                code = process.poll()
                if code is not None:
                    print(f"The {name} exited with status {code}; stopping.", file=sys.stderr)
                    # A child killed by signal N reports -N; shells say 128 + N.
                    exit_code = 128 - code if code < 0 else code or 1
                    stopping = True
                    break
            else:
                time.sleep(0.3)
    finally:
        print("Stopping the demo…", flush=True)
        for name, process in children.items():
            stop(name, process)
    print("Stopped.", flush=True)
    return exit_code


def main(argv: list[str] | None = None) -> int:
    return run(parse_args(argv))


if __name__ == "__main__":
    sys.exit(main())
