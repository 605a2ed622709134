"""Every variant renders the exact file set, fully rendered, parseable and lint-clean."""

from __future__ import annotations

import ast
import hashlib
import json
import py_compile
import re
import subprocess
import sys
import tomllib
import warnings
from pathlib import Path

import pytest
import yaml

from tools.variants import ROOT, Variant, render

EXPECTED_FILES = {
    ".copier-answers.yml",
    ".dvc/.gitignore",
    ".dvc/config",
    ".dvcignore",
    ".env.example",
    ".github/CODEOWNERS",
    ".github/scripts/check_update_leftovers.py",
    ".github/workflows/ci.yml",
    ".github/workflows/retrain.yml",
    ".github/workflows/template-update.yml",
    ".gitignore",
    ".pre-commit-config.yaml",
    "LICENSE",
    "README.md",
    "data/raw/.gitignore",
    "data/raw/sample.csv",
    "data/raw/sample.csv.dvc",
    "docs/MODEL_CARD.md",
    "docs/OWNERSHIP.md",
    "docs/RUNBOOK.md",
    "docs/batch-scoring.md",
    "docs/bring-your-own-data.md",
    "docs/monitoring.md",
    "dvc.yaml",
    "ml-project.yaml",
    "params.yaml",
    "pyproject.toml",
    "requirements/service.txt",
    "src/{package}/__init__.py",
    "src/{package}/cli.py",
    "src/{package}/config.py",
    "src/{package}/contract.py",
    "src/{package}/core/__init__.py",
    "src/{package}/core/columns.py",
    "src/{package}/core/contract.py",
    "src/{package}/core/encoding.py",
    "src/{package}/core/errors.py",
    "src/{package}/core/explain.py",
    "src/{package}/core/feature.py",
    "src/{package}/core/featureset.py",
    "src/{package}/core/metrics.py",
    "src/{package}/core/predict.py",
    "src/{package}/core/requests.py",
    "src/{package}/core/tables.py",
    "src/{package}/core/validation.py",
    "src/{package}/estimator.py",
    "src/{package}/features.py",
    "src/{package}/governance/__init__.py",
    "src/{package}/governance/readiness.py",
    "src/{package}/governance/review.py",
    "src/{package}/monitoring/__init__.py",
    "src/{package}/monitoring/drift.py",
    "src/{package}/monitoring/evidently_report.py",
    "src/{package}/monitoring/inputs.py",
    "src/{package}/monitoring/monitor.py",
    "src/{package}/monitoring/performance.py",
    "src/{package}/monitoring/profile.py",
    "src/{package}/monitoring/prometheus.py",
    "src/{package}/monitoring/report.py",
    "src/{package}/monitoring/summary.py",
    "src/{package}/monitoring/window.py",
    "src/{package}/pipeline/__init__.py",
    "src/{package}/pipeline/evaluate.py",
    "src/{package}/pipeline/explain.py",
    "src/{package}/pipeline/fairness.py",
    "src/{package}/pipeline/features.py",
    "src/{package}/pipeline/gate.py",
    "src/{package}/pipeline/plots.py",
    "src/{package}/pipeline/split.py",
    "src/{package}/pipeline/tracking.py",
    "src/{package}/pipeline/train.py",
    "src/{package}/pipeline/validate.py",
    "src/{package}/registry/__init__.py",
    "src/{package}/registry/artifacts.py",
    "src/{package}/registry/contracts.py",
    "src/{package}/registry/rollout.py",
    "src/{package}/registry/store.py",
    "src/{package}/registry/versions.py",
    "src/{package}/serving/__init__.py",
    "src/{package}/serving/api.py",
    "src/{package}/scoring/__init__.py",
    "src/{package}/scoring/batch.py",
    "src/{package}/serving/answering.py",
    "src/{package}/serving/batching.py",
    "src/{package}/serving/canary.py",
    "src/{package}/serving/loading.py",
    "src/{package}/serving/lookup.py",
    "src/{package}/serving/middleware.py",
    "src/{package}/serving/service.py",
    "src/{package}/serving/shadow.py",
    "src/{package}/telemetry/__init__.py",
    "src/{package}/telemetry/observability.py",
    "src/{package}/telemetry/prediction_log.py",
    "tests/conftest.py",
    "tests/contract_rows.py",
    "tests/live_server.py",
    "tests/previous_release/ml-project.yaml",
    "tests/previous_release/params.yaml",
    "tests/registry_entries.py",
    "tests/served_rows.py",
    "tests/test_added_feature.py",
    "tests/test_batching.py",
    "tests/test_client_errors.py",
    "tests/test_config.py",
    "tests/test_contract.py",
    "tests/test_data_version.py",
    "tests/test_drift.py",
    "tests/test_encoding.py",
    "tests/test_evaluate.py",
    "tests/test_explain.py",
    "tests/test_fairness.py",
    "tests/test_features.py",
    "tests/test_gate.py",
    "tests/test_http.py",
    "tests/test_load.py",
    "tests/test_log_privacy.py",
    "tests/test_monitor.py",
    "tests/test_observability.py",
    "tests/test_openapi.py",
    "tests/test_prediction_log.py",
    "tests/test_readiness.py",
    "tests/test_readme.py",
    "tests/test_registry.py",
    "tests/test_requirements.py",
    "tests/test_review.py",
    "tests/test_rollout.py",
    "tests/test_rollout_http.py",
    "tests/test_score.py",
    "tests/test_service.py",
    "tests/test_serving.py",
    "tests/test_shadow.py",
    "tests/test_stages.py",
    "tests/test_train.py",
    "tests/test_versions.py",
    "tests/test_versions_http.py",
    "uv.lock",
}
# Files only some answers produce: (answer, value) -> files.
OPTIONAL_FILES = {
    ("experiment_tracking", "mlflow"): {"tests/test_tracking.py"},
    ("monitoring_report", "evidently"): {"tests/test_evidently_report.py"},
    ("feature_store", "feast"): {
        "data/history/.gitignore",
        "data/history/customer_usage.csv",
        "data/history/customer_usage.csv.dvc",
        "docs/feature-store.md",
        "feature_repo/definitions.py",
        "feature_repo/feature_store.yaml",
        "src/{package}/feature_views.py",
        "src/{package}/featurestore/__init__.py",
        "src/{package}/featurestore/definitions.py",
        "src/{package}/featurestore/history.py",
        "src/{package}/featurestore/materialize.py",
        "src/{package}/featurestore/offline.py",
        "src/{package}/featurestore/online.py",
        "src/{package}/featurestore/store.py",
        "src/{package}/featurestore/views.py",
        "tests/online_store.py",
        "tests/test_feature_store.py",
        "tests/test_online_features.py",
        "tests/test_online_skew.py",
        "tests/test_store_configs.py",
    },
    ("compute", "dask"): {
        "docs/compute.md",
        "src/{package}/compute/__init__.py",
        "src/{package}/compute/cluster.py",
        "src/{package}/compute/evaluate.py",
        "src/{package}/compute/features.py",
        "src/{package}/compute/scoring.py",
        "src/{package}/compute/split.py",
        "src/{package}/compute/tables.py",
        "src/{package}/compute/train.py",
        "src/{package}/compute/validate.py",
        "tests/test_compute.py",
    },
    ("kubernetes", True): {
        "deploy/kubernetes/README.md",
        "deploy/kubernetes/deployment.yaml",
        "deploy/kubernetes/hpa.yaml",
        "deploy/kubernetes/kustomization.yaml",
        "deploy/kubernetes/service.yaml",
    },
}

