"""`up` waits until the CloudNativePG Cluster's instances serve, not for a stale `Ready`.

The Cluster's status as the operator writes it at v1.30.0: `Ready` follows the
phase only and carries no observedGeneration (pkg/resources/status/transactions.go,
SetClusterReadyCondition), the status has no observedGeneration, and
`readyInstances` is omitted at 0 (api/v1/cluster_types.go, ClusterStatus). A
hibernated Cluster keeps phase and `Ready` (pkg/reconciler/hibernation/
reconciler.go, Reconcile returns before the phase is touched) and gets a
`cnpg.io/hibernation` condition (pkg/reconciler/hibernation/status.go). The
annotations are judged by tests/program/waitfor.py, a double of pulumi-kubernetes.
"""

from __future__ import annotations

from typing import Any

import pytest

from components.data import cnpg
from tests.program.k8s import Runs, objects
from tests.program.waitfor import WaitForError, ready

HEALTHY = "Cluster in healthy state"


def _status(*, ready_condition: str, ready_instances: int, hibernated: bool = False) -> Any:
    conditions = [
        {
            "type": "Ready",
            "status": ready_condition,
            "reason": "ClusterIsReady" if ready_condition == "True" else "ClusterIsNotReady",
            "message": "Cluster is Ready",
            "lastTransitionTime": "2026-12-01T00:00:00Z",
        }
    ]
    if hibernated:
        conditions.append({"type": "cnpg.io/hibernation", "status": "True", "reason": "Hibernated"})
    status: dict[str, Any] = {"phase": HEALTHY, "instances": 3, "conditions": conditions}
    if ready_instances:  # `omitempty`
        status["readyInstances"] = ready_instances
    return status


def _cluster(run_name: str, program_runs: Runs) -> dict[str, Any]:
    (cluster,) = objects(program_runs(run_name), "Cluster")
    return cluster


def _observed(cluster: dict[str, Any], status: dict[str, Any]) -> dict[str, Any]:
    """The Cluster as the provider would watch it: the rendered object, a later generation
    (a spec change or a wake-up just applied), and the given status."""
    return {**cluster, "metadata": {**cluster["metadata"], "generation": 7}, "status": status}


@pytest.fixture
def running(program_runs: Runs) -> dict[str, Any]:
    return _cluster("cloudnativepg", program_runs)


def _ready(cluster: dict[str, Any], status: dict[str, Any]) -> bool:
    return ready(cluster["metadata"]["annotations"], _observed(cluster, status))


def test_a_ready_condition_with_no_ready_instance_does_not_end_the_wait(
    running: dict[str, Any],
) -> None:
    """What a Cluster woken from hibernation says before any pod exists."""
    assert not _ready(running, _status(ready_condition="True", ready_instances=0))


def test_a_woken_cluster_still_marked_hibernated_is_not_ready(running: dict[str, Any]) -> None:
    status = _status(ready_condition="True", ready_instances=0, hibernated=True)
    assert not _ready(running, status)


def test_a_cluster_short_of_instances_is_not_ready(running: dict[str, Any]) -> None:
    """A replica still joining: Ready may already be True from before the change."""
    assert not _ready(running, _status(ready_condition="True", ready_instances=2))


def test_a_scale_down_is_not_ready_while_the_extra_instance_serves(
    running: dict[str, Any],
) -> None:
    """`instances` lowered: until the operator removes a pod, the count is the old one."""
    assert not _ready(running, _status(ready_condition="True", ready_instances=4))


def test_every_instance_ready_but_not_healthy_is_not_ready(running: dict[str, Any]) -> None:
    assert not _ready(running, _status(ready_condition="False", ready_instances=3))


def test_a_fully_ready_cluster_ends_the_wait(running: dict[str, Any]) -> None:
    assert _ready(running, _status(ready_condition="True", ready_instances=3))


def test_the_awaited_count_is_the_clusters_own(program_runs: Runs) -> None:
    """A PR environment runs one instance: one ready instance is enough there."""
    cluster = _cluster("cloudnativepg-pr", program_runs)
    assert cluster["spec"]["instances"] == 1
    assert _ready(cluster, _status(ready_condition="True", ready_instances=1))
    assert not _ready(cluster, _status(ready_condition="True", ready_instances=0))


def test_condition_ready_alone_would_accept_the_stale_status(running: dict[str, Any]) -> None:
    """Why `condition=Ready` was not enough: no observedGeneration anywhere, so the
    provider's generation check cannot tell the status is stale."""
    stale = _observed(running, _status(ready_condition="True", ready_instances=0))
    assert ready({"pulumi.com/waitFor": "condition=Ready"}, stale)


def test_the_double_honours_observed_generation_where_an_object_has_it() -> None:
    """The double has teeth: with a stale observedGeneration the provider keeps waiting."""
    status: dict[str, Any] = {
        "observedGeneration": 2,
        "conditions": [{"type": "Ready", "status": "True"}],
    }
    obj = {"metadata": {"generation": 3}, "status": status}
    assert not ready({"pulumi.com/waitFor": "condition=Ready"}, obj)
    assert not ready({"pulumi.com/waitFor": "jsonpath={.status.conditions}"}, obj)
    status["observedGeneration"] = 3
    assert ready({"pulumi.com/waitFor": "condition=Ready"}, obj)


def test_the_double_reads_an_empty_wanted_status_and_a_non_string_list_as_upstream() -> None:
    """NewCustom (await/condition/custom.go): "True" only without "="; ReadyCondition
    (metadata/overrides.go): a JSON list that is not all strings is one expression."""
    obj = {"status": {"conditions": [{"type": "Ready", "status": "True"}]}}
    assert not ready({"pulumi.com/waitFor": "condition=Ready="}, obj)
    with pytest.raises(WaitForError, match="prefix"):
        ready({"pulumi.com/waitFor": '["condition=Ready", 1]'}, obj)


def test_a_stopped_cluster_is_not_waited_for(program_runs: Runs) -> None:
    """Hibernated: Ready stays True with no instance, and the operator defers hibernation
    while the Cluster is unhealthy (pkg/reconciler/hibernation/status.go, EnrichStatus:
    WaitingForHealthy), so even its `cnpg.io/hibernation` condition could keep a stop
    waiting for good; the provider skips the wait."""
    stopped = _cluster("cloudnativepg-stopped", program_runs)
    annotations = stopped["metadata"]["annotations"]
    assert annotations == {cnpg.HIBERNATION: "on", "pulumi.com/skipAwait": "true"}
    assert ready(annotations, _observed(stopped, {}))
