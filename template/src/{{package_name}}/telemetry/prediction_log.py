"""The prediction log: one JSON line per answer, the raw material of monitoring.

A record (strict JSON, one object per line; no NaN or Infinity, NumPy values as plain numbers):

    {"request_id": "…", "timestamp": "2026-01-31T12:00:00.123+00:00", "model_version": "…",
     "features": {column: value, …}, "prediction": …, "probabilities": {class: p} | null,
     "latency_ms": 3.2, "fallback": false, "shadow": null}

`shadow` is the shadow candidate's answer, `{"model_version", "prediction", "probabilities"}`,
when one runs (see `shadow.py`); it is never what the caller got.

`features` is the request row as received, with the contract's personal columns
(`Role.PERSONAL`) always replaced by "[REDACTED]": no log holds personal data.

Files: every process writes its own file, `predictions-<host>-<pid>.jsonl`, so BentoML's
workers (and replicas sharing a volume) never interleave writes; a file over `max_bytes` is
rotated to `.1`, `.2`, … keeping `backups` of them. Readers glob `predictions-*.jsonl*`
(`read_prediction_log` does) and skip a live file's unfinished last line (`read_log_file`).
When `data.prediction_log_retention_days` is set, files whose newest record is older than
that are deleted, by each writer at start-up and hourly (or by `prune_prediction_log` from a
scheduled job): retention works on whole files, so at low traffic a lower `max_bytes` bounds
a record's age more tightly.

Writes are buffered: the caller serialises a record (with pydantic-core's JSON encoder, about
eight times faster than walking it in Python for `json.dumps`) and appends it to a list under a
lock; a background thread writes the buffer out every `FLUSH_INTERVAL_SECONDS`, or as
soon as `FLUSH_EVERY_RECORDS` are waiting, and `close` writes the rest. So no request waits
on the disk or a rotation, and a crashed worker loses at most about a second of records.
Close the log in the service's `@bentoml.on_shutdown` hook: a BentoML worker ends by
re-raising SIGTERM, so interpreter-exit handlers (which also close it) do not run there.
Data handed to the OS survives a process crash but not a power loss (no fsync: milliseconds
per flush). A write error is logged and those records dropped: the log never fails a
prediction.

Environment overrides (read by `PredictionLogSettings.from_env`):

- `PREDICTION_LOG_DIR`: where the files go (default `logs/predictions`, relative to the
  working directory: the project root, or the Bento in serving)
- `PREDICTION_LOG_MAX_BYTES`: size at which a file is rotated (default 10 MB)
- `PREDICTION_LOG_BACKUPS`: rotated files kept per process (default 5)
"""

from __future__ import annotations

import atexit
import json
import logging
import math
import os
import re
import socket
import threading
import time
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from datetime import time as time_of_day
from pathlib import Path
from typing import Any, Protocol

import numpy as np
from pydantic_core import to_json

from ..config import ConfigError, ProjectConfig
from ..core.columns import Role
from ..core.contract import columns_with_role
from ..core.errors import ProjectError

DEFAULT_DIRECTORY = Path("logs/predictions")
DEFAULT_MAX_BYTES = 10 * 1024 * 1024
DEFAULT_BACKUPS = 5
DIRECTORY_ENV = "PREDICTION_LOG_DIR"
MAX_BYTES_ENV = "PREDICTION_LOG_MAX_BYTES"
BACKUPS_ENV = "PREDICTION_LOG_BACKUPS"

# The background writer runs this often, or sooner once this many records wait: a crash loses
# about a second of records per process, and the disk sees one write per hundred records or so.
FLUSH_EVERY_RECORDS = 100
FLUSH_INTERVAL_SECONDS = 1.0
# Beyond this many records waiting for a slow disk, new ones are dropped (and counted in the
# service log) rather than growing memory without bound.
MAX_BUFFERED_RECORDS = 10_000
PRUNE_INTERVAL_SECONDS = 3600.0

FILE_PREFIX = "predictions-"
FILE_SUFFIX = ".jsonl"
FILE_GLOB = f"{FILE_PREFIX}*{FILE_SUFFIX}*"
REDACTED = "[REDACTED]"
DAMAGE_FIX = ": only a live log's last line may be unfinished; repair or delete that line and run again"
UNFINISHED_SEARCH_BYTES = 64 * 1024

logger = logging.getLogger(__name__)


class PredictionSink(Protocol):
    """Where prediction records go; records are JSON-ready mappings."""

    def write(self, records: Sequence[Mapping[str, Any]]) -> None: ...

    def close(self) -> None: ...