# GitHub Actions expressions use `${{ ... }}` on purpose; anything else that looks like Jinja was left unrendered.
GITHUB_EXPRESSION = re.compile(r"\$\{\{.*?\}\}")
JINJA_SYNTAX = re.compile(r"\{\{|\}\}|\{%|%\}|\{#|#\}")


def files_in(project: Path) -> set[str]:
    return {path.relative_to(project).as_posix() for path in project.rglob("*") if path.is_file()}


def test_exact_file_set(project: Path, answers: dict) -> None:
    names = EXPECTED_FILES.union(*(files for (key, value), files in OPTIONAL_FILES.items() if answers[key] == value))
    assert files_in(project) == {name.format(package=answers["package_name"]) for name in names}


def rendered_forms(value: str) -> list[str]:
    """How an answer can appear in a file: as typed, or escaped by Jinja's `tojson`."""
    as_json = json.dumps(value)
    for character, escape in (("<", "\\u003c"), (">", "\\u003e"), ("&", "\\u0026"), ("'", "\\u0027")):
        as_json = as_json.replace(character, escape)
    return [value, as_json]


def test_no_unrendered_jinja(project: Path, answers: dict) -> None:
    texts = [value for value in answers.values() if isinstance(value, str) and value]
    answer_forms = [form for value in texts for form in rendered_forms(value)]
    leftovers = []
    for name in files_in(project) - {".copier-answers.yml"}:  # answers are data there, checked by round trip
        text = (project / name).read_text(encoding="utf-8")
        for form in answer_forms:  # answers may legitimately contain braces; they render literally
            text = text.replace(form, "")
        text = GITHUB_EXPRESSION.sub("", text)
        leftovers += [f"{name}: {match.group()!r}" for match in JINJA_SYNTAX.finditer(text)]
    assert leftovers == []


