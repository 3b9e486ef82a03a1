"""`tims-stack:stopped` in every postgres.mode, with autoscaling off and on.

Start is the program that ran before the stop, so comparing the running and the
stopped run covers both directions: whatever the stop keeps under the same URN
with the same inputs is neither replaced nor changed by the start either.
"""

from __future__ import annotations

from typing import Any

import pytest

from components.data.cnpg import HIBERNATION
from scripts.mockrun import ProgramRun, Registered, reveal, run_program
from tests.program.conftest import DB_MODE_SCENARIOS, SCENARIOS, SECRET_KEYS, STOP_START_PAIRS
from tests.program.k8s import Runs, ident, objects, workloads

CLUSTER_TYPE = "kubernetes:postgresql.cnpg.io/v1:Cluster"
SCHEDULED_BACKUP_TYPE = "kubernetes:postgresql.cnpg.io/v1:ScheduledBackup"
DROPPABLE = {
    # An idle HPA cannot go below minReplicas >= 1 (components/app/autoscaling.py).
    "kubernetes:autoscaling/v2:HorizontalPodAutoscaler",
    # Retained on delete: dropping it never touches the claim (components/data/stateful.py).
    "kubernetes:core/v1:PersistentVolumeClaimPatch",
    # Holds no data; must not run against a stopped database.
    "tims-stack:k8s:Migrations",
    "kubernetes:batch/v1:Job",
}
AWAIT_ANNOTATIONS = {
    HIBERNATION,
    "pulumi.com/skipAwait",
    "pulumi.com/waitFor",
    "pulumi.com/timeoutSeconds",
}
"""What stop and start may change on the CloudNativePG Cluster (components/data/cnpg.py)."""


def _by_urn(run: ProgramRun) -> dict[str, Registered]:
    return {r.urn: r for r in run.resources}


def _without_replicas(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _without_replicas(v) for k, v in value.items() if k != "replicas"}
    if isinstance(value, list):
        return [_without_replicas(v) for v in value]
    return value


def _comparable(resource: Registered) -> Any:
    """The inputs stop may not change: all but replicas, the Cluster's await annotations and
    the ScheduledBackup's `suspend` (a hibernated Cluster cannot be backed up)."""
    inputs = _without_replicas(reveal(resource.inputs))
    if resource.type == SCHEDULED_BACKUP_TYPE:
        inputs = {**inputs, "spec": {k: v for k, v in inputs["spec"].items() if k != "suspend"}}
    if resource.type == CLUSTER_TYPE:
        metadata = dict(inputs["metadata"])
        annotations = metadata.pop("annotations")
        assert set(annotations) <= AWAIT_ANNOTATIONS, f"Cluster annotations {sorted(annotations)}"
        inputs = {**inputs, "metadata": metadata}
    return inputs


@pytest.fixture(params=STOP_START_PAIRS, ids=[running for running, _ in STOP_START_PAIRS])
def pair(request: pytest.FixtureRequest, program_runs: Runs) -> tuple[ProgramRun, ProgramRun]:
    running, stopped = request.param
    return program_runs(running), program_runs(stopped)


def test_stop_drops_only_what_holds_no_data(pair: tuple[ProgramRun, ProgramRun]) -> None:
    running, stopped = (_by_urn(run) for run in pair)
    assert set(stopped) <= set(running), f"stop adds {sorted(set(stopped) - set(running))}"
    dropped = [running[urn] for urn in set(running) - set(stopped)]
    for resource in dropped:
        assert resource.type in DROPPABLE, f"stop deletes {resource.urn}"
        if resource.type.endswith("PersistentVolumeClaimPatch"):
            assert resource.retain_on_delete, f"{resource.urn}: dropping it touches the claim"


def test_stop_changes_no_input_but_replicas_and_hibernation(
    pair: tuple[ProgramRun, ProgramRun],
) -> None:
    """Same inputs under the same URN: no Secret (the immutable env Secrets included, so no
    new name and no migration re-run), password, claim or Cluster is replaced or changed."""
    running, stopped = (_by_urn(run) for run in pair)
    for urn, after in stopped.items():
        assert _comparable(after) == _comparable(running[urn]), f"{urn}: stop changed its inputs"


def test_stop_scales_every_workload_to_zero(pair: tuple[ProgramRun, ProgramRun]) -> None:
    running, stopped = pair
    names = sorted(ident(w) for w in workloads(running))
    assert sorted(ident(w) for w in workloads(stopped)) == names, "stop removed a workload"
    assert any(w.startswith("Deployment backend") for w in names), names
    for workload in workloads(stopped):
        assert workload["spec"]["replicas"] == 0, f"{ident(workload)} still runs when stopped"
    assert objects(stopped, "HorizontalPodAutoscaler") == [], "an HPA would scale back up"
    for cluster in objects(stopped, "Cluster"):
        annotations = cluster["metadata"]["annotations"]
        assert annotations[HIBERNATION] == "on", f"{ident(cluster)} is not hibernated"
    for backup in objects(stopped, "ScheduledBackup"):
        assert backup["spec"]["suspend"] is True, f"{ident(backup)} still runs when stopped"


def test_start_wakes_the_cluster(program_runs: Runs) -> None:
    for name in ("cloudnativepg", "cloudnativepg-autoscaling"):
        (cluster,) = objects(program_runs(name), "Cluster")
        assert cluster["metadata"]["annotations"][HIBERNATION] == "off", f"{name}: {ident(cluster)}"


@pytest.mark.parametrize(
    "scenario", ["autoscaling", "cloudnativepg-autoscaling", "external-db", "external-redis"]
)
def test_a_routine_up_changes_nothing(scenario: str, program_runs: Runs) -> None:
    """The same config gives the same inputs: nothing (the immutable env Secrets, whose new
    name would roll out the pods and re-run the migration Job, included) is updated or
    replaced by an `up` that changes nothing."""
    raw = {**SCENARIOS, **DB_MODE_SCENARIOS}[scenario]
    again = _by_urn(run_program(raw, secret_keys=SECRET_KEYS))
    first = _by_urn(program_runs(scenario))
    assert sorted(again) == sorted(first), "another run registers other resources"
    for urn, resource in again.items():
        assert reveal(resource.inputs) == reveal(first[urn].inputs), f"{urn}: inputs differ"
