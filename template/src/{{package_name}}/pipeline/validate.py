"""The validate stage: raw rows (CSV or Parquet) checked against the contract, written as the Parquet stages share.

It also vouches for the bytes. It hashes the raw file it reads and, when DVC versions that file
(a `.dvc` pointer beside it), refuses bytes whose md5 differs from the one the pointer records.
DVC trusts a file whose timestamp it has seen before, in its cache and in the workspace, so a
corrupt copy passes `dvc status`, `dvc checkout` and `dvc pull`: this is where it stops. The hash
of the bytes read, not the pointer's, goes into the record (`--lineage`) that the train stage
copies into the model's lineage. A file with no pointer (not yet `dvc add`-ed, or outside DVC)
is validated and recorded with `dvc_md5: null`; `readiness` then says DVC cannot restore it.
"""

from __future__ import annotations

import configparser
import hashlib
import json
from pathlib import Path
from typing import Any

import yaml

from ..core.errors import ProjectError
from ..core.tables import write_table
from ..core.validation import read_raw

POINTER_SUFFIX = ".dvc"
# DVC 2 pointers (no `hash: md5` line) hold an md5 of text with CRLF read as LF, chunk by chunk:
# a chunk is text when its first 512 bytes have no NUL and at most 30% non-text bytes (dvc_data).
LEGACY_CHUNK_BYTES, TEXT_SNIFF_BYTES = 2**20, 512
TEXT_BYTES = bytes(range(32, 127)) + b"\n\r\t\f\b"


class DataVersionError(ProjectError):
    """The raw file is not the version its DVC pointer records, or the pointer cannot be read."""


def md5_of(content: bytes) -> str:
    """The md5 DVC 3 records for a file (`hash: md5` in its pointer): of the bytes as they are."""
    return hashlib.md5(content, usedforsecurity=False).hexdigest()


def legacy_md5_of(content: bytes) -> str:
    """The md5 DVC 2 recorded for a file (`md5-dos2unix`): text chunks with CRLF as LF, others as they are."""
    hasher = hashlib.md5(usedforsecurity=False)
    for start in range(0, len(content), LEGACY_CHUNK_BYTES):
        chunk = content[start : start + LEGACY_CHUNK_BYTES]
        sniff = chunk[:TEXT_SNIFF_BYTES]
        is_text = b"\0" not in sniff and len(sniff.translate(None, TEXT_BYTES)) / len(sniff) <= 0.30
        hasher.update(chunk.replace(b"\r\n", b"\n") if is_text else chunk)
    return hasher.hexdigest()


def pointer_of(source: Path) -> Path:
    """Where `dvc add` writes the pointer of `source`: beside it, with `.dvc` appended."""
    return source.with_name(source.name + POINTER_SUFFIX)


def recorded_md5(pointer: Path) -> tuple[str, bool] | None:
    """The md5 a DVC pointer records for its file, and whether DVC 2 wrote it; None when there is no pointer."""
    if not pointer.is_file():
        return None
    try:
        tracked = yaml.safe_load(pointer.read_text(encoding="utf-8"))["outs"][0]
        return str(tracked["md5"]), tracked.get("hash") != "md5"
    except (OSError, yaml.YAMLError, KeyError, IndexError, TypeError, AttributeError) as error:
        raise DataVersionError(f"{pointer}: not a readable DVC pointer file ({error})") from None


def object_path(md5: str, *, legacy: bool) -> Path:
    """An object's path inside DVC's cache: `files/md5/ab/cdef…`, or `ab/cdef…` for a DVC 2 hash."""
    return (Path() if legacy else Path("files", "md5")) / md5[:2] / md5[2:]


def cache_object(md5: str, near: Path, *, legacy: bool) -> Path | None:
    """Where the repository's DVC cache keeps the file with `md5`, or None outside a DVC repository."""
    for folder in (near.resolve(), *near.resolve().parents):
        dvc_dir = folder / ".dvc"
        if dvc_dir.is_dir():
            config = configparser.ConfigParser()
            config.read([dvc_dir / "config", dvc_dir / "config.local"])
            cache = Path(config.get("cache", "dir", fallback="cache"))
            return (dvc_dir / cache if not cache.is_absolute() else cache) / object_path(md5, legacy=legacy)
    return None


def restore_command(source: Path, pointer: Path, md5: str, *, legacy: bool = False) -> str:
    """The command that puts back the bytes the pointer records.

    From an intact cache copy, a relink. Otherwise the cache copy itself is corrupt (or gone), and
    `dvc pull` skips an object the cache already has and a file whose timestamp it knows: both go first.
    """
    cached = cache_object(md5, source.parent, legacy=legacy)
    hashed = legacy_md5_of if legacy else md5_of
    if cached is not None and cached.is_file() and hashed(cached.read_bytes()) == md5:
        return f"uv run dvc checkout --relink {pointer}"
    cached_name = f'"$(uv run dvc cache dir)/{object_path(md5, legacy=legacy).as_posix()}"'
    return f"rm -f {cached_name} {source} && uv run dvc pull {pointer}"


def check_version(source: Path, content: bytes) -> dict[str, Any]:
    """What was read (path, md5, size) and the pointer's md5; raises when DVC records other bytes."""
    md5, pointer = md5_of(content), pointer_of(source)
    recorded = recorded_md5(pointer)
    expected, legacy = recorded if recorded is not None else (None, False)
    read = legacy_md5_of(content) if legacy else md5  # compared as the pointer's DVC version hashed
    if expected is not None and read != expected:
        raise DataVersionError(
            f"{source}: its bytes have md5 {read}, but its DVC pointer {pointer} records {expected}: "
            "this is not the data version git records (DVC trusts a file whose timestamp it knows, so "
            "`dvc status`, `dvc checkout` and `dvc pull` can miss it).\n"
            f"- If you changed the data on purpose, record it: `uv run dvc add {source}`, then `uv run dvc repro`.\n"
            f"- If not, restore the recorded version: `{restore_command(source, pointer, expected, legacy=legacy)}`"
        )
    return {"path": str(source), "md5": md5, "size": len(content), "dvc_md5": expected}


def validate_file(source: Path, destination: Path, lineage: Path | None = None) -> int:
    """Validate `source` against the contract and its DVC pointer, write the coerced rows, and the record
    of what was read to `lineage` when given; return the row count."""
    try:
        content = source.read_bytes()
    except OSError as error:
        raise DataVersionError(f"{source}: cannot read the raw data ({error.strerror})") from None
    record = check_version(source, content)
    rows = read_raw(source, content)
    write_table(rows, destination)
    if lineage is not None:
        lineage.parent.mkdir(parents=True, exist_ok=True)
        lineage.write_text(json.dumps(record, indent=2) + "\n", encoding="utf-8")
    return len(rows)