def test_python_compiles(project: Path, tmp_path: Path) -> None:
    for path in project.rglob("*.py"):
        py_compile.compile(str(path), cfile=str(tmp_path / "out.pyc"), doraise=True)


def test_yaml_and_toml_parse(project: Path) -> None:
    for path in [*project.rglob("*.yaml"), *project.rglob("*.yml"), *project.rglob("*.dvc")]:
        if path.is_dir():
            continue
        assert yaml.safe_load(path.read_text(encoding="utf-8")) is not None, path
    for path in [*project.rglob("*.toml"), project / "uv.lock"]:
        tomllib.loads(path.read_text(encoding="utf-8"))


def test_ruff_check_and_format_pass(project: Path) -> None:
    ruff = [sys.executable, "-m", "ruff"]
    subprocess.run([*ruff, "check", "--no-cache", "."], cwd=project, check=True)
    subprocess.run([*ruff, "format", "--check", "--no-cache", "."], cwd=project, check=True)


def comparable(path: Path) -> bytes:
    """A file's bytes, less the template commit id: copier commits a dirty working tree afresh per render."""
    lines = path.read_bytes().splitlines(keepends=True)
    return b"".join(line for line in lines if not line.startswith(b"_commit:"))


def test_second_render_is_byte_identical(variant: Variant, project: Path, tmp_path: Path) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        render(variant, tmp_path / "again")
    first, second = files_in(project), files_in(tmp_path / "again")
    assert first == second
    changed = [name for name in first if comparable(project / name) != comparable(tmp_path / "again" / name)]
    assert changed == []


def test_dvc_pointer_matches_the_sample_data(project: Path) -> None:
    data = (project / "data/raw/sample.csv").read_bytes()
    pointer = yaml.safe_load((project / "data/raw/sample.csv.dvc").read_text())["outs"][0]
    assert pointer["md5"] == hashlib.md5(data).hexdigest()  # noqa: S324 - DVC's content hash
    assert pointer["size"] == len(data)


def test_lock_names_the_rendered_project(project: Path) -> None:
    name = tomllib.loads((project / "pyproject.toml").read_text())["project"]["name"]
    lock = tomllib.loads((project / "uv.lock").read_text())
    editable = [package["name"] for package in lock["package"] if package["source"].get("editable") == "."]
    assert editable == [name]


