"""Kubernetes manifests: rendered only when asked for, valid, and wired to the service they run.

Validation is against the Kubernetes OpenAPI schemas (kubernetes-validate, strict: unknown fields
fail); no cluster runs here, so scheduling, probes answering and autoscaling are not exercised.
"""

from __future__ import annotations

import ast
import math
import warnings
from pathlib import Path
from typing import Any

import kubernetes_validate
import pytest
import yaml

from tools.variants import Variant, load_variants, render, variants_tagged

# An older release still common on managed clusters, and the newest the validator knows.
KUBERNETES_VERSIONS = ("1.31.0", "1.37.0")
MANIFESTS = Path("deploy/kubernetes")
# hpa.yaml's documented capacity assumption: requests/s one replica carries at the CPU target.
REQUESTS_PER_REPLICA = 105
KUBERNETES_VARIANTS = [variant for variant in load_variants() if variant.data.get("kubernetes")]


@pytest.fixture(params=KUBERNETES_VARIANTS, ids=lambda variant: variant.name)
def kubernetes_variant(request: pytest.FixtureRequest) -> Variant:
    return request.param


@pytest.fixture
def rendered(kubernetes_variant: Variant, render_variant) -> tuple[Path, dict]:
    return render_variant(kubernetes_variant)


def manifests(project: Path) -> dict[str, dict[str, Any]]:
    """Each Kubernetes object in deploy/kubernetes by kind (kustomization.yaml is kustomize's, not the API's)."""
    objects = {}
    for path in sorted((project / MANIFESTS).glob("*.yaml")):
        if path.name != "kustomization.yaml":
            document = yaml.safe_load(path.read_text(encoding="utf-8"))
            objects[document["kind"]] = document
    return objects


