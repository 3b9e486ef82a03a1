"""No config change may silently give the app an empty database (or lose Redis's queue).

A StatefulSet's claim is named `<template>-<statefulset>-0`. Replacing an
auto-named StatefulSet gives it a new name, hence a new, empty claim, so:
- the fields Kubernetes cannot update (volumeClaimTemplates, serviceName) are
  ignored after creation, and serviceName is a constant anyway;
- a storage change reaches the existing claim through a server-side apply
  patch on exactly that claim's name;
- stopping keeps the claim template and drops only the claim patch (retained on delete).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import kubernetes_validate
import pytest
import yaml
from kubernetes_validate.utils import latest_version

from components.data.postgres import HEADLESS_SERVICE_NAME, Postgres, PostgresArgs
from components.data.redis import SERVICE_NAME, Redis, RedisArgs
from components.data.stateful import (
    DATA_VOLUME,
    IMMUTABLE_STATEFULSET_FIELDS,
    PATCH_FORCE_ANNOTATION,
    claim_name,
)
from scripts.mockrun import ProgramRun, Registered, reveal
from scripts.preview_digest import STATEFUL_TYPES
from scripts.render import render
from stack.config import PostgresConfig, RedisConfig
from tests.conftest import REPO_ROOT
from tests.program.k8s import RunComponent, Runs, containers, obj, objects, resource

STORAGE = RedisConfig().storage  # the default size of the Redis claim
StorageRuns = Callable[..., ProgramRun]
STATEFUL = ("postgres", "redis")
CLAIM_PATCH_TYPE = "kubernetes:core/v1:PersistentVolumeClaimPatch"


def claim_patch(run: ProgramRun, owner: str) -> Registered:
    """The patch on `owner`'s claim (Pulumi name `<owner>-data`)."""
    return resource(run, "PersistentVolumeClaim", f"{owner}-{DATA_VOLUME}")


def at_path(inputs: dict[str, Any], path: str) -> Any:
    """The value at a dotted Pulumi property path (no brackets needed here)."""
    value: Any = reveal(inputs)
    for key in path.split("."):
        assert isinstance(value, dict), f"{path}: {key!r} is inside a non-object"
        assert key in value, f"{path}: no {key!r} in the inputs"
        value = value[key]
    return value


def without(inputs: dict[str, Any], paths: tuple[str, ...]) -> dict[str, Any]:
    """A copy of `inputs` with each dotted path removed."""
    copy: dict[str, Any] = yaml.safe_load(yaml.safe_dump(reveal(inputs)))
    for path in paths:
        *parents, last = path.split(".")
        node = copy
        for key in parents:
            node = node[key]
        node.pop(last, None)
    return copy


# ---------------------------------------------------------------- no replacement


@pytest.mark.parametrize("name", STATEFUL)
def test_statefulset_ignores_changes_to_its_immutable_fields(
    name: str, default_run: ProgramRun
) -> None:
    statefulset = resource(default_run, "StatefulSet", name)
    assert set(statefulset.ignore_changes) >= {"spec.volumeClaimTemplates", "spec.serviceName"}, (
        f"StatefulSet {name}: ignore_changes is {statefulset.ignore_changes}"
    )


@pytest.mark.parametrize("name", STATEFUL)
def test_ignored_paths_exist_in_the_statefulset_inputs(name: str, default_run: ProgramRun) -> None:
    """The engine matches ignore_changes paths against the inputs, in their camelCase spelling."""
    statefulset = resource(default_run, "StatefulSet", name)
    for path in statefulset.ignore_changes:
        assert at_path(statefulset.inputs, path), f"StatefulSet {name}: {path} is empty"


@pytest.mark.parametrize(
    ("name", "service"), [("postgres", HEADLESS_SERVICE_NAME), ("redis", SERVICE_NAME)]
)
def test_statefulset_is_governed_by_a_fixed_service_name(
    name: str, service: str, default_run: ProgramRun
) -> None:
    """serviceName is a constant, and the Service it names has that name as an input."""
    statefulset = obj(default_run, "StatefulSet", name)
    assert statefulset["spec"]["serviceName"] == service, f"StatefulSet {name}: serviceName"
    fixed = [
        r
        for r in default_run.kubernetes_objects()
        if r.kind == "Service" and r.inputs["metadata"].get("name") == service
    ]
    assert len(fixed) == 1, f"StatefulSet {name}: no Service with the fixed name {service!r}"


