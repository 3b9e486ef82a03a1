"""`tims-stack:postgres.mode` external and cloudnativepg: objects, env, policies, stop.

The in-cluster mode is the default of every scenario in conftest.SCENARIOS and is
checked by the other test modules; these run the DB_MODE_SCENARIOS.
"""

from __future__ import annotations

import json
from typing import Any

import jsonschema
import pytest

from components.data import cnpg
from scripts.mockrun import SECRET_MARK, ProgramRun, plaintext, run_program
from tests.program.conftest import DB_MODE_SCENARIOS, EXTERNAL_DB_PASSWORD, SECRET_KEYS
from tests.program.k8s import (
    NEWEST,
    OLDEST,
    SPEC_ENV_CONTRACT,
    Runs,
    containers,
    env_of,
    ident,
    matches,
    obj,
    objects,
    strings,
    validate_core_objects,
    workloads,
)

CRD_KINDS = ("HTTPRoute", "Cluster", "ScheduledBackup")
NAMESPACE = "tims-stack-dev"
GUARD_TYPE = "pulumi-python:dynamic/tims-stack:PostgresModeGuard"


CLUSTER_TYPE = "kubernetes:postgresql.cnpg.io/v1:Cluster"


def _cluster(run: ProgramRun) -> dict[str, Any]:
    (cluster,) = objects(run, "Cluster")
    return cluster


def _container_env(run: ProgramRun, name: str) -> list[dict[str, Any]]:
    (container,) = containers(obj(run, "Deployment", name))
    return list(container.get("env") or [])


# ------------------------------------------------------------------------- schemas


@pytest.mark.parametrize("version", [OLDEST, NEWEST])
def test_every_core_object_is_valid_kubernetes_in_every_mode(
    mode_run: ProgramRun, version: str
) -> None:
    checked = validate_core_objects(objects(mode_run), version, skip_kinds=CRD_KINDS)
    assert checked >= 10, "the program should make at least ten core objects"


def test_every_cluster_is_valid_against_the_cloudnativepg_crd(
    program_runs: Runs, cnpg_cluster_schema: dict[str, Any]
) -> None:
    names = [n for n in ("cloudnativepg", "cloudnativepg-stopped", "cloudnativepg-pr")]
    for name in names:
        cluster = _cluster(program_runs(name))
        try:
            jsonschema.validate(cluster, cnpg_cluster_schema)
        except jsonschema.ValidationError as exc:
            pytest.fail(f"{name}: {ident(cluster)} is invalid: {exc.message}")
        # The CRD's one CEL rule on spec, which jsonschema does not evaluate.
        spec = cluster["spec"]
        assert not ("imageName" in spec and "imageCatalogRef" in spec), ident(cluster)


def test_crd_schema_rejects_a_broken_cluster(cnpg_cluster_schema: dict[str, Any]) -> None:
    """The check has teeth: zero instances and an unknown retention unit are refused."""
    broken = {
        "apiVersion": cnpg.API_VERSION,
        "kind": "Cluster",
        "metadata": {"name": "x"},
        "spec": {"instances": 0, "backup": {"retentionPolicy": "30y"}},
    }
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(broken, cnpg_cluster_schema)


def test_crd_schema_rejects_a_field_the_crd_does_not_have(
    cnpg_cluster_schema: dict[str, Any],
) -> None:
    """The API server would drop it silently; the check refuses it (here a typo)."""
    cluster = {
        "apiVersion": cnpg.API_VERSION,
        "kind": "Cluster",
        "metadata": {"name": "x"},
        "spec": {"instances": 1, "storage": {"size": "1Gi"}, "enablePdb": False},
    }
    with pytest.raises(jsonschema.ValidationError, match="enablePdb"):
        jsonschema.validate(cluster, cnpg_cluster_schema)


# ------------------------------------------------------------------------- the Cluster


def test_cluster_takes_storage_image_and_backups_from_config(program_runs: Runs) -> None:
    cluster = _cluster(program_runs("cloudnativepg"))
    spec = cluster["spec"]
    assert cluster["apiVersion"] == "postgresql.cnpg.io/v1"
    assert spec["instances"] == 3, "non-PR environments default to 3 instances"
    assert spec["storage"] == {"size": "20Gi", "storageClass": "fast-ssd"}
    assert spec["imageName"] == "ghcr.io/cloudnative-pg/postgresql:18.1-system-trixie"
    assert spec["bootstrap"] == {"initdb": {"database": "tims_stack", "owner": "tims_stack"}}
    store = spec["backup"]["barmanObjectStore"]
    assert store["destinationPath"] == "s3://acme-db-backups/tims-stack/dev"
    assert store["endpointURL"] == "https://s3.eu-central-1.amazonaws.com"
    assert store["s3Credentials"] == {
        "accessKeyId": {"name": "tims-stack-backup-s3", "key": "ACCESS_KEY_ID"},
        "secretAccessKey": {"name": "tims-stack-backup-s3", "key": "ACCESS_SECRET_KEY"},
    }
    assert spec["backup"]["retentionPolicy"] == "30d"
    assert spec["enablePDB"] is True, "3 instances: the operator's PDB keeps the primary"


