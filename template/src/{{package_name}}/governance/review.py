"""The review bundle: what a regulatory reviewer reads about the promoted model, in one folder.

`review-bundle` writes `review/<version>/` and the same folder zipped beside it:

    index.html         the model card a reviewer opens (no script, no network): the team's intended
                       use and limits (from docs/MODEL_CARD.md), owners, KPI and gate (ml-project.yaml),
                       metrics, per-segment slices, fairness, top explanations, the evaluation data's
                       lineage and the data contract, then a link to every file below
    metrics.json       the version's held-out metrics, as the registry holds them
    slices.json importance.json fairness.json explanations.json   the pipeline's reports
    plots/             the reports' plots (PNG)
    model.json         the model's lineage: data hash, git commit, parameters, contract
    data_lineage.json  data/validated/lineage.json: the raw file the pipeline read
    manifest.json      the version, and the SHA-256 of every input, which `readiness` compares with
                       the project to tell a bundle that no longer describes it

Everything in it comes from files git or DVC version, so any version's bundle can be written again
at its commit: `review/` is gitignored, and the zip is what gets attached to the review record.
"""

from __future__ import annotations

import hashlib
import json
import re
import shutil
from dataclasses import dataclass
from datetime import UTC, datetime
from html import escape
from pathlib import Path
from typing import Any

from ..config import PARAMS_PATH, PROJECT_CONFIG_PATH, ProjectConfig, load_params, load_project_config
from ..core.errors import ProjectError
from ..core.metrics import METRICS
from ..registry.artifacts import MODEL_FILE, metadata_path, read_metadata
from ..registry.store import METRICS_FILE, REGISTRY_PATH, Registry

REVIEW_DIR = Path("review")
MANIFEST_FILE = "manifest.json"
MODEL_CARD_PATH = Path("docs/MODEL_CARD.md")
REPORTS_DIR = Path("reports")
CANDIDATE_DIR = Path("models/candidate")  # what the evaluate, fairness and explain stages report on
DATA_LINEAGE_PATH = Path("data/validated/lineage.json")
# Each report the bundle copies, and the pipeline stage that writes it.
REPORTS = {
    "slices.json": "evaluate",
    "importance.json": "evaluate",
    "fairness.json": "fairness",
    "explanations.json": "explain",
}
TEAM_SECTIONS = ("Intended use", "Limitations")  # the model card's sections the team writes
PLACEHOLDER = "UNASSIGNED"
TOP_FEATURES = 10
COMMAND = __package__.partition(".")[0]
CONFIG_WITHOUT_REVIEW = "ml-project.yaml (without review)"  # naming a reviewer or signing off keeps a bundle

STYLE = """
body { font-family: system-ui, sans-serif; margin: 2rem; color: #1f2933; max-width: 1100px; }
nav a { margin-right: 1rem; }
table { border-collapse: collapse; margin: .6rem 0 1.2rem; }
th, td { border-bottom: 1px solid #d9dee3; padding: .3rem .7rem; text-align: left; vertical-align: top; }
td.number { text-align: right; font-variant-numeric: tabular-nums; }
tr.failed td { background: #fdecea; }
.verdict { font-weight: 600; }
img { max-width: 100%; border: 1px solid #d9dee3; }
figure { margin: 1rem 0; }
"""


class ReviewError(ProjectError):
    """The review bundle cannot be written: something it reports on is missing or describes another model."""


@dataclass(frozen=True)
class Table:
    headers: tuple[str, ...]
    rows: list[tuple[str, ...]]
    failed_rows: frozenset[int] = frozenset()  # indexes of rows to highlight


@dataclass(frozen=True)
class Figure:
    path: str  # relative to the bundle
    caption: str


Block = str | list[str] | Table | Figure  # a paragraph, a bulleted list, a table or a plot


@dataclass(frozen=True)
class Section:
    id: str
    title: str
    blocks: list[Block]


@dataclass(frozen=True)
class Evidence:
    """What the bundle is made of, read and checked before anything is written."""

    root: Path
    config: ProjectConfig
    version: str
    metadata: dict[str, Any]
    promotion: dict[str, Any]
    metrics: dict[str, Any]
    reports: dict[str, dict[str, Any]]
    data_lineage: dict[str, Any]
    card: str  # docs/MODEL_CARD.md