@pytest.mark.parametrize(
    ("before", "after"), [(("1Gi", None), ("5Gi", None)), (("1Gi", None), ("1Gi", "fast-ssd"))]
)
def test_storage_change_alters_only_ignored_statefulset_fields(
    before: tuple[str, str | None], after: tuple[str, str | None], storage_runs: StorageRuns
) -> None:
    """Everything the engine compares is equal, so nothing can make it replace the StatefulSet."""
    old = resource(storage_runs(*before), "StatefulSet", "postgres")
    new = resource(storage_runs(*after), "StatefulSet", "postgres")
    assert old.inputs != new.inputs, "the config change should reach the template"
    assert without(new.inputs, IMMUTABLE_STATEFULSET_FIELDS) == without(
        old.inputs, IMMUTABLE_STATEFULSET_FIELDS
    ), f"StatefulSet postgres: storage {before} -> {after} changes a compared field"


# ---------------------------------------------------------------- the claim patch


@pytest.mark.parametrize("name", STATEFUL)
def test_claim_patch_targets_the_claim_the_statefulset_creates(
    name: str, default_run: ProgramRun
) -> None:
    statefulset = obj(default_run, "StatefulSet", name)
    (template,) = statefulset["spec"]["volumeClaimTemplates"]
    patch = claim_patch(default_run, name).manifest()
    expected = f"{template['metadata']['name']}-{statefulset['metadata']['name']}-0"
    assert patch["metadata"]["name"] == expected, f"claim patch of {name}"
    assert patch["metadata"]["namespace"] == statefulset["metadata"]["namespace"], (
        f"claim patch of {name}: namespace"
    )
    assert (patch["apiVersion"], patch["kind"]) == ("v1", "PersistentVolumeClaim"), name


def test_claim_name_follows_the_statefulset_rule() -> None:
    assert claim_name("data", "postgres-1a2b3c4") == "data-postgres-1a2b3c4-0"
    assert claim_name("www", "web", 2) == "www-web-2"


@pytest.mark.parametrize("size", ["1Gi", "5Gi"])
def test_claim_patch_applies_the_configured_postgres_size(
    size: str, storage_runs: StorageRuns
) -> None:
    patch = claim_patch(storage_runs(size), "postgres").manifest()
    assert patch["spec"] == {"resources": {"requests": {"storage": size}}}, (
        "claim patch of postgres: only the size, never the immutable storage class"
    )


def test_claim_patch_applies_the_redis_size(default_run: ProgramRun) -> None:
    patch = claim_patch(default_run, "redis").manifest()
    assert patch["spec"] == {"resources": {"requests": {"storage": STORAGE}}}, "redis patch"


@pytest.mark.parametrize("name", STATEFUL)
def test_claim_patch_waits_for_the_statefulset(name: str, default_run: ProgramRun) -> None:
    """The StatefulSet's readiness means its controller has created the claim."""
    statefulset = resource(default_run, "StatefulSet", name)
    assert statefulset.urn in claim_patch(default_run, name).dependencies, (
        f"claim patch of {name} must wait for its StatefulSet"
    )


@pytest.mark.parametrize("name", STATEFUL)
def test_claim_patch_takes_over_the_size_field(name: str, default_run: ProgramRun) -> None:
    """The StatefulSet controller owns the claim's fields; a new size must not conflict."""
    annotations = claim_patch(default_run, name).manifest()["metadata"]["annotations"]
    assert annotations.get(PATCH_FORCE_ANNOTATION) == "true", f"claim patch of {name}"


@pytest.mark.parametrize("name", STATEFUL)
def test_removing_the_claim_patch_leaves_the_claim_alone(
    name: str, default_run: ProgramRun
) -> None:
    assert claim_patch(default_run, name).retain_on_delete, (
        f"claim patch of {name}: deleting it would relinquish the claim's size field"
    )


@pytest.mark.parametrize("version", ["1.30", latest_version()])
@pytest.mark.parametrize("name", STATEFUL)
def test_claim_patch_is_a_valid_persistent_volume_claim(
    name: str, version: str, default_run: ProgramRun
) -> None:
    patch = claim_patch(default_run, name).manifest()
    try:
        kubernetes_validate.validate(patch, version, strict=True)
    except kubernetes_validate.ValidationError as exc:
        pytest.fail(f"claim patch of {name} is invalid for Kubernetes {version}: {exc.message}")