def container(objects: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """The Deployment's one container."""
    (only,) = objects["Deployment"]["spec"]["template"]["spec"]["containers"]
    return only


def render_with(tmp_path: Path, **answers: object) -> Path:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # DirtyLocalWarning: rendering uncommitted work is the point
        render(KUBERNETES_VARIANTS[0], tmp_path / "project", extra_data=answers)
    return tmp_path / "project"


def test_a_variant_renders_kubernetes_manifests() -> None:
    assert KUBERNETES_VARIANTS, "no variant in variants.toml answers kubernetes = true"


def test_no_deploy_folder_without_kubernetes(render_variant) -> None:
    project, answers = render_variant(variants_tagged("default")[0])
    assert answers["kubernetes"] is False
    assert not (project / "deploy").exists()


@pytest.mark.parametrize("version", KUBERNETES_VERSIONS)
def test_every_manifest_is_valid_for_kubernetes(rendered: tuple[Path, dict], version: str) -> None:
    objects = manifests(rendered[0])
    assert set(objects) == {"Deployment", "Service", "HorizontalPodAutoscaler"}
    for document in objects.values():
        kubernetes_validate.validate(document, version, strict=True)


def test_kustomization_applies_every_manifest_and_sets_the_deployments_image(rendered: tuple[Path, dict]) -> None:
    project = rendered[0]
    kustomization = yaml.safe_load((project / MANIFESTS / "kustomization.yaml").read_text(encoding="utf-8"))
    files = {path.name for path in (project / MANIFESTS).glob("*.yaml")} - {"kustomization.yaml"}
    assert sorted(kustomization["resources"]) == sorted(files)
    assert [image["name"] for image in kustomization["images"]] == [container(manifests(project))["image"]]


def test_probes_and_service_reach_the_bentoml_port_and_open_paths(rendered: tuple[Path, dict]) -> None:
    project, answers = rendered
    objects = manifests(project)
    service_container = container(objects)
    assert service_container["ports"] == [{"name": "http", "containerPort": 3000}]  # BentoML's default port
    probes = {name: service_container[name]["httpGet"] for name in ("startupProbe", "livenessProbe", "readinessProbe")}
    assert probes["livenessProbe"]["path"] == "/livez"
    assert probes["readinessProbe"]["path"] == "/readyz"
    assert all(probe["port"] == "http" for probe in probes.values())
    # With API-key auth on, probes must hit paths the middleware leaves open.
    assert {probe["path"] for probe in probes.values()} <= open_paths(project / "src" / answers["package_name"])

    service = objects["Service"]["spec"]
    assert [port["targetPort"] for port in service["ports"]] == ["http"]
    labels = objects["Deployment"]["spec"]["template"]["metadata"]["labels"]
    assert service["selector"].items() <= labels.items()
    assert objects["Deployment"]["spec"]["selector"]["matchLabels"].items() <= labels.items()


def open_paths(package: Path) -> set[str]:
    """`OPEN_PATHS` of the generated middleware: the paths that need no API key."""
    tree = ast.parse((package / "serving" / "middleware.py").read_text(encoding="utf-8"))
    for node in tree.body:
        if isinstance(node, ast.Assign) and any(getattr(target, "id", None) == "OPEN_PATHS" for target in node.targets):
            assert isinstance(node.value, ast.Call)  # frozenset({...})
            return set(ast.literal_eval(node.value.args[0]))
    raise AssertionError("middleware.py defines no OPEN_PATHS")


def test_api_keys_come_from_a_secret_only_with_auth(rendered: tuple[Path, dict], tmp_path: Path) -> None:
    project, answers = rendered
    assert answers["api_key_auth"] is True
    keys = next(variable for variable in container(manifests(project))["env"] if variable["name"] == "SERVICE_API_KEYS")
    secret = {"name": f"{answers['project_slug']}-api-keys", "key": "SERVICE_API_KEYS"}
    assert keys["valueFrom"]["secretKeyRef"] == secret

    without_auth = container(manifests(render_with(tmp_path, api_key_auth=False)))
    assert "SERVICE_API_KEYS" not in {variable["name"] for variable in without_auth["env"]}


def test_pods_run_one_worker(rendered: tuple[Path, dict]) -> None:
    env = container(manifests(rendered[0]))["env"]
    overrides = next(variable["value"] for variable in env if variable["name"] == "BENTOML_CONFIG_OVERRIDES")
    assert yaml.safe_load(overrides) == {"services": {"ModelService": {"workers": 1}}}


def test_pods_run_the_images_own_bentoml_serve_so_a_model_that_cannot_load_stops_the_pod(
    rendered: tuple[Path, dict],
) -> None:
    """No `command`/`args` override: the pod runs the Bento image's `bentoml serve`, which exits 1 with the
    reason when the model cannot be served (tests/test_bento.py runs that command), so Kubernetes restarts
    it and `kubectl logs --previous` shows why, instead of a pod whose worker respawns behind a dead port."""
    objects = manifests(rendered[0])
    assert not {"command", "args"} & container(objects).keys()
    assert objects["Deployment"]["spec"]["template"]["spec"].get("restartPolicy", "Always") == "Always"


def test_autoscaler_targets_the_deployment(rendered: tuple[Path, dict]) -> None:
    objects = manifests(rendered[0])
    target = objects["HorizontalPodAutoscaler"]["spec"]["scaleTargetRef"]
    deployment = objects["Deployment"]
    assert target == {"apiVersion": "apps/v1", "kind": "Deployment", "name": deployment["metadata"]["name"]}
    assert deployment["apiVersion"] == "apps/v1"
    assert "replicas" not in deployment["spec"], "the autoscaler owns the replica count"


@pytest.mark.parametrize("peak", [1, 50, 401, 5000])
def test_replica_bounds_cover_twice_the_peak_and_keep_half_of_it_warm(peak: int, tmp_path: Path) -> None:
    spec = manifests(render_with(tmp_path, peak_throughput_rps=peak))["HorizontalPodAutoscaler"]["spec"]
    at_peak = math.ceil(peak / REQUESTS_PER_REPLICA)
    assert spec["minReplicas"] >= 2
    assert spec["minReplicas"] * REQUESTS_PER_REPLICA >= peak / 2
    assert spec["maxReplicas"] >= max(spec["minReplicas"] + 2, 2 * at_peak)
    assert spec["metrics"][0]["resource"]["target"] == {"type": "Utilization", "averageUtilization": 70}
