"""The features stage: each validated split file -> a features file of the same name, for train and evaluate."""

from __future__ import annotations

from pathlib import Path

from ..core.featureset import write_features
from ..core.tables import read_table


def features_files(split_paths: list[Path], output_dir: Path) -> list[Path]:
    """Write the model inputs and target of each split file to `output_dir`; return the paths written."""
    written = []
    for split_path in split_paths:
        destination = output_dir / split_path.name
        write_features(read_table(split_path), destination)
        written.append(destination)
    return written