def test_schema_check_rejects_a_malformed_claim_patch(default_run: ProgramRun) -> None:
    """The validation above has teeth: a size given as a list is refused."""
    patch = claim_patch(default_run, "postgres").manifest()
    patch["spec"]["resources"]["requests"] = ["1Gi"]
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(patch, "1.30", strict=True)


# ---------------------------------------------------------------- stop / start


@pytest.mark.parametrize("name", STATEFUL)
def test_stopping_keeps_the_claim_template(name: str, program_runs: Runs) -> None:
    running, stopped = program_runs("default"), program_runs("stopped")
    templates = [
        obj(run, "StatefulSet", name)["spec"]["volumeClaimTemplates"] for run in (running, stopped)
    ]
    assert templates[0] == templates[1], f"StatefulSet {name}: claim template changed on stop"


@pytest.mark.parametrize("name", STATEFUL)
def test_stopped_environment_has_no_claim_patch(name: str, program_runs: Runs) -> None:
    """A new environment deployed stopped has no claim yet: a patch would fail the first `up`."""
    stopped = program_runs("stopped")
    patches = [
        r
        for r in stopped.resources
        if r.name == f"{name}-{DATA_VOLUME}" and "PersistentVolumeClaim" in r.type
    ]
    assert patches == [], f"claim patch of {name} registered while stopped"


@pytest.mark.parametrize("name", STATEFUL)
def test_dropping_the_claim_patch_on_stop_never_touches_the_claim(
    name: str, program_runs: Runs
) -> None:
    # Stopping removes the patch from the program; only retain_on_delete keeps
    # Pulumi from relinquishing the claim's size field when it does.
    assert claim_patch(program_runs("default"), name).retain_on_delete, (
        f"claim patch of {name}: removing it on stop would touch the claim"
    )


@pytest.mark.parametrize("name", STATEFUL)
def test_stopped_statefulset_keeps_its_claim(name: str, program_runs: Runs) -> None:
    spec = obj(program_runs("stopped"), "StatefulSet", name)["spec"]
    assert spec["replicas"] == 0, f"StatefulSet {name}: replicas when stopped"
    assert spec["persistentVolumeClaimRetentionPolicy"] == {
        "whenDeleted": "Retain",
        "whenScaled": "Retain",
    }, f"StatefulSet {name}: claim retention"


# ---------------------------------------------------------------- Redis persistence


def _redis(image: str = "redis:7.4-alpine") -> Callable[[], None]:
    config = RedisConfig(image=image)

    def body() -> None:
        Redis("redis", RedisArgs(namespace="ns", environment="test", config=config, stopped=False))

    return body


def test_redis_writes_an_append_only_file(run_component: RunComponent) -> None:
    (statefulset,) = [
        r.manifest()
        for r in run_component(_redis()).kubernetes_objects()
        if r.kind == "StatefulSet"
    ]
    (container,) = containers(statefulset)
    assert container["args"] == ["--appendonly", "yes"], "StatefulSet redis: server args"
    assert "command" not in container, "the image's entrypoint must stay in charge"


def test_redis_data_directory_is_the_claim(run_component: RunComponent) -> None:
    (statefulset,) = [
        r.manifest()
        for r in run_component(_redis()).kubernetes_objects()
        if r.kind == "StatefulSet"
    ]
    (template,) = statefulset["spec"]["volumeClaimTemplates"]
    (container,) = containers(statefulset)
    assert container["volumeMounts"] == [
        {"name": template["metadata"]["name"], "mountPath": "/data"}
    ]
    assert template["spec"]["resources"]["requests"] == {"storage": STORAGE}
    assert "volumes" not in statefulset["spec"]["template"]["spec"], "no emptyDir left"


# ---------------------------------------------------------------- component and render


