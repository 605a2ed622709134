"""The validate stage: raw rows checked against the contract, written in the one CSV form stages share."""

from __future__ import annotations

from pathlib import Path

from ..core.validation import read_csv, write_csv


def validate_file(source: Path, destination: Path) -> int:
    """Validate `source` against the contract and write the coerced rows; return the row count."""
    rows = read_csv(source)
    write_csv(rows, destination)
    return len(rows)