def sha256_file(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def sha256_json(data: Any) -> str:
    return hashlib.sha256(json.dumps(data, sort_keys=True).encode()).hexdigest()


def _read_json(root: Path, path: Path, missing: str) -> dict[str, Any]:
    """A JSON file of the project at `root`; missing, a ReviewError naming it and what to run."""
    if not (root / path).is_file():
        raise ReviewError(f"{path.as_posix()} not found: {missing}")
    return json.loads((root / path).read_text(encoding="utf-8"))


def gather(root: Path) -> Evidence:
    """Read everything the bundle reports, failing with what to run when a piece is missing or stale."""
    config = load_project_config(root / PROJECT_CONFIG_PATH)
    registry = Registry(root / REGISTRY_PATH)
    version = registry.require_promoted()
    metadata = read_metadata(registry.model_path(version))
    candidate = _read_json(root, metadata_path(CANDIDATE_DIR / MODEL_FILE), "run `uv run dvc repro`")
    if candidate.get("version") != version:
        raise ReviewError(
            f"reports/ describe model {candidate.get('version')} (models/candidate), but the promoted version is "
            f"{version}: check out the commit that trained {version} and run `uv run dvc checkout`, or promote "
            f"{candidate.get('version')} (`uv run {COMMAND} promote`) if it is the one to review"
        )
    reports = {
        name: _read_json(root, REPORTS_DIR / name, f"run `uv run dvc repro` (the {stage} stage writes it)")
        for name, stage in REPORTS.items()
    }
    data_lineage = _read_json(root, DATA_LINEAGE_PATH, "run `uv run dvc repro` (the validate stage writes it)")
    trained_on = metadata.get("data", {}).get("md5")
    if data_lineage.get("md5") != trained_on:
        raise ReviewError(
            f"{DATA_LINEAGE_PATH} records data md5 {data_lineage.get('md5')}, but model {version} was trained on "
            f"md5 {trained_on}: run `uv run dvc repro` so the reports and the model come from the same data"
        )
    card_path = root / MODEL_CARD_PATH
    return Evidence(
        root=root,
        config=config,
        version=version,
        metadata=metadata,
        promotion=registry.history()[-1],
        metrics=registry.metrics(version),
        reports=reports,
        data_lineage=data_lineage,
        card=card_path.read_text(encoding="utf-8") if card_path.is_file() else "",
    )


# ─── What the card says ─────────────────────────────────────────────────────


def card_section(card: str, title: str) -> str | None:
    """The text under a `## title` heading of the model card (comments left out), or None if it has none."""
    match = re.search(rf"^## {re.escape(title)}[ \t]*\n(.*?)(?=^## |\Z)", card, flags=re.MULTILINE | re.DOTALL)
    if match is None:
        return None
    return re.sub(r"<!--.*?-->", "", match.group(1), flags=re.DOTALL).strip()


def team_blocks(text: str) -> list[Block]:
    """Markdown paragraphs and bullet lists as blocks; a bullet's wrapped lines join it."""
    blocks: list[Block] = []
    for chunk in re.split(r"\n\s*\n", text):
        lines = [line.strip() for line in chunk.splitlines() if line.strip()]
        if lines and lines[0].startswith("- "):
            items: list[str] = []
            for line in lines:
                if line.startswith("- "):
                    items.append(line[2:])
                elif items:
                    items[-1] += f" {line}"
            blocks.append(items)
        elif lines:
            blocks.append(" ".join(lines))
    return blocks


def _number(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.4g}"
    return "n/a" if value is None else str(value)


def contract_table() -> Table:
    """The data contract as the project declares it: each column's role, type, sensitivity and checks."""
    from ..contract import COLUMNS, TARGET

    rows = []
    for column in (*COLUMNS, TARGET):
        checks = []
        if column.minimum is not None or column.maximum is not None:
            checks.append(f"from {_number(column.minimum)} to {_number(column.maximum)}")
        if column.categories:
            checks.append("one of " + ", ".join(column.categories))
        if column.accepts_unseen_categories:
            checks.append("other values encoded as unknown")
        if column.pattern:
            checks.append(f"matches {column.pattern}")
        if column.length_limit:
            checks.append(f"at most {column.length_limit} characters")
        checks.append("may be missing" if column.nullable else "required")
        sensitive = "yes" if column.sensitive else "no"
        rows.append((column.name, str(column.role), column.dtype.__name__, sensitive, "; ".join(checks)))
    return Table(("column", "role", "type", "sensitive", "checks"), rows)


def metric_sections(evidence: Evidence) -> list[Section]:
    """The gate, the held-out metrics and the per-segment slices."""
    gate = evidence.config.gate
    better = "higher" if METRICS[gate.metric].higher_is_better else "lower"
    metrics = Table(
        ("metric", "value"),
        [(name, _number(value)) for name, value in evidence.metrics.items() if not isinstance(value, dict)],
    )
    gate_text = (
        f"Promotion gate: `{gate.metric}` must reach {gate.threshold} ({better} is better), and a candidate "
        f"may fall at most {100 * gate.regression_tolerance:g}% behind the promoted version."
    )
    slices: list[Block] = []
    for column, segments in evidence.reports["slices.json"].items():
        names = [key for key in next(iter(segments.values()), {}) if key != "rows"]
        rows = [
            (segment, str(values["rows"]), *(_number(values[n]) for n in names)) for segment, values in segments.items()
        ]
        slices += [f"By `{column}`:", Table(("segment", "rows", *names), rows)]
    return [
        Section("evaluation", "Evaluation", [gate_text, metrics]),
        Section("slices", "Per-segment metrics", slices or ["The contract marks no segment column."]),
    ]


def fairness_section(fairness: dict[str, Any], plots: set[str]) -> Section:
    """One table per sensitive attribute: each group's rows and metrics, then the disparity ratios."""
    verdict = "passed" if fairness["passed"] else "FAILED"
    tested = (
        f", unless a significance test cannot tell the gap from noise (p >= {fairness['significance_level']}: "
        "a warning)"
        if "significance_level" in fairness
        else ""
    )
    blocks: list[Block] = [
        f"Fairness gate {verdict}: every metric's smallest group value must be at least {fairness['min_ratio']} "
        f"of its largest{tested}."
    ]
    if fairness["failures"]:
        blocks.append(list(fairness["failures"]))
    if fairness.get("warnings"):  # below the ratio, but a gap sampling noise could explain
        blocks += ["Warnings (not failing the gate):", list(fairness["warnings"])]
    if not fairness["attributes"]:
        blocks.append("The contract marks no column sensitive, so no groups were compared.")
    for attribute, result in fairness["attributes"].items():
        blocks += [f"By `{attribute}`:", attribute_table(attribute, result, fairness["failures"])]
        not_gated = [
            f"{metric}, group {group}: not gated ({reason})"
            for metric, values in result["metrics"].items()
            for group, reason in values.get("not_gated", {}).items()
        ]
        if not_gated:
            blocks.append(not_gated)
    if "fairness.png" in plots:
        blocks.append(Figure("plots/fairness.png", "Metrics per group"))
    return Section("fairness", "Fairness across protected groups", blocks)


def attribute_table(attribute: str, result: dict[str, Any], failures: list[str]) -> Table:
    """Groups down, metrics across; the ratio row (and the gap's p-value, when tested) at the bottom."""
    metrics = result["metrics"]
    rows = [
        (group, str(count), *(_number(metric["by_group"].get(group)) for metric in metrics.values()))
        for group, count in result["rows"].items()
    ]
    rows.append(("ratio (smallest / largest)", "", *(_number(metric["ratio"]) for metric in metrics.values())))
    if any("p_value" in metric for metric in metrics.values()):
        rows.append(("p-value of that gap", "", *(_number(metric.get("p_value")) for metric in metrics.values())))
    failed = any(failure.startswith(f"{attribute}:") for failure in failures)
    ratio_row = len(result["rows"])  # highlighted when the gate failed on this attribute
    return Table(("group", "rows", *metrics), rows, frozenset({ratio_row}) if failed else frozenset())


def explanations_section(explanations: dict[str, Any], importance: dict[str, Any], plots: set[str]) -> Section:
    """The inputs the model leans on most: mean absolute contributions, then permutation importance."""
    contributions = list(explanations["mean_abs_contribution"].items())[:TOP_FEATURES]
    blocks: list[Block] = [
        f"Mean absolute contribution to the model's output ({explanations['output']}) over "
        f"{explanations['rows']} held-out rows, by {explanations['method']}; the top {len(contributions)}:",
        Table(("input", "mean |contribution|"), [(name, _number(value)) for name, value in contributions]),
    ]
    if "explanations.png" in plots:
        blocks.append(Figure("plots/explanations.png", "Mean absolute contributions"))
    ranked = importance["features"][:TOP_FEATURES]
    blocks += [
        f"Permutation importance: how much `{importance['metric']}` worsens when an input is shuffled "
        f"({importance['rows']} rows, {importance['repeats']} repeats):",
        Table(
            ("input", "importance", "std"),
            [(f["feature"], _number(f["importance"]), _number(f["std"])) for f in ranked],
        ),
    ]
    return Section("explanations", "Global explanations", blocks)


def lineage_section(evidence: Evidence) -> Section:
    """Where the evaluation data came from: the raw file, its hashes, the split and the code's commit."""
    metadata, data = evidence.metadata, evidence.metadata.get("data", {})
    split = load_params(evidence.root / PARAMS_PATH).split
    git = metadata.get("git", {})
    rows = [
        ("raw data file", str(data.get("path"))),
        ("md5 of the bytes read", str(data.get("md5"))),
        ("DVC md5 of its pointer", str(data.get("dvc_md5"))),
        ("size (bytes)", str(data.get("size"))),
        ("validated data (data/validated/lineage.json)", f"md5 {evidence.data_lineage.get('md5')}"),
        ("held-out split", f"{split.strategy}, test_size {split.test_size}, seed {split.seed}"),
        ("held-out rows", str(evidence.metrics.get("test_rows"))),
        ("training rows", str(metadata.get("training_rows"))),
        ("git commit", f"{git.get('commit')}" + (" (uncommitted changes)" if git.get("dirty") else "")),
        ("schema version", str(metadata.get("schema_version"))),
        ("trained at", str(metadata.get("trained_at"))),
    ]
    return Section(
        "lineage",
        "Evaluation data lineage",
        [
            "The metrics, slices, fairness and explanations come from the held-out part of this data, "
            "split off before training:",
            Table(("what", "value"), rows),
        ],
    )


def card_sections(evidence: Evidence, plots: set[str]) -> list[Section]:
    """The model card, top to bottom."""
    config, metadata = evidence.config, evidence.metadata
    owners, kpi, review = config.owners, config.kpi, config.review
    signed = (
        f"signed off version {review.approved_version}"
        if review.approved_version
        else "not signed off yet (review.approved_version in ml-project.yaml)"
    )
    model = [
        f"Version {evidence.version}: {config.problem_type} of `{metadata.get('target')}`, trained "
        f"{metadata.get('trained_at')} on {metadata.get('training_rows')} rows; promoted "
        f"{evidence.promotion.get('promoted_at')}: {evidence.promotion.get('reason')}",
        [
            f"Model owner: {owners.model_owner.name} ({owners.model_owner.email})",
            f"Business owner: {owners.business_owner}",
            f"On call: {owners.on_call}",
            f"Rollback approver: {config.rollback.approver}",
            f"Reviewer: {review.reviewer or 'not named yet (review.reviewer in ml-project.yaml)'}; {signed}",
        ],
    ]
    team = []
    for title in TEAM_SECTIONS:
        text = card_section(evidence.card, title)
        blocks = team_blocks(text) if text else [f"{MODEL_CARD_PATH} has no `## {title}` section."]
        team.append(Section(title.lower().replace(" ", "-"), title, blocks))
    team[0].blocks.append(
        [
            f"KPI: {kpi.name}, measured as {kpi.measurement}",
            f"Target: {kpi.target} (baseline: {kpi.baseline})",
            f"Pilot exit: {kpi.pilot_exit_criteria}",
        ]
    )
    figures = sorted(plots - {"fairness.png", "explanations.png"})
    return [
        Section("model", "Model", model),
        *team,
        *metric_sections(evidence),
        fairness_section(evidence.reports["fairness.json"], plots),
        explanations_section(evidence.reports["explanations.json"], evidence.reports["importance.json"], plots),
        lineage_section(evidence),
        Section("contract", "Data contract", [contract_table()]),
        Section("plots", "Evaluation plots", [Figure(f"plots/{name}", name) for name in figures]),
    ]


# ─── Rendering ───────────────────────────────────────────────────────────────


def _inline_html(text: str) -> str:
    """Escape text, then show `code` as code."""
    return re.sub(r"`([^`]+)`", r"<code>\1</code>", escape(text))


def html_block(block: Block) -> str:
    if isinstance(block, str):
        return f"<p>{_inline_html(block)}</p>"
    if isinstance(block, list):
        return "<ul>" + "".join(f"<li>{_inline_html(item)}</li>" for item in block) + "</ul>"
    if isinstance(block, Figure):
        caption = escape(block.caption)
        return f'<figure><img src="{escape(block.path)}" alt="{caption}"><figcaption>{caption}</figcaption></figure>'
    head = "".join(f"<th>{escape(name)}</th>" for name in block.headers)
    body = "".join(
        ('<tr class="failed">' if index in block.failed_rows else "<tr>")
        + "".join(f"<td>{_inline_html(cell)}</td>" for cell in row)
        + "</tr>"
        for index, row in enumerate(block.rows)
    )
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def render_html(title: str, sections: list[Section], files: list[str]) -> str:
    """The index page: the card's sections, then every file of the bundle, linked."""
    nav = "".join(f'<a href="#{section.id}">{escape(section.title)}</a>' for section in sections)
    body = "".join(
        f'<section id="{section.id}"><h2>{escape(section.title)}</h2>'
        + "".join(html_block(block) for block in section.blocks)
        + "</section>"
        for section in sections
    )
    links = "".join(f'<li><a href="{escape(name)}">{escape(name)}</a></li>' for name in files)
    return f"""<!DOCTYPE html>
<html lang="en">
<head><meta charset="utf-8"><title>{escape(title)}</title><style>{STYLE}</style></head>
<body>
<h1>{escape(title)}</h1>
<nav>{nav}<a href="#files">Files</a></nav>
{body}
<section id="files"><h2>Files</h2><ul>{links}</ul></section>
</body>
</html>
"""


# ─── Writing, and telling whether a bundle still describes the project ──────


def source_digests(evidence: Evidence) -> dict[str, str]:
    """SHA-256 of every input the bundle is made of, by where it comes from."""
    root, registry = evidence.root, Registry(evidence.root / REGISTRY_PATH)
    paths = [
        metadata_path(registry.model_path(evidence.version)),
        registry.version_dir(evidence.version) / METRICS_FILE,
        root / DATA_LINEAGE_PATH,
        root / MODEL_CARD_PATH,
        *(root / REPORTS_DIR / name for name in REPORTS),
        *sorted((root / REPORTS_DIR / "plots").glob("*.png")),
    ]
    digests = {path.relative_to(root).as_posix(): sha256_file(path) for path in paths if path.is_file()}
    config = evidence.config.model_dump(mode="json", exclude={"review"})
    return {**digests, CONFIG_WITHOUT_REVIEW: sha256_json(config), "data contract": sha256_json(contract_table().rows)}


def write_bundle(root: Path, output: Path | None = None, *, archive: bool = True) -> Path:
    """Write the promoted version's review bundle (default `review/<version>/`, and the folder zipped); return it."""
    evidence = gather(root)
    output = output or root / REVIEW_DIR / evidence.version
    if output.exists():
        shutil.rmtree(output)  # a bundle holds this run's files only
    (output / "plots").mkdir(parents=True)
    plots = set()
    for plot in sorted((root / REPORTS_DIR / "plots").glob("*.png")):
        shutil.copy2(plot, output / "plots" / plot.name)
        plots.add(plot.name)
    copies = {
        METRICS_FILE: Registry(root / REGISTRY_PATH).version_dir(evidence.version) / METRICS_FILE,
        "model.json": metadata_path(Registry(root / REGISTRY_PATH).model_path(evidence.version)),
        "data_lineage.json": root / DATA_LINEAGE_PATH,
        **{name: root / REPORTS_DIR / name for name in REPORTS},
    }
    for name, source in copies.items():
        shutil.copy2(source, output / name)
    title = f"Review bundle: {COMMAND} model {evidence.version}"
    sections = card_sections(evidence, plots)
    manifest = {
        "version": evidence.version,
        "written_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "sources": source_digests(evidence),
    }
    (output / MANIFEST_FILE).write_text(json.dumps(manifest, indent=2) + "\n", encoding="utf-8")
    files = [*copies, *(f"plots/{name}" for name in sorted(plots)), MANIFEST_FILE]
    (output / "index.html").write_text(render_html(title, sections, files), encoding="utf-8")
    if archive:
        shutil.make_archive(str(output), "zip", root_dir=output.parent, base_dir=output.name)
    return output


def bundle_problems(root: Path, version: str) -> list[str]:
    """Why `review/<version>/` does not describe the project as it is now; empty when it does."""
    manifest_path = root / REVIEW_DIR / version / MANIFEST_FILE
    if not manifest_path.is_file():
        return [f"no review bundle for version {version}: run `uv run {COMMAND} review-bundle`"]
    manifest = json.loads(manifest_path.read_text(encoding="utf-8"))
    try:
        current = source_digests(gather(root))
    except ProjectError as error:
        return [str(error)]
    recorded = manifest.get("sources", {})
    changed = sorted(name for name in current.keys() | recorded.keys() if current.get(name) != recorded.get(name))
    return [f"{name} changed since the bundle was written: run `uv run {COMMAND} review-bundle`" for name in changed]
