"""Autoscaling, disruption budgets and topology spread of the backend and frontend."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from components.app.autoscaling import HOSTNAME_KEY, ZONE_KEY, needs_disruption_budget
from scripts.mockrun import ProgramRun
from stack import generate
from stack.config import StackConfig
from tests.conftest import REPO_ROOT
from tests.program.conftest import SCENARIOS
from tests.program.k8s import Runs, ident, matches, obj, objects, pod_labels

PARTS = ("backend", "frontend")


def _hpa_for(run: ProgramRun, part: str) -> dict[str, Any] | None:
    found = [r.manifest() for r in run.kubernetes_objects() if r.kind == "HorizontalPodAutoscaler"]
    named = [h for h in found if h["metadata"]["labels"]["app.kubernetes.io/name"] == part]
    assert len(named) <= 1, f"more than one HPA for {part}"
    return named[0] if named else None


def _pdbs(run: ProgramRun) -> list[dict[str, Any]]:
    return objects(run, "PodDisruptionBudget")


@pytest.mark.parametrize("part", PARTS)
def test_hpa_targets_the_parts_deployment(program_runs: Runs, part: str) -> None:
    run = program_runs("autoscaling")
    deployment = obj(run, "Deployment", part)
    hpa = _hpa_for(run, part)
    assert hpa is not None, f"no HorizontalPodAutoscaler for {part}"
    assert hpa["apiVersion"] == "autoscaling/v2", ident(hpa)
    assert hpa["spec"]["scaleTargetRef"] == {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "name": deployment["metadata"]["name"],
    }, f"{ident(hpa)} does not target {ident(deployment)}"


def test_hpa_has_the_configured_bounds_and_targets(program_runs: Runs) -> None:
    hpa = _hpa_for(program_runs("autoscaling"), "backend")
    assert hpa is not None
    spec = hpa["spec"]
    assert (spec["minReplicas"], spec["maxReplicas"]) == (2, 6), ident(hpa)
    targets = {
        m["resource"]["name"]: m["resource"]["target"]
        for m in spec["metrics"]
        if m["type"] == "Resource"
    }
    assert targets == {
        "cpu": {"type": "Utilization", "averageUtilization": 70},
        "memory": {"type": "Utilization", "averageUtilization": 80},
    }, ident(hpa)


def test_cpu_target_defaults_to_70_and_memory_is_optional(program_runs: Runs) -> None:
    hpa = _hpa_for(program_runs("autoscaling"), "frontend")
    assert hpa is not None
    (metric,) = hpa["spec"]["metrics"]
    assert metric["resource"] == {
        "name": "cpu",
        "target": {"type": "Utilization", "averageUtilization": 70},
    }, ident(hpa)


@pytest.mark.parametrize("part", PARTS)
def test_autoscaled_deployment_leaves_replicas_to_the_hpa(program_runs: Runs, part: str) -> None:
    """Pulumi must not own spec.replicas, or every `up` would reset the HPA's choice."""
    deployment = obj(program_runs("autoscaling"), "Deployment", part)
    assert "replicas" not in deployment["spec"], (
        f"{ident(deployment)} sets replicas although an HPA scales it"
    )


@pytest.mark.parametrize("part", PARTS)
def test_without_autoscaling_there_is_no_hpa_and_replicas_are_set(
    default_run: ProgramRun, part: str
) -> None:
    assert _hpa_for(default_run, part) is None, f"{part}: HPA without autoscaling config"
    assert obj(default_run, "Deployment", part)["spec"]["replicas"] == {"backend": 2}.get(part, 1)


@pytest.mark.parametrize("scenario_name", ["default", "autoscaling", "autoscaling-stopped"])
@pytest.mark.parametrize("part", PARTS)
def test_deployments_take_replicas_back_from_the_hpas_field_manager(
    program_runs: Runs, scenario_name: str, part: str
) -> None:
    """After an HPA scaled it, setting replicas (stop, autoscaling off) must not conflict."""
    deployment = obj(program_runs(scenario_name), "Deployment", part)
    annotations = deployment["metadata"].get("annotations") or {}
    assert annotations.get("pulumi.com/patchForce") == "true", ident(deployment)