def _rotation_index(path: Path) -> int:
    """0 for a live file, n for its n-th rotated copy (`….jsonl.n`)."""
    suffix = path.name.rpartition(FILE_SUFFIX)[2]
    return int(suffix[1:]) if suffix[1:].isdigit() else 0


def log_files(directory: Path) -> list[Path]:
    """Every prediction log file in `directory`, oldest records first."""
    found = []
    for path in directory.glob(FILE_GLOB):
        try:
            found.append((path.stat().st_mtime_ns, -_rotation_index(path), path))
        except FileNotFoundError:  # rotated or pruned meanwhile
            continue
    return [path for *_, path in sorted(found)]


def prune_prediction_log(directory: Path, retention_days: int, *, now: datetime | None = None) -> list[Path]:
    """Delete the log files whose newest record is older than `retention_days`; returns them."""
    cutoff = ((now or datetime.now(UTC)) - timedelta(days=retention_days)).timestamp()
    pruned = []
    for path in directory.glob(FILE_GLOB):
        try:
            if path.stat().st_mtime < cutoff:
                path.unlink()
                pruned.append(path)
        except FileNotFoundError:  # another process got there first
            continue
    return pruned


class DamagedLogError(ProjectError):
    """A finished line of a prediction log file is not a JSON record."""


def read_log_file(path: Path) -> Iterator[dict[str, Any]]:
    """Every record of one log file, live or rotated.

    A last line without its newline is a write in progress and is skipped. Any other line that
    is not a JSON object is damage (an edit, a disk fault): an error naming the file and line,
    since judging the rest would silently judge fewer rows. The writer never leaves one: it
    ends a crashed predecessor's unfinished line before appending (`JsonlSink`).
    """
    with path.open(encoding="utf-8") as lines:
        for number, line in enumerate(lines, start=1):
            if not line.endswith("\n"):
                return
            if not line.strip():
                continue
            try:
                record = json.loads(line)
            except json.JSONDecodeError as error:
                raise DamagedLogError(f"{path}:{number} is not JSON ({error.msg}){DAMAGE_FIX}") from None
            if not isinstance(record, dict):
                raise DamagedLogError(f"{path}:{number} is not a JSON object{DAMAGE_FIX}")
            yield record


def read_prediction_log(directory: Path) -> Iterator[dict[str, Any]]:
    """Every record in `directory`, file by file, oldest file first (each read by `read_log_file`).

    Files from different processes are not merged by time: sort by `timestamp` when order
    matters.
    """
    for path in log_files(directory):
        try:
            yield from read_log_file(path)
        except FileNotFoundError:  # rotated or pruned between listing and reading
            continue


def drop_unfinished_line(path: Path) -> int:
    """Cut a last line that has no newline (a writer that died mid-write) off `path`; returns the bytes cut."""
    with path.open("r+b") as file:
        end = file.seek(0, os.SEEK_END)
        position = end
        while position > 0:
            start = max(0, position - UNFINISHED_SEARCH_BYTES)
            file.seek(start)
            chunk = file.read(position - start)
            newline = chunk.rfind(b"\n")
            if newline >= 0:
                position = start + newline + 1
                break
            position = start
        if position < end:
            file.truncate(position)
        return end - position


def _host_name() -> str:
    return re.sub(r"[^A-Za-z0-9.-]", "_", socket.gethostname()) or "host"