def test_lock_installs_the_groups_pyproject_names(project: Path, answers: dict) -> None:
    pyproject = tomllib.loads((project / "pyproject.toml").read_text())
    lock = tomllib.loads((project / "uv.lock").read_text())
    own = next(package for package in lock["package"] if package["source"].get("editable") == ".")
    groups = pyproject["tool"]["uv"]["default-groups"]
    assert own.get("default-groups", ["dev"]) == groups
    assert ("remote-" + answers["dvc_remote"] in groups) is (answers["dvc_remote"] != "local")
    assert ("tracking" in groups) is (answers["experiment_tracking"] == "mlflow")


def test_model_family_reaches_the_dependencies_and_params(project: Path, answers: dict) -> None:
    dependencies = tomllib.loads((project / "pyproject.toml").read_text())["project"]["dependencies"]
    estimator = yaml.safe_load((project / "params.yaml").read_text())["train"]["estimator"]
    lightgbm = answers["model_family"] == "lightgbm"
    assert any(dependency.startswith("lightgbm") for dependency in dependencies) is lightgbm
    assert ("num_leaves" in estimator) is lightgbm


def test_answers_round_trip_through_the_answers_file(variant: Variant, project: Path) -> None:
    recorded = yaml.safe_load((project / ".copier-answers.yml").read_text(encoding="utf-8"))
    assert {key: recorded[key] for key in variant.data} == dict(variant.data)


def test_problem_type_reaches_config_and_params(project: Path, answers: dict) -> None:
    config = yaml.safe_load((project / "ml-project.yaml").read_text())
    params = yaml.safe_load((project / "params.yaml").read_text())
    assert config["problem_type"] == answers["problem_type"]
    assert params["split"]["stratify"] is (answers["problem_type"] != "regression")


def test_ci_matrix_and_ruff_target_follow_the_python_version(project: Path, answers: dict) -> None:
    workflow = yaml.safe_load((project / ".github/workflows/ci.yml").read_text())
    matrix = workflow["jobs"]["checks"]["strategy"]["matrix"]["python-version"]
    pyproject = tomllib.loads((project / "pyproject.toml").read_text())
    assert matrix[0] == "3.11"
    assert matrix[-1] == answers["python_version"]
    assert pyproject["tool"]["ruff"]["target-version"] == "py" + answers["python_version"].replace(".", "")
    assert pyproject["project"]["requires-python"] == ">=3.11"


@pytest.mark.parametrize(
    ("license_id", "marker"),
    [
        ("MIT", "MIT License"),
        ("Apache-2.0", "Apache License"),
        ("BSD-3-Clause", "BSD 3-Clause License"),
        ("Proprietary", "All rights reserved"),
    ],
)
def test_license_text_matches_the_answer(license_id: str, marker: str, tmp_path: Path) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        render(Variant("license", {"license": license_id}), tmp_path)
    text = (tmp_path / "LICENSE").read_text()
    assert marker in text
    assert text.endswith("\n")
    assert not text.endswith("\n\n")


GOVERNANCE_KEYS = {
    "model_owner_name": "owners.model_owner.name",
    "model_owner_email": "owners.model_owner.email",
    "business_owner": "owners.business_owner",
    "on_call_contact": "owners.on_call",
    "kpi_name": "kpi.name",
    "kpi_measurement": "kpi.measurement",
    "kpi_target": "kpi.target",
    "kpi_baseline": "kpi.baseline",
    "pilot_exit_criteria": "kpi.pilot_exit_criteria",
    "primary_metric": "gate.metric",
    "metric_gate": "gate.threshold",
    "latency_budget_ms": "service.latency_budget_ms",
    "peak_throughput_rps": "service.peak_throughput_rps",
    "fallback_mode": "service.fallback",
    "drift_threshold": "monitoring.drift_threshold",
    "drift_min_window": "monitoring.min_window",
    "retraining_trigger": "retraining.trigger",
    "rollback_approver": "rollback.approver",
    "rollback_target_minutes": "rollback.target_minutes",
    "data_sources": "data.sources",
    "contains_personal_data": "data.contains_personal_data",
    "regulatory_review_required": "data.regulatory_review_required",
}


def dotted(tree: dict, key: str) -> object:
    for part in key.split("."):
        tree = tree[part]
    return tree