def test_stop_deletes_the_hpas_and_scales_to_zero(program_runs: Runs) -> None:
    """An HPA never goes below minReplicas >= 1: stop removes it and sets replicas 0."""
    run = program_runs("autoscaling-stopped")
    assert objects(run, "HorizontalPodAutoscaler") == [], "stopped environment keeps an HPA"
    for part in PARTS:
        deployment = obj(run, "Deployment", part)
        assert deployment["spec"]["replicas"] == 0, f"{ident(deployment)} not scaled to 0"


def test_start_after_stop_restores_the_hpas_and_releases_replicas(program_runs: Runs) -> None:
    """Start is the same program as before the stop: HPAs back, replicas left to them."""
    running = {r.urn: r for r in program_runs("autoscaling").resources}
    stopped = {r.urn: r for r in program_runs("autoscaling-stopped").resources}
    hpas = sorted(r.name for r in running.values() if r.type.endswith("HorizontalPodAutoscaler"))
    assert hpas == ["backend", "frontend"]
    # Stopping drops the HPAs, and what it drops without autoscaling too (the claim size
    # patches and the migration Job, tests/program/test_program.py); nothing else.
    dropped = sorted(running[urn].type.rsplit(":", 1)[1] for urn in set(running) - set(stopped))
    expected = {"HorizontalPodAutoscaler", "PersistentVolumeClaimPatch", "Migrations", "Job"}
    assert dropped.count("HorizontalPodAutoscaler") == 2, dropped
    assert set(dropped) <= expected, f"stopping dropped {dropped}"
    deployments = [r for r in stopped.values() if r.type.endswith("Deployment")]
    for r in deployments:
        assert r.inputs["spec"]["replicas"] == 0, r.name
        assert "replicas" not in running[r.urn].inputs["spec"], f"{r.name} running sets replicas"


def _pdb_selecting(run: ProgramRun, part: str) -> list[dict[str, Any]]:
    pods = pod_labels(obj(run, "Deployment", part))
    return [p for p in _pdbs(run) if matches(p["spec"]["selector"]["matchLabels"], pods)]


def test_backend_with_two_replicas_gets_a_disruption_budget(default_run: ProgramRun) -> None:
    (pdb,) = _pdb_selecting(default_run, "backend")
    assert pdb["spec"]["maxUnavailable"] == 1, ident(pdb)
    assert pdb["spec"]["unhealthyPodEvictionPolicy"] == "AlwaysAllow", ident(pdb)


def test_single_replica_part_gets_no_disruption_budget(default_run: ProgramRun) -> None:
    """minAvailable 1 would block every drain of a one-replica part; none is made."""
    assert _pdb_selecting(default_run, "frontend") == [], "frontend has 1 replica"


@pytest.mark.parametrize(
    ("frontend", "budget"),
    [
        ({"replicas": 1}, False),
        ({"replicas": 3}, True),
        ({"autoscaling": {"min": 1, "max": 4}}, True),
        ({"autoscaling": {"min": 1, "max": 1}}, False),
    ],
)
def test_a_budget_exactly_when_the_part_can_run_more_than_one_pod(
    config_of: Callable[..., StackConfig], frontend: dict[str, Any], budget: bool
) -> None:
    """An HPA from 1 to 4 may run four pods: without a budget one drain could take all;
    maxUnavailable 1 still lets its single pod go while it runs one."""
    config = config_of({**SCENARIOS["prebuilt"], "tims-stack:frontend": frontend})
    assert needs_disruption_budget(config.frontend) is budget, frontend


@pytest.mark.parametrize("part", PARTS)
def test_autoscaled_part_with_min_two_gets_a_budget_matching_its_pods(
    program_runs: Runs, part: str
) -> None:
    run = program_runs("autoscaling")
    (pdb,) = _pdb_selecting(run, part)
    deployment = obj(run, "Deployment", part)
    for other in PARTS:
        if other != part:
            assert not matches(
                pdb["spec"]["selector"]["matchLabels"],
                pod_labels(obj(run, "Deployment", other)),
            ), f"{ident(pdb)} also selects {other} pods"
    assert pdb["metadata"]["namespace"] == deployment["metadata"]["namespace"], ident(pdb)


def test_every_disruption_budget_selects_some_pods(scenario_run: ProgramRun) -> None:
    pods = [pod_labels(d) for d in objects(scenario_run, "Deployment")]
    for pdb in _pdbs(scenario_run):
        assert any(matches(pdb["spec"]["selector"]["matchLabels"], p) for p in pods), (
            f"{ident(pdb)} selects no pod"
        )


