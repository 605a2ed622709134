"""The model file and its metadata: save with lineage, verify, load safely.

Models are stored with skops, never pickle: loading refuses any type that is neither on
skops' own safe list nor named in `estimator.TRUSTED_TYPES` (or is this project's own
`encoding.FeatureEncoder`), and the SHA-256 recorded at training time must match the file.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..core.errors import ProjectError

if TYPE_CHECKING:
    from sklearn.pipeline import Pipeline

# skops and the estimator are imported where a model is saved or loaded: importing skops
# imports most of scikit-learn, which stages that only read metadata (gate, register) skip.

MODEL_FILE = "model.skops"
ENCODER_TYPE = f"{__name__.partition('.')[0]}.core.encoding.FeatureEncoder"  # the model's first step
# Where the encoder lived before the platform moved under `core/`: model files saved then name it.
MOVED_ENCODER_TYPE = f"{__name__.partition('.')[0]}.encoding.FeatureEncoder"


class ModelArtifactError(ProjectError):
    """The model file is missing, altered, or holds types we do not trust."""


def metadata_path(model_path: Path) -> Path:
    """Where the metadata of `model_path` lives: beside it, as JSON."""
    return model_path.with_suffix(".json")


def sha256_of(path: Path) -> str:
    """Hex SHA-256 of a file's bytes."""
    return hashlib.sha256(path.read_bytes()).hexdigest()


def save_model(model: Pipeline, model_path: Path, metadata: dict[str, Any]) -> dict[str, Any]:
    """Write the model and its metadata (with the file's hash); return the metadata written.

    The metadata records the data contract the model was fitted on (`contracts`), unless it
    names one: the project's contract as it is now, which is the one training just used.
    """
    import skops.io

    from .contracts import current_contract

    model_path.parent.mkdir(parents=True, exist_ok=True)
    skops.io.dump(model, model_path)
    recorded = {"contract": current_contract(), **metadata, "sha256": sha256_of(model_path)}
    metadata_path(model_path).write_text(json.dumps(recorded, indent=2, sort_keys=True) + "\n", encoding="utf-8")
    return recorded


def read_metadata(model_path: Path) -> dict[str, Any]:
    """The metadata written beside `model_path`."""
    path = metadata_path(model_path)
    if not path.is_file():
        raise ModelArtifactError(f"{path} not found: run `uv run dvc repro` to train a model")
    return json.loads(path.read_text(encoding="utf-8"))


def load_model(model_path: Path) -> tuple[Pipeline, dict[str, Any]]:
    """Load a model after checking its hash and that it holds only trusted types.

    The file is read once: the bytes that were hashed and type-checked are the bytes loaded.
    """
    import skops.io

    from ..estimator import TRUSTED_TYPES

    if not model_path.is_file():
        raise ModelArtifactError(f"{model_path} not found: run `uv run dvc repro` (or `dvc pull`) first")
    metadata = read_metadata(model_path)
    data = model_path.read_bytes()
    actual = hashlib.sha256(data).hexdigest()
    if actual != metadata.get("sha256"):
        raise ModelArtifactError(
            f"{model_path} does not match its metadata (sha256 {actual}, expected {metadata.get('sha256')}): "
            "retrain or restore both files together"
        )
    untrusted = skops.io.get_untrusted_types(data=data)
    if MOVED_ENCODER_TYPE in untrusted:
        # skops rebuilds an object from the module path it recorded, and that module is gone.
        raise ModelArtifactError(
            f"{model_path} was saved by an earlier release of this project's platform: it names "
            f"{MOVED_ENCODER_TYPE}, now {ENCODER_TYPE}, and cannot be loaded; retrain (`uv run dvc repro`) "
            "or promote a version trained since the update"
        )
    refused = [name for name in untrusted if name not in (*TRUSTED_TYPES, ENCODER_TYPE)]
    if refused:
        raise ModelArtifactError(
            f"{model_path} holds types not in estimator.TRUSTED_TYPES, refusing to load: {', '.join(refused)} "
            "(add a type there only after reviewing where it comes from)"
        )
    return skops.io.loads(data, trusted=untrusted), metadata
