"""A real service process on 127.0.0.1 for HTTP tests: started, awaited, and always stopped.

BentoML starts its worker in a session of its own, so stopping the process group is not
enough: every process started here carries a marker in its environment, and teardown stops
each process that carries it.

Each server gets a BentoML home of its own (`BENTOML_HOME`, beside its log). `bentoml serve`
empties `$BENTOML_HOME/prometheus_multiproc_dir` when it starts, and its workers keep their
metrics there: with a shared home, any other server starting on the machine (another test,
another project's test run, a service started by hand) wiped this server's metrics, and its
`/metrics` answered with an empty body.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

MARKER = "LIVE_SERVER_TEST_ID"
START_TIMEOUT_SECONDS = 90
STOP_TIMEOUT_SECONDS = 10


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def request(
    method: str, url: str, body: Any = None, headers: Mapping[str, str] | None = None, timeout: float = 30
) -> tuple[int, str]:
    """Status and text of one HTTP request; `body` is sent as JSON (bytes as they are)."""
    data = body if isinstance(body, bytes) else None if body is None else json.dumps(body).encode()
    all_headers = {"Content-Type": "application/json", **(headers or {})}
    call = urllib.request.Request(url, data=data, method=method, headers=all_headers)  # noqa: S310 - loopback
    try:
        with urllib.request.urlopen(call, timeout=timeout) as response:  # noqa: S310 - loopback
            return response.status, response.read().decode()
    except urllib.error.HTTPError as error:
        return error.code, error.read().decode()


def marked_processes(marker: str) -> list[int]:
    """PIDs of processes whose environment carries `marker` (Linux /proc)."""
    pids = []
    for environ in Path("/proc").glob("[0-9]*/environ"):
        with contextlib.suppress(OSError):
            if f"{MARKER}={marker}".encode() in environ.read_bytes().split(b"\0"):
                pids.append(int(environ.parent.name))
    return pids


def stop(process: subprocess.Popen[bytes], marker: str) -> None:
    """Stop the server and every process it started: SIGTERM, then SIGKILL, each waited for a bounded time."""
    for sig in (signal.SIGTERM, signal.SIGKILL):
        for pid in {process.pid, *marked_processes(marker)}:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.kill(pid, sig)
        deadline = time.monotonic() + STOP_TIMEOUT_SECONDS
        while time.monotonic() < deadline:
            if process.poll() is not None and not marked_processes(marker):
                return
            time.sleep(0.2)


@contextlib.contextmanager
def live_server(package: str, env: Mapping[str, str], log_path: Path) -> Iterator[str]:
    """Run `<package> serve` on a free port, with a BentoML home of its own; yield its URL once /readyz answers 200."""
    port, marker = free_port(), uuid.uuid4().hex
    command = [sys.executable, "-m", f"{package}.cli", "serve", "--port", str(port)]
    home = log_path.with_name(f"{log_path.stem}-bentoml")
    with log_path.open("wb") as log:
        process = subprocess.Popen(  # noqa: S603 - our own CLI
            command,
            env={**os.environ, "BENTOML_HOME": str(home), **env, MARKER: marker},
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    url = f"http://127.0.0.1:{port}"
    try:
        wait_until_ready(url, process, log_path)
        yield url
    finally:
        stop(process, marker)


def wait_until_ready(url: str, process: subprocess.Popen[bytes], log_path: Path) -> None:
    deadline = time.monotonic() + START_TIMEOUT_SECONDS
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"the service exited with {process.returncode}:\n{log_path.read_text()[-3000:]}")
        with contextlib.suppress(OSError):
            if request("GET", f"{url}/readyz", timeout=2)[0] == 200:
                return
        time.sleep(0.3)
    raise TimeoutError(f"the service was not ready in {START_TIMEOUT_SECONDS} s:\n{log_path.read_text()[-3000:]}")
