"""The data contract a model version was trained on: recorded when it is saved, compared before it is used.

`save_model` writes the project's contract into every model's metadata (`model.json`, key
`contract`): `SCHEMA_VERSION`, the target and each column's name, role, type, nullability and
categories, and a SHA-256 fingerprint of those. Promote, rollback, the service's `last_good`
fallback and the pre-start check refuse a version whose contract is not the project's current
one, naming what differs; the gate compares a candidate only with versions of its own contract.

Versions saved before contracts were recorded (no `contract` key) carry only `schema_version`
and the target's name in their lineage: they are judged on those two, and nothing else about
their columns is known. The pre-start check's example request still catches one that cannot
answer the current contract's rows; bump `SCHEMA_VERSION` when columns change to make the
refusal exact.
"""

from __future__ import annotations

import hashlib
import json
from typing import TYPE_CHECKING, Any

from ..core.errors import ProjectError

if TYPE_CHECKING:
    from ..core.columns import Column
    from .store import Registry

# Only these describe what a model was fitted on; ranges, patterns and descriptions may change freely.
FINGERPRINTED = ("name", "role", "dtype", "nullable", "categories")


class ContractMismatchError(ProjectError):
    """A version was trained on another data contract than the project's current one."""


def column_record(column: Column) -> dict[str, Any]:
    """What a model depends on in one column."""
    return {
        "name": column.name,
        "role": str(column.role),
        "dtype": column.dtype.__name__,
        "nullable": column.nullable,
        "categories": list(column.categories),
    }


def fingerprint(target: dict[str, Any], columns: list[dict[str, Any]]) -> str:
    """SHA-256 of the target and the columns, independent of the columns' order in `contract.py`."""
    described = {
        "target": {key: target[key] for key in FINGERPRINTED},
        "columns": sorted(({key: column[key] for key in FINGERPRINTED} for column in columns), key=lambda c: c["name"]),
    }
    return hashlib.sha256(json.dumps(described, sort_keys=True).encode("utf-8")).hexdigest()


def current_contract() -> dict[str, Any]:
    """The project's contract as a model records it (`contract.py` read now, by the code that uses it)."""
    # Imported here, not above: the gate and register stages compare recorded contracts only, and
    # must not rerun when contract.py changes (dvc.yaml lists each stage's imports).
    from ..contract import COLUMNS, SCHEMA_VERSION, TARGET

    target = column_record(TARGET)
    columns = [column_record(column) for column in COLUMNS]
    return {
        "schema_version": str(SCHEMA_VERSION),
        "target": target,
        "columns": columns,
        "fingerprint": fingerprint(target, columns),
    }


def recorded_contract(metadata: dict[str, Any]) -> dict[str, Any]:
    """The contract a model's metadata records; for a model saved before contracts were recorded,
    what its lineage has (schema version and target name), with no columns and no fingerprint."""
    if "contract" in metadata:
        return metadata["contract"]
    legacy: dict[str, Any] = {}
    if metadata.get("schema_version") is not None:
        legacy["schema_version"] = str(metadata["schema_version"])
    if metadata.get("target") is not None:
        legacy["target"] = {"name": metadata["target"]}
    return legacy


def version_contract(registry: Registry, version: str) -> dict[str, Any]:
    """The contract a registered version was trained on."""
    from .artifacts import read_metadata

    return recorded_contract(read_metadata(registry.model_path(version)))


def target_name(contract: dict[str, Any]) -> str:
    return (contract.get("target") or {}).get("name", "unknown")


def listed(names: set[str]) -> str:
    return ", ".join(sorted(names))


def column_changes(name: str, before: dict[str, Any], after: dict[str, Any]) -> list[str]:
    """How one column (or the target) changed, attribute by attribute."""
    changes = []
    for key in ("role", "dtype", "nullable"):
        if before.get(key) != after.get(key):
            changes.append(f"{key} {before.get(key)} -> {after.get(key)}")
    old, new = set(before.get("categories", ())), set(after.get("categories", ()))
    if new - old:
        changes.append(f"categories added {listed(new - old)}")
    if old - new:
        changes.append(f"categories removed {listed(old - new)}")
    return [f"{name}: {change}" for change in changes]


def differences(recorded: dict[str, Any], current: dict[str, Any]) -> list[str]:
    """What differs between two contracts, in words; empty when they are the same contract.

    Only what both record is compared: a contract recorded before fingerprints has no columns.
    """
    found = []
    old_schema, new_schema = recorded.get("schema_version"), current.get("schema_version")
    if old_schema is not None and new_schema is not None and old_schema != new_schema:
        found.append(f"SCHEMA_VERSION {old_schema} -> {new_schema}")
    before, after = recorded.get("target") or {}, current.get("target") or {}
    if before and after and before.get("name") != after.get("name"):
        found.append(f"target {before.get('name')} -> {after.get('name')}")
    elif "fingerprint" in recorded and "fingerprint" in current:
        found += column_changes(f"target {after['name']}", before, after)
    if "fingerprint" in recorded and "fingerprint" in current and recorded["fingerprint"] != current["fingerprint"]:
        old = {column["name"]: column for column in recorded["columns"]}
        new = {column["name"]: column for column in current["columns"]}
        if old.keys() - new.keys():
            found.append(f"columns removed: {listed(old.keys() - new.keys())}")
        if new.keys() - old.keys():
            found.append(f"columns added: {listed(new.keys() - old.keys())}")
        for name in sorted(old.keys() & new.keys()):
            found += column_changes(f"column {name}", old[name], new[name])
        if not found:  # recorded by another release's idea of a column: say so rather than pass it
            found.append(f"column fingerprint {recorded['fingerprint'][:12]} -> {current['fingerprint'][:12]}")
    return found


def describe(contract: dict[str, Any], verb: str = "") -> str:
    """`contract 2 (target plan_action)`: the schema version and target a reader recognises."""
    return f"contract {verb}{contract.get('schema_version', 'unknown')} (target {target_name(contract)})"


def mismatch(version: str, recorded: dict[str, Any], current: dict[str, Any] | None = None) -> str | None:
    """Why `version` does not fit the project's contract, naming both and what differs; None when it fits."""
    current = current or current_contract()
    found = differences(recorded, current)
    if not found:
        return None
    return (
        f"version {version} was trained on {describe(recorded)}; the project's {describe(current, verb='is ')}: "
        + "; ".join(found)
    )


def require_current_contract(version: str, metadata: dict[str, Any]) -> None:
    """Raise `ContractMismatchError` when the model `metadata` describes was trained on another contract."""
    problem = mismatch(version, recorded_contract(metadata))
    if problem is not None:
        raise ContractMismatchError(problem)