def test_postgres_component_patches_its_claim_with_the_configured_size(
    run_component: RunComponent,
) -> None:
    config = PostgresConfig(storage="7Gi", storageClass="fast-ssd")

    def body() -> None:
        Postgres(
            "db", PostgresArgs(namespace="ns", environment="test", config=config, stopped=False)
        )

    run = run_component(body)
    (patch,) = run.of_type(CLAIM_PATCH_TYPE)
    (statefulset,) = [r for r in run.kubernetes_objects() if r.kind == "StatefulSet"]
    manifest = patch.manifest()
    assert manifest["metadata"]["name"] == f"data-{statefulset.manifest()['metadata']['name']}-0"
    assert (manifest["metadata"]["namespace"], manifest["spec"]["resources"]["requests"]) == (
        "ns",
        {"storage": "7Gi"},
    ), "claim patch of db"


def test_rendered_claim_patches_say_they_are_patches(tmp_path: Path) -> None:
    result = render("dev", REPO_ROOT / "Pulumi.example.yaml", tmp_path)
    assert result.problems == [], "rendered objects must stay valid"
    claims = [p for p in result.files if "-persistentvolumeclaim-" in p.name]
    assert len(claims) == len(STATEFUL), f"one claim patch per StatefulSet: {claims}"
    for path in claims:
        assert "# A patch, not a whole object" in path.read_text(), path.name


def test_redis_claim_takes_its_size_and_class_from_config(
    run_component: Callable[[Callable[[], None]], ProgramRun],
) -> None:
    config = RedisConfig(storage="2Gi", storageClass="fast")

    def body() -> None:
        Redis("redis", RedisArgs(namespace="ns", environment="test", config=config, stopped=False))

    run = run_component(body)
    (template,) = obj(run, "StatefulSet", "redis")["spec"]["volumeClaimTemplates"]
    assert template["spec"]["resources"]["requests"] == {"storage": "2Gi"}, "redis claim size"
    assert template["spec"]["storageClassName"] == "fast", "redis claim class"
    patch = claim_patch(run, "redis").manifest()
    assert patch["spec"] == {"resources": {"requests": {"storage": "2Gi"}}}, "redis patch size"


# ------------------------------------------------------- the long-lived preview's flag

DATA_KINDS = ("StatefulSet", "Cluster", "PersistentVolumeClaim", "Namespace")
"""Kubernetes kinds whose replacement or deletion loses data (the Patch only names a claim)."""


@pytest.mark.parametrize("scenario", ["default", "cloudnativepg", "external-all"])
def test_every_data_holder_and_guard_is_flagged_by_the_preview(
    scenario: str, program_runs: Runs
) -> None:
    """scripts/preview_digest.py's STATEFUL_TYPES must name every type the program registers
    that holds data, and every guard: deleting a guard forgets the recorded mode or
    namespace, so the next `up` changes it unchecked."""
    registered = {r.type for r in program_runs(scenario).resources}
    holders = {
        t
        for t in registered
        if (t.startswith("pulumi-python:dynamic/") and t.endswith("Guard"))
        or (t.startswith("kubernetes:") and t.rsplit(":", 1)[-1] in DATA_KINDS)
    }
    assert holders, f"{scenario}: no data holder registered"
    missing = sorted(holders - set(STATEFUL_TYPES))
    assert not missing, f"{scenario}: a preview would not flag replacing or deleting {missing}"


# ------------------------------------------------- destroy: what the program does not track

CLUSTER_SCOPED = ("Namespace",)


@pytest.mark.parametrize("scenario", ["default", "cloudnativepg", "external-redis"])
def test_destroy_deletes_the_namespace_that_holds_every_untracked_claim(
    scenario: str, program_runs: Runs
) -> None:
    """The claims made from volumeClaimTemplates (Retain: no owner) and the claim a mode
    change leaves behind are in no state: `pulumi destroy` removes them only by deleting the
    namespace, which pulumi-kubernetes then awaits until it is gone (provider/pkg/await/
    await.go, Deletion). So: the program owns the namespace, never retains it, and puts
    every object it makes in it."""
    run = program_runs(scenario)
    (namespace,) = [r for r in run.kubernetes_objects() if r.kind == "Namespace"]
    assert not namespace.retain_on_delete, "destroy would leave the namespace and its claims"
    name = namespace.manifest()["metadata"]["name"]
    for o in objects(run):
        if o["kind"] not in CLUSTER_SCOPED:
            where = o["metadata"].get("namespace")
            assert where == name, f"{o['kind']} {o['metadata'].get('name')} is in {where!r}"
