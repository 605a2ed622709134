"""The named variants in `variants.toml` (the one matrix), and rendering them with copier."""

from __future__ import annotations

import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
VARIANTS_FILE = ROOT / "variants.toml"


@dataclass(frozen=True)
class Variant:
    """A named set of questionnaire answers; unanswered questions take their defaults."""

    name: str
    data: Mapping[str, Any] = field(default_factory=dict)
    tags: tuple[str, ...] = ()


def load_variants(path: Path = VARIANTS_FILE) -> list[Variant]:
    """Every variant defined in `path`, in file order."""
    tables = tomllib.loads(path.read_text(encoding="utf-8"))["variants"]
    return [
        Variant(name=name, data=table.get("data", {}), tags=tuple(table.get("tags", ())))
        for name, table in tables.items()
    ]


def variants_tagged(tag: str, path: Path = VARIANTS_FILE) -> list[Variant]:
    """The variants carrying `tag`."""
    return [variant for variant in load_variants(path) if tag in variant.tags]


def variant_named(name: str, path: Path = VARIANTS_FILE) -> Variant:
    """The variant called `name`; a KeyError lists the known names."""
    variants = {variant.name: variant for variant in load_variants(path)}
    if name not in variants:
        raise KeyError(f"no variant {name!r} in {path.name}; known: {', '.join(variants)}")
    return variants[name]


def render(
    variant: Variant,
    destination: Path,
    *,
    template: Path = ROOT,
    extra_data: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """Render `variant` of the working tree into `destination`; return all answers, computed ones too.

    `vcs_ref="HEAD"` makes copier render the working tree (uncommitted changes included)
    instead of silently picking the latest tag.
    """
    import copier  # imported here: it is slow to import and not every caller renders

    worker = copier.run_copy(
        str(template),
        destination,
        data={**variant.data, **(extra_data or {})},
        defaults=True,
        vcs_ref="HEAD",
        quiet=True,
        overwrite=True,
    )
    return dict(worker.answers.combined)
