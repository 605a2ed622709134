"""Slow tier: each CI variant's generated project passes its own checks, judged by exit codes.

Per variant, in order: render, `git init` and commit, `uv sync --frozen`, then the lock,
the pipeline, the project's own tests and pre-commit, the data round trip through the DVC
remote into a fresh clone, the service over HTTP, and the Bento build.
"""

from __future__ import annotations

import json
import os
import subprocess
import warnings
from pathlib import Path

import pytest
import yaml

from tools.projects import example_request, project_env
from tools.servers import free_port, request, running_server
from tools.variants import Variant, render

pytestmark = pytest.mark.slow


class Project:
    """A rendered, committed and synced project, with a way to run commands in it."""

    def __init__(self, root: Path, answers: dict, home: Path) -> None:
        self.root, self.answers = root, answers
        self.env = project_env(os.environ, BENTOML_HOME=str(home / "bentoml"))

    def run(self, *command: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
        """Run a command in the project; a non-zero exit fails the test with the command's output."""
        result = subprocess.run(command, cwd=cwd or self.root, env=self.env, capture_output=True, text=True)
        if result.returncode != 0:
            output = f"{result.stdout[-4000:]}\n{result.stderr[-4000:]}"
            pytest.fail(f"{' '.join(command)} exited {result.returncode}\n{output}")
        return result

    def uv_run(self, *command: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
        return self.run("uv", "run", "--frozen", *command, cwd=cwd)


@pytest.fixture(scope="module")
def project(generated_variant: Variant, tmp_path_factory: pytest.TempPathFactory) -> Project:
    """The variant (chosen with --variants, CI variants by default) rendered, committed and synced."""
    variant = generated_variant
    home = tmp_path_factory.mktemp(variant.name)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        answers = render(variant, home / "project")
    project = Project(home / "project", answers, home)
    project.run("git", "init", "-q", "-b", "main")
    project.run("git", "add", "-A")
    project.run("git", "commit", "-q", "-m", "Start from Shipshape")
    project.run("uv", "sync", "--frozen")
    return project


@pytest.fixture(scope="module")
def reproduced(project: Project) -> Project:
    """The project after `dvc repro` trained and evaluated the model."""
    project.uv_run("dvc", "repro")
    return project


def test_lock_matches_pyproject(project: Project) -> None:
    project.run("uv", "lock", "--check")


def test_pipeline_reproduces_then_is_a_no_op(reproduced: Project) -> None:
    metrics = json.loads((reproduced.root / "metrics.json").read_text())
    params = yaml.safe_load((reproduced.root / "params.yaml").read_text())
    assert set(params["evaluate"]["metrics"]) <= metrics.keys()
    status = reproduced.uv_run("dvc", "status", "--json")
    assert json.loads(status.stdout) == {}


def test_own_test_suite_passes(project: Project) -> None:
    project.uv_run("pytest", "-q", "-p", "no:cacheprovider")


def test_pre_commit_passes(project: Project) -> None:
    project.uv_run("pre-commit", "run", "--all-files", "--show-diff-on-failure")


def test_fresh_clone_pulls_the_data_from_the_remote(reproduced: Project) -> None:
    reproduced.uv_run("dvc", "commit", "--force")
    reproduced.uv_run("dvc", "push")
    reproduced.run("git", "add", "-A")
    reproduced.run("git", "commit", "-q", "-m", "Record the pipeline run")
    clone = reproduced.root.parent / "clone"
    reproduced.run("git", "clone", "-q", str(reproduced.root), str(clone))
    reproduced.run("uv", "sync", "--frozen", cwd=clone)
    reproduced.uv_run("dvc", "pull", cwd=clone)
    for tracked in ("data/raw/customers.csv", "models/model.skops", "models/model.json"):
        assert (clone / tracked).read_bytes() == (reproduced.root / tracked).read_bytes(), tracked


def test_service_answers_over_http(reproduced: Project) -> None:
    body = example_request(reproduced.root, reproduced.env)
    port = free_port()
    command = ["uv", "run", "--frozen", "bentoml", "serve", "--host", "127.0.0.1", "--port", str(port)]
    log = reproduced.root.parent / "serve.log"
    with running_server(command, reproduced.root, reproduced.env, port, log) as url:
        status, text = request("POST", f"{url}/predict", body)
        assert status == 200, text
        assert "prediction" in json.loads(text)
        invalid = {**body, "unexpected_field": 1}
        status, text = request("POST", f"{url}/predict", invalid)
        assert status == 400
        assert "unexpected_field" in text
        status, text = request("GET", f"{url}/metrics")
        assert status == 200
        assert "bentoml_service_request" in text


def test_bento_builds_with_the_model(reproduced: Project) -> None:
    reproduced.uv_run("bentoml", "build", "--output", "tag")
    bentos = list((Path(reproduced.env["BENTOML_HOME"]) / "bentos").glob("*/*/src/models/model.skops"))
    assert len(bentos) == 1
    assert bentos[0].read_bytes() == (reproduced.root / "models/model.skops").read_bytes()