def test_pr_environment_gets_one_instance_without_a_blocking_pdb(program_runs: Runs) -> None:
    spec = _cluster(program_runs("cloudnativepg-pr"))["spec"]
    assert spec["instances"] == 1
    assert spec["enablePDB"] is False, "a one-instance PDB would block every node drain"
    assert "imageName" not in spec, "unset image: the operator's default"
    assert "backup" not in spec


def test_up_waits_for_the_cluster_to_be_ready_with_a_timeout(program_runs: Runs) -> None:
    """What the expressions accept: tests/program/test_cnpg_readiness.py."""
    annotations = _cluster(program_runs("cloudnativepg"))["metadata"]["annotations"]
    assert json.loads(annotations["pulumi.com/waitFor"]) == [
        "condition=Ready",
        "jsonpath={.status.readyInstances}=3",
    ]
    assert int(annotations["pulumi.com/timeoutSeconds"]) == cnpg.READY_TIMEOUT_SECONDS
    assert annotations["cnpg.io/hibernation"] == "off"


def test_stop_hibernates_the_cluster_and_does_not_wait_for_it(program_runs: Runs) -> None:
    """Hibernation deletes the instance pods and keeps the volumes; the Cluster stays Ready
    with no ready instance meanwhile, so nothing both proves it and holds."""
    run = program_runs("cloudnativepg-stopped")
    annotations = _cluster(run)["metadata"]["annotations"]
    assert annotations["cnpg.io/hibernation"] == "on"
    assert annotations["pulumi.com/skipAwait"] == "true"
    assert "pulumi.com/waitFor" not in annotations
    running = _cluster(program_runs("cloudnativepg"))
    assert _cluster(run)["spec"] == running["spec"], "stop changed the Cluster's spec"


@pytest.mark.parametrize("name", ["cloudnativepg-stopped", "external-db-stopped"])
def test_stop_scales_every_workload_to_zero_in_every_mode(program_runs: Runs, name: str) -> None:
    for workload in workloads(program_runs(name)):
        assert workload["spec"]["replicas"] == 0, f"{ident(workload)} still runs when stopped"


def test_cluster_objects_inherit_no_label_key_the_operator_sets(program_runs: Runs) -> None:
    """The operator's PVC label reconciler overwrites name, component and managed-by with its
    own values and then finds ours missing, on every reconcile (cnpg.OPERATOR_LABEL_KEYS)."""
    for name in ("cloudnativepg", "cloudnativepg-pr"):
        inherited = _cluster(program_runs(name))["spec"]["inheritedMetadata"]["labels"]
        assert sorted(set(inherited) & cnpg.OPERATOR_LABEL_KEYS) == [], name
        assert inherited == {"app.kubernetes.io/part-of": "tims-stack"}, name


def test_postgres_policy_selects_the_cluster_by_the_operators_label(program_runs: Runs) -> None:
    """Inherited labels no longer identify the pods; `cnpg.io/cluster` does, on instances and
    Job pods alike (tests/program/test_network_policies.py checks what it admits)."""
    run = program_runs("cloudnativepg")
    (policy,) = [
        p
        for p in objects(run, "NetworkPolicy")
        if p["metadata"]["labels"].get("app.kubernetes.io/name") == "postgres"
    ]
    selector = policy["spec"]["podSelector"]["matchLabels"]
    assert selector == {"cnpg.io/cluster": _cluster(run)["metadata"]["name"]}, ident(policy)


# ------------------------------------------------------------------------- backend env


def test_cloudnativepg_backend_reads_credentials_from_the_app_secret(program_runs: Runs) -> None:
    run = program_runs("cloudnativepg")
    name = _cluster(run)["metadata"]["name"]
    env = env_of(run, "backend")
    assert env["DB_HOST"] == f"{name}-rw.{NAMESPACE}.svc.cluster.local"
    assert (env["DB_PORT"], env["DB_NAME"]) == ("5432", "tims_stack")
    assert env["DB_NO_SSL"] == "false", "the operator serves TLS: the app must require it"
    assert "DB_USER" not in env, "DB_USER comes from the operator's Secret"
    assert "DB_PASSWORD" not in env, "DB_PASSWORD comes from the operator's Secret"
    refs = {
        e["name"]: e["valueFrom"]["secretKeyRef"]
        for e in _container_env(run, "backend")
        if "valueFrom" in e
    }
    assert refs == {
        "DB_USER": {"name": f"{name}-app", "key": "username"},
        "DB_PASSWORD": {"name": f"{name}-app", "key": "password"},
    }