def test_stop_keeps_the_budgets(program_runs: Runs) -> None:
    """Stop changes replicas and HPAs only; a budget over zero pods blocks nothing."""
    running = {p["metadata"]["name"] for p in _pdbs(program_runs("autoscaling"))}
    stopped = {p["metadata"]["name"] for p in _pdbs(program_runs("autoscaling-stopped"))}
    assert running == stopped, "stop changed the disruption budgets"
    assert len(running) == 2, "expected one budget per autoscaled part"


# pulumi-kubernetes provider/pkg/provider/diff.go, `forceNew` (v4.32.0, unchanged at its newest
# commit): the paths whose change replaces an object, by group, version and kind. For every
# kind also metadata.name and metadata.namespace (metadataForceNewProperties).
_FORCE_NEW = {("policy", "v1beta1", "PodDisruptionBudget"): (".spec",)}


def _replaced_by(api_version: str, kind: str, path: str) -> bool:
    """Whether the provider replaces an object of this type when `path` changes."""
    group, _, version = api_version.rpartition("/")
    prefixes = (
        *_FORCE_NEW.get((group, version, kind), ()),
        ".metadata.name",
        ".metadata.namespace",
    )
    return any(path == p or path.startswith(p + ".") for p in prefixes)


def test_a_budget_spec_change_updates_it_in_place(program_runs: Runs) -> None:
    """Only policy/v1beta1 budgets are replaced on a spec change; ours are policy/v1, so
    there is never a moment with two budgets over the same pods (the eviction API would
    then refuse every eviction of them; components/app/autoscaling.py)."""
    budgets = _pdbs(program_runs("autoscaling"))
    assert budgets, "the autoscaling scenario has budgets"
    for budget in budgets:
        assert budget["apiVersion"] == "policy/v1", ident(budget)
        for field in ("maxUnavailable", "selector", "unhealthyPodEvictionPolicy"):
            assert not _replaced_by(budget["apiVersion"], "PodDisruptionBudget", f".spec.{field}")
    assert _replaced_by("policy/v1beta1", "PodDisruptionBudget", ".spec.maxUnavailable")


@pytest.mark.parametrize("part", PARTS)
def test_replicas_spread_over_nodes_and_zones_without_blocking_scheduling(
    scenario_run: ProgramRun, part: str
) -> None:
    deployment = obj(scenario_run, "Deployment", part)
    pod_spec = deployment["spec"]["template"]["spec"]
    constraints = {c["topologyKey"]: c for c in pod_spec["topologySpreadConstraints"]}
    assert set(constraints) == {HOSTNAME_KEY, ZONE_KEY}, ident(deployment)
    for key, constraint in constraints.items():
        where = f"{ident(deployment)} spread over {key}"
        # DoNotSchedule would leave pods Pending on a one-node cluster, or on nodes
        # without a zone label.
        assert constraint["whenUnsatisfiable"] == "ScheduleAnyway", where
        assert constraint["maxSkew"] == 1, where
        assert matches(constraint["labelSelector"]["matchLabels"], pod_labels(deployment)), where
        assert constraint["matchLabelKeys"] == ["pod-template-hash"], where


def _guide_intro() -> str:
    text = (REPO_ROOT / "docs" / "production.md").read_text(encoding="utf-8")
    return text.split("\n## ", 1)[0]


def test_production_guide_names_what_the_defaults_already_deploy(
    default_run: ProgramRun,
) -> None:
    """A stack that sets none of the production keys still gets what its defaults imply."""
    deployed = {r.type.rsplit(":", 1)[-1] for r in default_run.kubernetes_objects()}
    intro = _guide_intro()
    for kind in ("PodDisruptionBudget", "HorizontalPodAutoscaler"):
        named = kind in intro
        assert named == (kind in deployed), (
            f"docs/production.md's introduction {'names' if named else 'omits'} {kind}, "
            f"which the default configuration {'does' if kind in deployed else 'does not'} deploy"
        )


@pytest.mark.parametrize("part", ["backend", "frontend"])
def test_reference_says_why_each_replica_default_and_what_it_brings(part: str) -> None:
    row = next(
        line
        for line in generate.docs_table().splitlines()
        if line.startswith(f"| `tims-stack:{part}.replicas` |")
    )
    assert "original stack" in row, f"tims-stack:{part}.replicas: no reason given: {row}"
    assert "PodDisruptionBudget" in row, f"tims-stack:{part}.replicas: budget unsaid: {row}"
