"""Start a server for a test or a benchmark and make sure every process it spawned is gone afterwards.

`bentoml serve` starts workers in sessions of their own, so killing its process group can
leave a worker answering. Every process started here inherits an environment marker, and
teardown stops each process that carries it, with bounded waits throughout.

Standard library only: the benchmarks in `benchmarks/` import it from inside a generated
project's environment, which has none of this repo's packages.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

MARKER = "SHIPSHAPE_TEST_SERVER"


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def processes_marked(token: str) -> list[int]:
    """PIDs whose environment carries `MARKER=token` (Linux /proc)."""
    needle = f"{MARKER}={token}".encode()
    pids = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            if needle in (entry / "environ").read_bytes().split(b"\0"):
                pids.append(int(entry.name))
        except OSError:  # the process ended, or is not ours to read
            continue
    return pids


def signal_marked(token: str, *signals: signal.Signals) -> None:
    """Send `signals`, in order, to every marked process."""
    for pid in processes_marked(token):
        for sig in signals:
            try:
                os.kill(pid, sig)
            except ProcessLookupError:
                break


def stop_marked(token: str, grace_seconds: float = 10) -> None:
    """SIGTERM every marked process (and SIGCONT, should it be paused), then SIGKILL whatever is left."""
    for signals, wait in (((signal.SIGTERM, signal.SIGCONT), grace_seconds), ((signal.SIGKILL,), 5)):
        signal_marked(token, *signals)
        deadline = time.monotonic() + wait
        while processes_marked(token) and time.monotonic() < deadline:
            time.sleep(0.1)
        if not processes_marked(token):
            return
    raise RuntimeError(f"processes still running after SIGKILL: {processes_marked(token)}")


def request(
    method: str, url: str, body: Any = None, timeout: float = 10, headers: Mapping[str, str] | None = None
) -> tuple[int, str]:
    """One HTTP request; returns (status, body text) for any status, raising only on network errors."""
    data = None if body is None else json.dumps(body).encode()
    sent = {**({"Content-Type": "application/json"} if data is not None else {}), **(headers or {})}
    prepared = urllib.request.Request(url, data=data, headers=sent, method=method)
    try:
        with urllib.request.urlopen(prepared, timeout=timeout) as response:
            return response.status, response.read().decode()
    except urllib.error.HTTPError as error:
        return error.code, error.read().decode()


def wait_until_ready(url: str, process: subprocess.Popen, log: Path, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"server exited with {process.returncode}:\n{log.read_text()[-3000:]}")
        try:
            if request("GET", url, timeout=2)[0] == 200:
                return
        except OSError:
            pass
        time.sleep(0.25)
    raise TimeoutError(f"{url} not ready after {timeout} s:\n{log.read_text()[-3000:]}")


@dataclass(frozen=True)
class Server:
    """A running server: where it answers, and the marker every one of its processes carries."""

    url: str
    token: str

    def pids(self) -> list[int]:
        return processes_marked(self.token)

    def pause(self) -> None:
        """Stop every process of the server (SIGSTOP): a paused server takes no CPU from one under load."""
        signal_marked(self.token, signal.SIGSTOP)

    def resume(self) -> None:
        signal_marked(self.token, signal.SIGCONT)

    def cpus(self) -> set[frozenset[int]]:
        """The CPU sets the server's processes may run on (one per distinct affinity)."""
        return {frozenset(os.sched_getaffinity(pid)) for pid in self.pids() if Path(f"/proc/{pid}").exists()}

    def rss_bytes(self) -> int:
        """Resident memory of every process of the server, summed (pages shared after a fork count in each)."""
        pages = 0
        for pid in self.pids():
            try:
                pages += int(Path(f"/proc/{pid}/statm").read_text().split()[1])
            except OSError:
                continue
        return pages * os.sysconf("SC_PAGE_SIZE")

    def cpu_seconds(self) -> float:
        """CPU time (user + system) used so far by every process of the server."""
        ticks = 0
        for pid in processes_marked(self.token):
            try:
                fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            ticks += int(fields[11]) + int(fields[12])  # utime and stime, fields 14 and 15 of stat(5)
        return ticks / os.sysconf("SC_CLK_TCK")


@contextmanager
def started_server(
    command: list[str],
    cwd: Path,
    env: Mapping[str, str],
    port: int,
    log: Path,
    timeout: float = 120,
    ready: str = "/readyz",
) -> Iterator[Server]:
    """Run `command` until the block ends; yields the server once `ready` (a path) answers 200."""
    token = uuid.uuid4().hex
    with log.open("w") as output:
        marked = {**env, MARKER: token}
        process = subprocess.Popen(
            command, cwd=cwd, env=marked, stdout=output, stderr=subprocess.STDOUT, start_new_session=True
        )
    server = Server(f"http://127.0.0.1:{port}", token)
    try:
        wait_until_ready(f"{server.url}{ready}", process, log, timeout)
        yield server
    finally:
        stop_marked(token)
        process.wait(timeout=10)


@contextmanager
def running_server(
    command: list[str], cwd: Path, env: Mapping[str, str], port: int, log: Path, timeout: float = 120
) -> Iterator[str]:
    """Run `command` until the block ends; yields the base URL once `/readyz` answers 200."""
    with started_server(command, cwd, env, port, log, timeout) as server:
        yield server.url