class JsonlSink:
    """Appends records as JSON lines to this process's own file, rotating it by size; thread-safe.

    `write` only serialises and buffers; a background thread does the file work (writes,
    rotation, pruning), so a request never waits on the disk. Create the sink in the process
    that writes (in a BentoML service, in `__init__`, which runs in each worker): the file
    name carries the host name and the process id.
    """

    def __init__(
        self,
        directory: Path,
        max_bytes: int = DEFAULT_MAX_BYTES,
        backups: int = DEFAULT_BACKUPS,
        *,
        retention_days: int | None = None,
        flush_every: int = FLUSH_EVERY_RECORDS,
        flush_interval: float = FLUSH_INTERVAL_SECONDS,
    ) -> None:
        if max_bytes < 1 or backups < 0 or flush_every < 1 or flush_interval <= 0:
            raise ValueError("max_bytes, flush_every and flush_interval must be positive, backups not negative")
        self.path = directory / f"{FILE_PREFIX}{_host_name()}-{os.getpid()}{FILE_SUFFIX}"
        self.max_bytes, self.backups, self.retention_days = max_bytes, backups, retention_days
        self._flush_every, self._flush_interval = flush_every, flush_interval
        self._lock = threading.Lock()  # guards the buffer: held for microseconds
        self._io_lock = threading.Lock()  # guards the file: held while writing, rotating, pruning
        self._buffer: list[bytes] = []
        self._dropped = 0
        self._closed = False
        self._wake = threading.Event()
        with self._io_lock:
            self._open()
            self._prune()
        self._flusher = threading.Thread(target=self._flush_periodically, name="prediction-log", daemon=True)
        self._flusher.start()
        atexit.register(self.close)

    def write(self, records: Sequence[Mapping[str, Any]]) -> None:
        """Buffer `records` as strict JSON lines: NaN and ±inf become null, other values as `json_ready` has them."""
        lines = [to_json(record, inf_nan_mode="null", fallback=json_ready) + b"\n" for record in records]
        with self._lock:
            if self._closed:
                raise ValueError(f"{self.path}: the prediction log is closed")
            if len(self._buffer) + len(lines) > MAX_BUFFERED_RECORDS:  # the disk cannot keep up
                self._dropped += len(lines)
                return
            self._buffer.extend(lines)
            if len(self._buffer) >= self._flush_every:
                self._wake.set()

    def flush(self) -> None:
        """Hand the buffered records to the OS now, in the calling thread."""
        with self._io_lock:
            with self._lock:
                lines, self._buffer = self._buffer, []
                dropped, self._dropped = self._dropped, 0
            if dropped:
                logger.error("dropped %d prediction record(s): writing %s could not keep up", dropped, self.path)
            if lines:
                self._write_out(lines)

    def close(self) -> None:
        """Flush and close the file; later writes raise. Safe to call twice."""
        with self._lock:
            if self._closed:
                return
            self._closed = True
        self._wake.set()
        self._flusher.join()
        self.flush()
        with self._io_lock:
            self._file.close()
        atexit.unregister(self.close)

    def _open(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        if self.path.exists() and (cut := drop_unfinished_line(self.path)):  # our name: a process of ours died
            logger.warning("%s: dropped an unfinished last line (%d bytes) before appending", self.path, cut)
        self._file = self.path.open("ab")
        status = os.fstat(self._file.fileno())
        self._size, self._identity = status.st_size, (status.st_dev, status.st_ino)

    def _reopen_if_gone(self) -> None:
        """Start a new file if ours was pruned (by any process) or moved away."""
        try:
            status = self.path.stat()
            if (status.st_dev, status.st_ino) == self._identity:
                return
        except FileNotFoundError:
            pass
        self._file.close()
        self._open()

    def _write_out(self, lines: list[str]) -> None:
        data = b"".join(lines)
        try:
            self._reopen_if_gone()
            if self._size and self._size + len(data) > self.max_bytes:
                self._rotate()
            self._file.write(data)
            self._file.flush()
            self._size += len(data)
        except OSError:
            logger.exception("could not write %d prediction record(s) to %s; dropped them", len(lines), self.path)

    def _rotate(self) -> None:
        """`x.jsonl` → `x.jsonl.1` → `x.jsonl.2` …, dropping copies beyond `backups`."""
        self._file.close()
        rotated = sorted(
            (index for path in self.path.parent.glob(f"{self.path.name}.*") if (index := _rotation_index(path))),
            reverse=True,
        )
        for index in [*rotated, 0]:
            source = self.path.with_name(f"{self.path.name}.{index}") if index else self.path
            try:
                if index >= self.backups:
                    source.unlink()
                else:
                    source.replace(self.path.with_name(f"{self.path.name}.{index + 1}"))
            except FileNotFoundError:  # pruned meanwhile
                continue
        self._open()

    def _prune(self) -> None:
        self._next_prune = time.monotonic() + PRUNE_INTERVAL_SECONDS
        if self.retention_days is not None:
            prune_prediction_log(self.path.parent, self.retention_days)

    def _flush_periodically(self) -> None:
        while not self._closed:
            self._wake.wait(self._flush_interval)
            self._wake.clear()
            self.flush()
            if time.monotonic() >= self._next_prune:
                with self._io_lock:
                    try:
                        self._prune()
                    except OSError:
                        logger.exception("could not prune old prediction logs in %s", self.path.parent)


def json_ready(value: Any) -> Any:
    """`value` as strict JSON carries it: NumPy values as Python ones, NaN and ±inf as null."""
    kind = type(value)
    if kind is str or kind is int or kind is bool or value is None:  # the common case, fast
        return value
    if kind is float:
        return value if math.isfinite(value) else None
    if isinstance(value, np.generic):
        return json_ready(value.item())
    if isinstance(value, Mapping):
        return {str(key): json_ready(item) for key, item in value.items()}
    if isinstance(value, list | tuple | set | frozenset | np.ndarray):
        return [json_ready(item) for item in value]
    if isinstance(value, datetime | date | time_of_day):
        return value.isoformat()
    if isinstance(value, int):  # subclasses, such as IntEnum
        return int(value)
    if isinstance(value, float):
        return json_ready(float(value))
    return str(value)


def _now() -> datetime:
    return datetime.now(UTC)


@dataclass(slots=True)  # not frozen: a frozen dataclass's __init__ took three times as long per row
class PredictionRecord:
    """One answer as the service gave it; `features` is the raw request row."""

    request_id: str
    model_version: str
    features: Mapping[str, Any]
    prediction: Any
    probabilities: Mapping[str, float] | None
    latency_ms: float
    fallback: bool
    timestamp: datetime = field(default_factory=_now)  # timezone-aware
    shadow: Mapping[str, Any] | None = None  # the shadow candidate's answer, when one runs


@dataclass(frozen=True)
class PredictionLogSettings:
    """Where the log goes and how big it may grow; see the module docstring for the variables."""

    directory: Path = DEFAULT_DIRECTORY
    max_bytes: int = DEFAULT_MAX_BYTES
    backups: int = DEFAULT_BACKUPS

    @classmethod
    def from_env(cls, environ: Mapping[str, str] = os.environ) -> PredictionLogSettings:
        return cls(
            directory=Path(environ.get(DIRECTORY_ENV) or DEFAULT_DIRECTORY),
            max_bytes=_int_from(environ, MAX_BYTES_ENV, DEFAULT_MAX_BYTES, minimum=1),
            backups=_int_from(environ, BACKUPS_ENV, DEFAULT_BACKUPS, minimum=0),
        )


def _int_from(environ: Mapping[str, str], name: str, default: int, *, minimum: int) -> int:
    text = environ.get(name, "").strip()
    if not text:
        return default
    try:
        value = int(text)
    except ValueError:
        raise ConfigError(f"{name}={text!r} is not a whole number") from None
    if value < minimum:
        raise ConfigError(f"{name}={value} must be at least {minimum}")
    return value


class PredictionLog:
    """Turns answers into log records, redacting personal columns, and hands them to a sink."""

    def __init__(self, sink: PredictionSink) -> None:
        self.sink = sink
        self.redacted_columns = frozenset(column.name for column in columns_with_role(Role.PERSONAL))

    @classmethod
    def from_config(cls, config: ProjectConfig, settings: PredictionLogSettings | None = None) -> PredictionLog:
        """The log `ml-project.yaml` asks for, in the files the environment names."""
        settings = settings or PredictionLogSettings.from_env()
        sink = JsonlSink(
            settings.directory,
            settings.max_bytes,
            settings.backups,
            retention_days=config.data.prediction_log_retention_days,
        )
        return cls(sink)

    def as_json(self, record: PredictionRecord, timestamps: dict[datetime, str] | None = None) -> dict[str, Any]:
        """The JSON object logged for `record`; `timestamps` keeps texts already formatted, by time."""
        if timestamps is None or (timestamp := timestamps.get(record.timestamp)) is None:
            timestamp = record.timestamp.astimezone(UTC).isoformat(timespec="milliseconds")
            if timestamps is not None:
                timestamps[record.timestamp] = timestamp
        features = record.features
        if self.redacted_columns:
            features = dict(features)
            features.update((name, REDACTED) for name in self.redacted_columns & features.keys())
        return {
            "request_id": record.request_id,
            "timestamp": timestamp,
            "model_version": record.model_version,
            "features": features,
            "prediction": record.prediction,
            "probabilities": record.probabilities,
            "latency_ms": round(float(record.latency_ms), 3),
            "fallback": bool(record.fallback),
            "shadow": record.shadow,
        }

    def write(self, records: Sequence[PredictionRecord]) -> None:
        """Log `records`; the rows of one request share their answer's time, formatted once."""
        timestamps: dict[datetime, str] = {}
        self.sink.write([self.as_json(record, timestamps) for record in records])

    def close(self) -> None:
        self.sink.close()
