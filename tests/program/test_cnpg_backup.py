"""With `postgres.cloudnativepg.backup`, a `ScheduledBackup` takes base backups of the Cluster.

What the operator does with it, at v1.30.0: internal/controller/
scheduledbackup_controller.go (Reconcile: a suspended one is skipped;
reconcileScheduledBackup: `immediate` creates a Backup on the first check only) and
backup_controller.go (a Backup of a hibernated Cluster fails: "cannot backup a
hibernated cluster").
"""

from __future__ import annotations

from typing import Any

import jsonschema
import pytest

from components.data import cnpg
from scripts.mockrun import ProgramRun, run_program
from tests.program.conftest import CNPG, DB_MODE_SCENARIOS, SECRET_KEYS
from tests.program.k8s import Runs, ident, objects

SCHEDULED_BACKUP_TYPE = "kubernetes:postgresql.cnpg.io/v1:ScheduledBackup"
CLUSTER_TYPE = "kubernetes:postgresql.cnpg.io/v1:Cluster"
WITH_BACKUP = ("cloudnativepg", "cloudnativepg-stopped", "cloudnativepg-autoscaling")


def _scheduled_backup(run: ProgramRun) -> dict[str, Any]:
    (found,) = objects(run, "ScheduledBackup")
    return found


def _cluster_name(run: ProgramRun) -> str:
    (cluster,) = objects(run, "Cluster")
    return str(cluster["metadata"]["name"])


def test_backup_config_creates_a_daily_scheduled_backup_of_the_cluster(
    program_runs: Runs,
) -> None:
    run = program_runs("cloudnativepg")
    backup = _scheduled_backup(run)
    assert backup["apiVersion"] == cnpg.API_VERSION, ident(backup)
    assert backup["spec"] == {
        "cluster": {"name": _cluster_name(run)},
        "schedule": "0 0 3 * * *",
        "immediate": True,
        "suspend": False,
        "backupOwnerReference": "cluster",
        "method": "barmanObjectStore",
    }, ident(backup)


def test_no_scheduled_backup_without_backup_config(program_runs: Runs) -> None:
    assert objects(program_runs("cloudnativepg-pr"), "ScheduledBackup") == []


def test_the_schedule_comes_from_config() -> None:
    postgres: dict[str, Any] = dict(CNPG["tims-stack:postgres"])
    cloudnativepg: dict[str, Any] = dict(postgres["cloudnativepg"])
    raw = {
        **DB_MODE_SCENARIOS["cloudnativepg"],
        "tims-stack:postgres": {
            **postgres,
            "cloudnativepg": {
                **cloudnativepg,
                "backup": {**cloudnativepg["backup"], "schedule": "0 30 1 * * sun"},
            },
        },
    }
    run = run_program(raw, secret_keys=SECRET_KEYS)
    assert _scheduled_backup(run)["spec"]["schedule"] == "0 30 1 * * sun"


@pytest.mark.parametrize("name", WITH_BACKUP)
def test_scheduled_backup_is_valid_against_the_crd(
    program_runs: Runs, name: str, cnpg_scheduled_backup_schema: dict[str, Any]
) -> None:
    backup = _scheduled_backup(program_runs(name))
    try:
        jsonschema.validate(backup, cnpg_scheduled_backup_schema)
    except jsonschema.ValidationError as exc:
        pytest.fail(f"{name}: {ident(backup)} is invalid: {exc.message}")


def test_crd_schema_rejects_a_broken_scheduled_backup(
    cnpg_scheduled_backup_schema: dict[str, Any],
) -> None:
    """The check has teeth: an owner reference the enum lacks, and a misspelled field."""
    base = {"apiVersion": cnpg.API_VERSION, "kind": "ScheduledBackup", "metadata": {"name": "x"}}
    spec = {"cluster": {"name": "c"}, "schedule": "0 0 3 * * *"}
    for broken in ({**spec, "backupOwnerReference": "namespace"}, {**spec, "immediately": True}):
        with pytest.raises(jsonschema.ValidationError):
            jsonschema.validate({**base, "spec": broken}, cnpg_scheduled_backup_schema)


def test_scheduled_backup_comes_after_the_cluster(program_runs: Runs) -> None:
    """Created once the Cluster is ready (the immediate backup needs a primary); deleted
    before it by `pulumi destroy`."""
    run = program_runs("cloudnativepg")
    (scheduled,) = [r for r in run.resources if r.type == SCHEDULED_BACKUP_TYPE]
    (cluster,) = [r.urn for r in run.resources if r.type == CLUSTER_TYPE]
    assert cluster in scheduled.dependencies, f"{scheduled.urn} does not depend on the Cluster"
    (component,) = [r.urn for r in run.resources if r.type == "tims-stack:k8s:CnpgCluster"]
    assert scheduled.parent == component, f"{scheduled.urn}: parent {scheduled.parent}"


def test_stop_suspends_the_scheduled_backup_and_start_resumes_it(program_runs: Runs) -> None:
    """A hibernated Cluster cannot be backed up: each run would be a failed Backup."""
    stopped = _scheduled_backup(program_runs("cloudnativepg-stopped"))
    running = _scheduled_backup(program_runs("cloudnativepg"))
    assert stopped["spec"]["suspend"] is True, ident(stopped)
    assert running["spec"]["suspend"] is False, ident(running)
    assert {**stopped["spec"], "suspend": False} == running["spec"], "stop changed more"