def test_governance_answers_reach_ml_project_yaml_literally(project: Path, answers: dict) -> None:
    config = yaml.safe_load((project / "ml-project.yaml").read_text(encoding="utf-8"))
    assert {question: dotted(config, key) for question, key in GOVERNANCE_KEYS.items()} == {
        question: answers[question] for question in GOVERNANCE_KEYS
    }
    schedule = answers["retraining_schedule"] if answers["retraining_trigger"] != "drift" else None
    assert config["retraining"]["schedule"] == schedule
    reviewer = answers.get("reviewer", "") if answers["regulatory_review_required"] else ""
    assert config["review"] == {"reviewer": reviewer, "approved_version": None}


def test_model_card_leaves_intended_use_and_limits_to_the_team(project: Path) -> None:
    """Under review, readiness fails while these sections hold the placeholder (governance/review.py TEAM_SECTIONS)."""
    card = (project / "docs/MODEL_CARD.md").read_text(encoding="utf-8")
    for title in ("Intended use", "Limitations"):
        section = card.split(f"\n## {title}\n", 1)[1].split("\n## ", 1)[0]
        assert "UNASSIGNED" in section, f"docs/MODEL_CARD.md: no placeholder under ## {title}"


def test_documents_quote_the_config_they_describe(project: Path) -> None:
    config = yaml.safe_load((project / "ml-project.yaml").read_text(encoding="utf-8"))
    quoted = re.compile(r"`([a-z_]+(?:\.[a-z_]+)+) = ([^`]*)`")
    for document in ("docs/OWNERSHIP.md", "docs/MODEL_CARD.md", "docs/RUNBOOK.md"):
        pairs = quoted.findall((project / document).read_text(encoding="utf-8"))
        assert pairs, document
        for key, text in pairs:
            value = dotted(config, key)
            expected = str(value).lower() if isinstance(value, bool) else str(value)
            assert text == expected, f"{document}: {key}"


def metric_directions(metrics_module: Path) -> dict[str, bool]:
    """`METRICS` of a rendered metrics.py, read without importing it: name -> higher is better."""
    tree = ast.parse(metrics_module.read_text(encoding="utf-8"))
    assignments = [node for node in tree.body if isinstance(node, ast.AnnAssign)]
    catalog = next(node.value for node in assignments if getattr(node.target, "id", "") == "METRICS")
    directions = {}
    for key, call in zip(catalog.keys, catalog.values, strict=True):
        keywords = {keyword.arg: ast.literal_eval(keyword.value) for keyword in call.keywords}
        directions[ast.literal_eval(key)] = keywords.get("higher_is_better", True)
    return directions


def test_questionnaire_metric_catalog_agrees_with_the_generated_code(project: Path, answers: dict) -> None:
    directions = metric_directions(project / "src" / answers["package_name"] / "core" / "metrics.py")
    for metric, (_, _, better) in answers["metric_ranges"].items():
        assert directions[metric] is (better == "higher"), metric
    offered = {metric for metrics in answers["metric_choices"].values() for metric in metrics}
    assert offered <= directions.keys()


def test_readiness_knows_the_hash_of_every_shipped_sample() -> None:
    """`readiness` fails a model trained on the bundled sample by its hash: the list must follow the samples."""
    readiness = ROOT / "template" / "src" / "{{package_name}}" / "governance" / "readiness.py"
    assignment = next(
        node
        for node in ast.parse(readiness.read_text(encoding="utf-8")).body
        if isinstance(node, ast.Assign) and getattr(node.targets[0], "id", None) == "SAMPLE_DATA_MD5"
    )
    assert isinstance(assignment.value, ast.Call)  # frozenset({...})
    known = ast.literal_eval(assignment.value.args[0])
    shipped = {
        yaml.safe_load(pointer.read_text(encoding="utf-8"))["outs"][0]["md5"]
        for pointer in (ROOT / "includes" / "sample_data").glob("*.csv.dvc")
    }
    assert len(shipped) == 3
    assert known == shipped