def test_external_backend_env_points_at_the_managed_database(program_runs: Runs) -> None:
    env = env_of(program_runs("external-db"), "backend")
    assert (env["DB_HOST"], env["DB_PORT"]) == ("db.example.net", "5432")
    assert (env["DB_NAME"], env["DB_USER"]) == ("tims", "tims_app")
    assert env["DB_PASSWORD"] == EXTERNAL_DB_PASSWORD, "the secret password, in the env Secret"
    assert env["DB_NO_SSL"] == "false", "TLS is required by default (sslmode=require)"


def test_external_without_tls_sets_db_no_ssl(program_runs: Runs) -> None:
    env = env_of(program_runs("external-db-no-tls"), "backend")
    assert (env["DB_HOST"], env["DB_PORT"], env["DB_NO_SSL"]) == ("10.20.30.40", "6432", "true")


def test_backend_gets_the_whole_env_contract_in_every_mode(mode_run: ProgramRun) -> None:
    """From the env Secret, or (CloudNativePG credentials) from container env."""
    names = set(env_of(mode_run, "backend")) | {
        e["name"] for e in _container_env(mode_run, "backend")
    }
    assert sorted(set(SPEC_ENV_CONTRACT) - names) == []


def test_postgres_host_output_follows_the_mode(program_runs: Runs) -> None:
    assert program_runs("external-db").outputs["postgresHost"] == "db.example.net"
    run = program_runs("cloudnativepg")
    name = _cluster(run)["metadata"]["name"]
    assert run.outputs["postgresHost"] == f"{name}-rw.{NAMESPACE}.svc.cluster.local"


# ------------------------------------------------------------------------- what exists


@pytest.mark.parametrize("name", ["external-db", "external-db-no-tls"])
def test_external_mode_runs_no_postgres(program_runs: Runs, name: str) -> None:
    run = program_runs(name)
    postgres = [
        r
        for r in run.resources
        if r.name.startswith("postgres") and r.type != GUARD_TYPE and r.custom
    ]
    assert postgres == [], f"external mode registered {[r.urn for r in postgres]}"
    claims = [
        o["metadata"]["name"]
        for o in objects(run, "PersistentVolumeClaim")
        if o["metadata"]["labels"]["app.kubernetes.io/name"] != "redis"
    ]
    assert claims == [], f"external mode claims {claims}"
    names = [
        p["metadata"]["labels"]["app.kubernetes.io/name"] for p in objects(run, "NetworkPolicy")
    ]
    assert names == ["redis"], f"external mode: policies {names}"


@pytest.mark.parametrize("name", ["cloudnativepg", "cloudnativepg-pr"])
def test_cloudnativepg_mode_runs_no_statefulset_postgres(program_runs: Runs, name: str) -> None:
    run = program_runs(name)
    kinds = {
        (o["kind"], o["metadata"]["labels"].get("app.kubernetes.io/name")) for o in objects(run)
    }
    assert ("StatefulSet", "postgres") not in kinds
    assert not [r for r in run.resources if r.name == "postgres-password"], "unused password"


# ------------------------------------------------------------------------- secrets


def test_no_password_in_plain_text_in_any_mode(mode_run: ProgramRun) -> None:
    for r in mode_run.resources:
        leaked = [s for s in strings(plaintext(r.inputs)) if SECRET_MARK in s]
        leaked += [s for s in strings(plaintext(r.outputs)) if SECRET_MARK in s]
        assert leaked == [], f"{r.type} {r.name}: plaintext secret"
    for o in objects(mode_run):
        if o["kind"] != "Secret":
            assert [s for s in strings(o) if SECRET_MARK in s] == [], f"{ident(o)} holds a secret"
    assert [s for s in strings(mode_run.plaintext_outputs()) if SECRET_MARK in s] == []


def test_pod_env_never_carries_a_literal_password_in_any_mode(mode_run: ProgramRun) -> None:
    for workload in workloads(mode_run):
        for container in containers(workload):
            for entry in container.get("env", []):
                if "PASSWORD" in entry["name"]:
                    assert "value" not in entry, f"{ident(workload)}: {entry['name']} literal"


# ------------------------------------------------------------------------- the guard


