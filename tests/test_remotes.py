"""The DVC remote: each choice renders its default remote, and credentials never reach git.

Fast tests render every remote choice and read `.dvc/config`, `.env.example` and the ignore
rules. The slow tests push a generated project's data to a local S3-compatible server (moto)
and pull it back into fresh clones, with the credentials only in the environment, and import
raw data from a bucket URL as docs/bring-your-own-data.md shows.
"""

from __future__ import annotations

import configparser
import hashlib
import json
import os
import shutil
import subprocess
import threading
import warnings
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import pytest

from tools.projects import project_env
from tools.sample_data import dataset_bytes
from tools.variants import ROOT, Variant, render, variant_named

DOCS = ROOT / "docs" / "remotes.md"
REMOTE_SECTION = "'remote \"storage\"'"
AWS_VARIABLES = {"AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_DEFAULT_REGION"}
# Remote options that hold secrets (DVC's config schema): only the git-ignored config.local may have them.
CREDENTIAL_OPTIONS = {
    "access_key_id",
    "secret_access_key",
    "session_token",
    "credentialpath",
    "configpath",
    "connection_string",
    "account_key",
    "sas_token",
    "client_id",
    "client_secret",
    "password",
    "token",
}


@dataclass(frozen=True)
class RemoteCase:
    """A variant rendered with one remote choice, and what its project must contain."""

    name: str
    variant: str
    remote: dict[str, str]
    env_variables: set[str]
    extra_data: Mapping[str, Any] = field(default_factory=dict)


CASES = [
    RemoteCase(
        "local",
        "binary-defaults",
        {"url": "../../churn-pilot-dvc-storage", "verify": "true"},
        set(),
    ),
    RemoteCase(
        "s3-compatible",
        "binary-s3",
        {"url": "s3://churn-pilot-data/dvc", "endpointurl": "http://127.0.0.1:9000", "verify": "true"},
        AWS_VARIABLES,
    ),
    RemoteCase(
        "aws-s3",
        "binary-s3",
        {"url": "s3://churn-pilot-data/dvc", "verify": "true"},
        AWS_VARIABLES,
        {"s3_endpoint_url": ""},
    ),
    RemoteCase(
        "gcs",
        "regression-gcs",
        {"url": "gs://churn-pilot-dvc/store", "verify": "true"},
        {"GOOGLE_APPLICATION_CREDENTIALS"},
    ),
    RemoteCase(
        "azure",
        "multiclass-azure",
        {"url": "azure://models/renewal", "verify": "true"},
        {"AZURE_STORAGE_CONNECTION_STRING", "AZURE_STORAGE_ACCOUNT", "AZURE_STORAGE_KEY"},
    ),
]


def render_quietly(variant: Variant, destination: Path, extra_data: Mapping[str, Any] | None = None) -> dict[str, Any]:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # DirtyLocalWarning: rendering uncommitted work is the point
        return render(variant, destination, extra_data=extra_data)