@pytest.mark.parametrize(
    ("name", "mode"),
    [
        ("external-db", "external"),
        ("cloudnativepg", "cloudnativepg"),
        ("default", "inCluster"),
        # Stopped too: a mode change while stopped would strand the data all the same.
        ("external-db-stopped", "external"),
        ("cloudnativepg-stopped", "cloudnativepg"),
        ("stopped", "inCluster"),
    ],
)
def test_mode_guard_records_the_mode_and_the_database_waits_for_it(
    program_runs: Runs, name: str, mode: str
) -> None:
    run = program_runs(name)
    (guard,) = run.of_type(GUARD_TYPE)
    assert guard.inputs["mode"] == mode
    assert guard.inputs["allowModeChange"] is False
    dependents = [r for r in run.resources if guard.urn in r.dependencies]
    if mode != "external":
        assert any(r.name == "postgres" for r in dependents), "the database does not wait"


# ------------------------------------------------------------------------- migration Job


def _job(run: ProgramRun) -> dict[str, Any]:
    (job,) = objects(run, "Job")
    return job


def test_cloudnativepg_migration_job_gets_the_credentials_too(program_runs: Runs) -> None:
    run = program_runs("cloudnativepg")
    name = _cluster(run)["metadata"]["name"]
    (container,) = _job(run)["spec"]["template"]["spec"]["containers"]
    refs = {
        e["name"]: e["valueFrom"]["secretKeyRef"]
        for e in container.get("env", [])
        if "secretKeyRef" in e.get("valueFrom", {})
    }
    assert refs == {
        "DB_USER": {"name": f"{name}-app", "key": "username"},
        "DB_PASSWORD": {"name": f"{name}-app", "key": "password"},
    }, "the migration Job could not log in to the CloudNativePG database"


@pytest.mark.parametrize(
    ("name", "waits_for"),
    [("cloudnativepg", "kubernetes:postgresql.cnpg.io/v1:Cluster"), ("external-db", GUARD_TYPE)],
)
def test_migration_job_waits_for_the_database(
    program_runs: Runs, name: str, waits_for: str
) -> None:
    """Depending on a component means depending on its resources: the Cluster (Ready), or
    with an external database the mode guard."""
    run = program_runs(name)
    (job,) = [r for r in run.resources if r.type == "kubernetes:batch/v1:Job"]
    (database,) = [r.urn for r in run.resources if r.type == waits_for]
    assert database in job.dependencies, f"{name}: the Job does not wait for {waits_for}"


def _peers_by_port(policy: dict[str, Any]) -> dict[int, list[dict[str, Any]]]:
    """Port -> every peer the policy admits on it."""
    by_port: dict[int, list[dict[str, Any]]] = {}
    for rule in policy["spec"]["ingress"]:
        for port in rule["ports"]:
            by_port.setdefault(port["port"], []).extend(rule["from"])
    return by_port


def test_cloudnativepg_policy_admits_the_migration_job(program_runs: Runs) -> None:
    run = program_runs("cloudnativepg")
    (policy,) = [
        p
        for p in objects(run, "NetworkPolicy")
        if p["metadata"]["labels"]["app.kubernetes.io/name"] == "postgres"
    ]
    job_pods = _job(run)["spec"]["template"]["metadata"]["labels"]
    peers = [
        p["podSelector"]["matchLabels"] for p in _peers_by_port(policy)[5432] if "podSelector" in p
    ]
    assert any(matches(sel, job_pods) for sel in peers), "the migration Job cannot reach Postgres"


def test_a_cluster_config_change_updates_the_cluster_in_place(program_runs: Runs) -> None:
    """The provider replaces a custom resource only when its URN, metadata.name or namespace
    changes, and a replaced Cluster takes its claims (owned by it) along. So instances,
    storage and image must reach the same auto-named Cluster under the same URN."""
    base = DB_MODE_SCENARIOS["cloudnativepg"]
    postgres = base["tims-stack:postgres"]
    changed = {
        **base,
        "tims-stack:postgres": {
            **postgres,
            "storage": "50Gi",
            "cloudnativepg": {
                **postgres["cloudnativepg"],
                "instances": 2,
                "image": "ghcr.io/cloudnative-pg/postgresql:18.2-system-trixie",
            },
        },
    }
    before = program_runs("cloudnativepg").of_type(CLUSTER_TYPE)
    after = run_program(changed, secret_keys=SECRET_KEYS).of_type(CLUSTER_TYPE)
    assert [c.urn for c in after] == [c.urn for c in before], "the Cluster's URN changed"
    (old,), (new,) = before, after
    assert new.inputs["spec"] != old.inputs["spec"], "the change should reach the spec"
    for cluster in (old, new):
        assert "name" not in cluster.inputs["metadata"], f"{cluster.urn}: a set name can change"
    assert new.inputs["metadata"]["namespace"] == old.inputs["metadata"]["namespace"]