@pytest.fixture(scope="module", params=CASES, ids=[case.name for case in CASES])
def rendered(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> tuple[RemoteCase, Path]:
    """Each remote case rendered once; tests that change the project work on a copy."""
    case: RemoteCase = request.param
    root = tmp_path_factory.mktemp(f"remote-{case.name}") / "project"
    render_quietly(variant_named(case.variant), root, case.extra_data)
    return case, root


def read_dvc_config(root: Path) -> configparser.ConfigParser:
    parser = configparser.ConfigParser(interpolation=None)
    parser.read_string((root / ".dvc" / "config").read_text(encoding="utf-8"))
    return parser


def test_default_remote_is_storage_with_exactly_the_expected_settings(rendered: tuple[RemoteCase, Path]) -> None:
    case, root = rendered
    config = read_dvc_config(root)
    assert config.sections() == ["core", REMOTE_SECTION]
    assert dict(config["core"]) == {"remote": "storage", "analytics": "false"}
    assert dict(config[REMOTE_SECTION]) == case.remote


def test_docs_quote_the_rendered_s3_compatible_config(tmp_path: Path) -> None:
    (case,) = [case for case in CASES if case.name == "s3-compatible"]
    render_quietly(variant_named(case.variant), tmp_path / "project", case.extra_data)
    config = (tmp_path / "project" / ".dvc" / "config").read_text(encoding="utf-8")
    assert f"```ini\n{config}```" in DOCS.read_text(encoding="utf-8")


def test_dvc_config_holds_no_credentials(rendered: tuple[RemoteCase, Path]) -> None:
    config = read_dvc_config(rendered[1])
    options = {option for section in config.sections() for option in config[section]}
    assert options & CREDENTIAL_OPTIONS == set()


def test_env_example_names_the_credentials_with_empty_values(rendered: tuple[RemoteCase, Path]) -> None:
    case, root = rendered
    lines = (root / ".env.example").read_text(encoding="utf-8").splitlines()
    assignments = dict(line.split("=", 1) for line in lines if line and not line.startswith("#"))
    assert set(assignments) == case.env_variables
    assert all(value == "" for value in assignments.values()), assignments


def git(root: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["git", *args], cwd=root, env=project_env(os.environ), capture_output=True, text=True)


def test_env_example_is_tracked_while_secret_files_are_ignored(
    rendered: tuple[RemoteCase, Path], tmp_path: Path
) -> None:
    root = Path(shutil.copytree(rendered[1], tmp_path / "project"))
    secret_files = [".env", ".env.local", ".dvc/config.local"]
    for name in secret_files:
        (root / name).write_text("# a secret a developer keeps locally\n", encoding="utf-8")
    assert git(root, "init", "-q").returncode == 0
    for name in secret_files:
        assert git(root, "check-ignore", "-q", name).returncode == 0, f"{name} is not ignored"
    assert git(root, "check-ignore", "-q", ".env.example").returncode == 1, ".env.example is ignored"
    assert git(root, "add", "-A").returncode == 0
    tracked = set(git(root, "ls-files").stdout.splitlines())
    assert {".env.example", ".dvc/config", ".dvc/.gitignore", ".gitignore"} <= tracked
    assert tracked.isdisjoint(secret_files)


# ─── Slow: a real push and pull through an S3-compatible server ──────────────────────────────

# Distinctive values, so finding one in a tracked file can only mean it leaked there.
FAKE_CREDENTIALS = {
    "AWS_ACCESS_KEY_ID": "SHIPSHAPEFAKEKEYID0001",
    "AWS_SECRET_ACCESS_KEY": "shipshape-fake-secret-access-key-do-not-commit",
    "AWS_DEFAULT_REGION": "us-east-1",
}
SECRET_VALUES = [FAKE_CREDENTIALS["AWS_ACCESS_KEY_ID"], FAKE_CREDENTIALS["AWS_SECRET_ACCESS_KEY"]]
SAMPLE_DATA = "data/raw/sample.csv"  # `data.raw` in a fresh render's params.yaml


def run(root: Path, env: Mapping[str, str], *command: str) -> subprocess.CompletedProcess[str]:
    """Run a command in a project; a non-zero exit fails the test with the command's output."""
    result = subprocess.run(command, cwd=root, env=env, capture_output=True, text=True)
    if result.returncode != 0:
        pytest.fail(f"{' '.join(command)} exited {result.returncode}\n{result.stdout[-4000:]}\n{result.stderr[-4000:]}")
    return result


@dataclass(frozen=True)
class PushedProject:
    """A generated project whose sample data `dvc push` put into a bucket of the local S3 server."""

    root: Path
    env: dict[str, str]
    s3: Any  # a boto3 S3 client of the local server
    endpoint: str
    bucket: str
    prefix: str  # the remote's folder in the bucket

    def stored_keys(self) -> list[str]:
        listing = self.s3.list_objects_v2(Bucket=self.bucket, Prefix=self.prefix)
        return [item["Key"] for item in listing.get("Contents", [])]

    def fresh_clone(self, destination: Path) -> Path:
        """`git clone` the project and sync the clone's locked environment."""
        run(self.root, self.env, "git", "clone", "-q", str(self.root), str(destination))
        run(destination, self.env, "uv", "sync", "--frozen")
        return destination

    def pull(self, clone: Path) -> subprocess.CompletedProcess[str]:
        command = ["uv", "run", "--frozen", "dvc", "pull", f"{SAMPLE_DATA}.dvc"]
        return subprocess.run(command, cwd=clone, env=self.env, capture_output=True, text=True)

    def tracked_files_containing(self, root: Path, needles: list[str]) -> list[str]:
        names = run(root, self.env, "git", "ls-files", "-z").stdout.split("\0")
        return [
            name for name in names if name and any(needle.encode() in (root / name).read_bytes() for needle in needles)
        ]


@pytest.fixture(scope="module")
def s3_endpoint() -> Iterator[str]:
    """A moto S3 server on a free loopback port, stopped (within 15 s) after the module's tests."""
    from moto.server import ThreadedMotoServer  # imported here: heavy, and only the slow tier needs it

    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    try:
        host, port = server.get_host_and_port()
        yield f"http://{host}:{port}"
    finally:
        stopper = threading.Thread(target=server.stop, daemon=True)
        stopper.start()
        stopper.join(timeout=15)
        if stopper.is_alive():
            raise RuntimeError("the moto S3 server did not stop within 15 s")


@pytest.fixture(scope="module")
def pushed(s3_variant: Variant, s3_endpoint: str, tmp_path_factory: pytest.TempPathFactory) -> PushedProject:
    """An S3 variant (tagged "s3", chosen with --s3-variants), its remote pointed at the local server,
    committed and synced, with its sample data pushed. The credentials are only in the environment."""
    import boto3

    variant = s3_variant
    root = tmp_path_factory.mktemp(f"{variant.name}-s3") / "project"
    answers = render_quietly(variant, root, {"s3_endpoint_url": s3_endpoint})
    s3 = boto3.client(
        "s3",
        endpoint_url=s3_endpoint,
        region_name=FAKE_CREDENTIALS["AWS_DEFAULT_REGION"],
        aws_access_key_id=FAKE_CREDENTIALS["AWS_ACCESS_KEY_ID"],
        aws_secret_access_key=FAKE_CREDENTIALS["AWS_SECRET_ACCESS_KEY"],
    )
    remote = urlparse(answers["dvc_remote_url"])
    s3.create_bucket(Bucket=remote.netloc)  # DVC pushes into an existing bucket; it does not create one
    project = PushedProject(
        root, project_env(os.environ, **FAKE_CREDENTIALS), s3, s3_endpoint, remote.netloc, remote.path.lstrip("/")
    )
    run(root, project.env, "git", "init", "-q", "-b", "main")
    run(root, project.env, "git", "add", "-A")
    run(root, project.env, "git", "commit", "-q", "-m", "Start from Shipshape")
    run(root, project.env, "uv", "sync", "--frozen")
    run(root, project.env, "uv", "run", "--frozen", "dvc", "commit", "--force", f"{SAMPLE_DATA}.dvc")
    run(root, project.env, "uv", "run", "--frozen", "dvc", "push", f"{SAMPLE_DATA}.dvc")
    return project


@pytest.mark.slow
def test_push_stores_the_data_in_the_bucket_and_leaves_git_clean(pushed: PushedProject) -> None:
    assert pushed.stored_keys() != []
    assert run(pushed.root, pushed.env, "git", "status", "--porcelain").stdout == ""
    assert pushed.tracked_files_containing(pushed.root, SECRET_VALUES) == []


@pytest.mark.slow
def test_fresh_clone_pulls_byte_identical_data(pushed: PushedProject, tmp_path: Path) -> None:
    clone = pushed.fresh_clone(tmp_path / "clone")
    result = pushed.pull(clone)
    assert result.returncode == 0, result.stderr
    assert (clone / SAMPLE_DATA).read_bytes() == (pushed.root / SAMPLE_DATA).read_bytes()
    assert pushed.tracked_files_containing(clone, SECRET_VALUES) == []


@pytest.mark.slow
def test_pull_refuses_an_object_altered_in_the_remote(pushed: PushedProject, tmp_path: Path) -> None:
    """`verify = true`: DVC hashes what it downloads, so a corrupted object never reaches the workspace."""
    clone = pushed.fresh_clone(tmp_path / "clone")
    (key,) = pushed.stored_keys()  # the sample data is the only object pushed
    original = pushed.s3.get_object(Bucket=pushed.bucket, Key=key)["Body"].read()
    pushed.s3.put_object(Bucket=pushed.bucket, Key=key, Body=b"altered in the remote\n")
    try:
        result = pushed.pull(clone)
    finally:
        pushed.s3.put_object(Bucket=pushed.bucket, Key=key, Body=original)
    assert result.returncode != 0
    assert not (clone / SAMPLE_DATA).exists()
    restored = pushed.pull(clone)  # the same pull succeeds once the object is intact: the alteration was the cause
    assert restored.returncode == 0, restored.stderr
    assert (clone / SAMPLE_DATA).read_bytes() == (pushed.root / SAMPLE_DATA).read_bytes()


def validated_md5s(project: Path, env: Mapping[str, str], raw: str) -> tuple[str, str]:
    """The md5 the validate stage read from `raw`, and the one its DVC pointer records (from the lineage record)."""
    package = yaml_value(project / ".copier-answers.yml", "package_name")
    lineage = project / "lineage.json"
    run(
        project,
        env,
        "uv",
        "run",
        "--frozen",
        package,
        "validate",
        raw,
        "--output",
        "rows.parquet",
        "--lineage",
        "lineage.json",
    )
    record = json.loads(lineage.read_text(encoding="utf-8"))
    return record["md5"], record["dvc_md5"]


def yaml_value(path: Path, key: str) -> str:
    import yaml

    return str(yaml.safe_load(path.read_text(encoding="utf-8"))[key])


@pytest.mark.slow
def test_raw_data_imported_from_a_bucket_url_is_validated_as_the_version_dvc_recorded(
    pushed: PushedProject, tmp_path: Path
) -> None:
    """`dvc import-url s3://…` (docs/bring-your-own-data.md): the data is a versioned pipeline input, and
    `dvc update` takes the bucket's new version, which the validate stage then vouches for."""
    clone = pushed.fresh_clone(tmp_path / "clone")
    key, raw = "incoming/customers.csv", "data/raw/customers.csv"
    versions = [dataset_bytes("binary_classification", seed, rows=300) for seed in (5, 6)]
    pushed.s3.put_object(Bucket=pushed.bucket, Key=key, Body=versions[0])
    url, fs_config = f"s3://{pushed.bucket}/{key}", f"endpointurl={pushed.endpoint}"
    # --fs-config takes several values: it goes after the arguments.
    run(clone, pushed.env, "uv", "run", "--frozen", "dvc", "import-url", url, raw, "--fs-config", fs_config)
    first = hashlib.md5(versions[0], usedforsecurity=False).hexdigest()
    assert validated_md5s(clone, pushed.env, raw) == (first, first)

    pushed.s3.put_object(Bucket=pushed.bucket, Key=key, Body=versions[1])
    run(clone, pushed.env, "uv", "run", "--frozen", "dvc", "update", f"{raw}.dvc")
    second = hashlib.md5(versions[1], usedforsecurity=False).hexdigest()
    assert validated_md5s(clone, pushed.env, raw) == (second, second)
    assert pushed.tracked_files_containing(clone, SECRET_VALUES) == []
