"""`pulumi up` waits long enough for every start-up budget, and for the Gateway to accept routes.

The mocks do not keep resource options, so this module records the
customTimeouts the SDK sends with each registration next to the mock run.
"""

from __future__ import annotations

import json
import re
from typing import Any

import pytest

from components.kube import timeouts
from components.network.routing import ROUTE_CONDITIONS, WAIT_FOR_ANNOTATION, httproute_wait_for
from scripts import mockrun
from scripts.mockrun import ProgramRun, run_program
from tests.program import waitfor
from tests.program.conftest import SCENARIOS
from tests.program.k8s import WORKLOAD_KINDS

DEFAULT_AWAIT_SECONDS = 600
"""pulumi-kubernetes' wait for a Deployment or StatefulSet without customTimeouts."""
_DURATION = re.compile(r"^(\d+)([smh])$")
_UNIT = {"s": 1, "m": 60, "h": 3600}


def seconds_of(duration: str) -> int:
    match = _DURATION.fullmatch(duration)
    assert match, f"customTimeouts value {duration!r} is not <n>s, <n>m or <n>h"
    return int(match.group(1)) * _UNIT[match.group(2)]


class TimeoutRun:
    def __init__(self, run: ProgramRun, sent: dict[str, dict[str, str]]) -> None:
        self.run = run
        self.sent = sent
        """customTimeouts by resource URN, as the SDK sent them (create/update/delete)."""

    def timeouts_of(self, urn: str) -> dict[str, str]:
        return self.sent.get(urn, {})


@pytest.fixture(scope="module")
def gateway_run() -> TimeoutRun:
    """The gateway scenario (every workload plus an HTTPRoute), with customTimeouts recorded."""
    sent: dict[str, dict[str, str]] = {}
    original = mockrun._RecordingMonitor.RegisterResource

    def recording(self: Any, request: Any) -> Any:
        response = original(self, request)
        given = request.customTimeouts
        values = {k: getattr(given, k) for k in ("create", "update", "delete")}
        sent[response.urn] = {k: v for k, v in values.items() if v}
        return response

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(mockrun._RecordingMonitor, "RegisterResource", recording)
        run = run_program(SCENARIOS["gateway"])
    return TimeoutRun(run, sent)


def startup_budget(workload: dict[str, Any]) -> int:
    """The longest time any container's startup probe lets it take to start."""
    budgets = [0]
    for container in workload["spec"]["template"]["spec"]["containers"]:
        probe = container.get("startupProbe")
        if probe:
            budgets.append(
                probe.get("initialDelaySeconds", 0)
                + probe.get("periodSeconds", 10) * probe.get("failureThreshold", 3)
            )
    return max(budgets)


def probed_workloads(run: TimeoutRun) -> list[tuple[str, dict[str, Any], int]]:
    found = []
    for registered in run.run.kubernetes_objects():
        manifest = registered.manifest()
        if manifest["kind"] in WORKLOAD_KINDS and startup_budget(manifest) > 0:
            found.append((registered.urn, manifest, startup_budget(manifest)))
    return found


def test_every_probed_workload_is_checked(gateway_run: TimeoutRun) -> None:
    names = sorted(m["kind"] for _, m, _ in probed_workloads(gateway_run))
    assert names == ["Deployment", "Deployment", "StatefulSet"], (
        f"expected backend, frontend and postgres with startup probes, got {names}"
    )


def test_up_outlasts_every_startup_probe_budget(gateway_run: TimeoutRun) -> None:
    for urn, manifest, budget in probed_workloads(gateway_run):
        sent = gateway_run.timeouts_of(urn)
        name = f"{manifest['kind']} {manifest['metadata']['name']}"
        for operation in ("create", "update"):
            assert operation in sent, (
                f"{name}: no customTimeouts.{operation}, so `up` gives up after "
                f"{DEFAULT_AWAIT_SECONDS} s while its startup probe allows {budget} s"
            )
            assert seconds_of(sent[operation]) > budget, (
                f"{name}: customTimeouts.{operation}={sent[operation]} does not outlast "
                f"its startup probe budget of {budget} s"
            )


def test_rollout_deadline_outlasts_the_startup_budget(gateway_run: TimeoutRun) -> None:
    for _, manifest, budget in probed_workloads(gateway_run):
        if manifest["kind"] != "Deployment":
            continue
        deadline = manifest["spec"].get("progressDeadlineSeconds", 600)
        assert deadline > budget, (
            f"Deployment {manifest['metadata']['name']}: progressDeadlineSeconds {deadline} "
            f"fails a rollout whose startup probe may take {budget} s"
        )


def test_timeouts_are_derived_from_the_budgets_in_one_place() -> None:
    from components.app import backend, frontend
    from components.data import postgres

    assert backend.STARTUP_SECONDS == timeouts.BACKEND_STARTUP_SECONDS
    assert frontend.STARTUP_SECONDS == timeouts.FRONTEND_STARTUP_SECONDS
    assert postgres.STARTUP_SECONDS == timeouts.POSTGRES_STARTUP_SECONDS


@pytest.mark.parametrize(("seconds", "expected"), [(900, "15m"), (901, "16m"), (60, "1m")])
def test_custom_timeouts_round_up_to_whole_minutes(seconds: int, expected: str) -> None:
    given = timeouts.custom_timeouts(seconds)
    assert (given.create, given.update, given.delete) == (expected, expected, None)


def test_await_time_is_longer_than_the_budget() -> None:
    assert timeouts.await_seconds(600) > 600
    with pytest.raises(ValueError, match="negative"):
        timeouts.await_seconds(-1)


# --------------------------------------------------------------------------- HTTPRoute

_ROUTE_EXPRESSION = re.compile(
    r'^jsonpath=\{\.status\.parents\[\*\]\.conditions\[\?\(@\.type=="(\w+)"\)\]\.status\}=True$'
)


def route_ready(annotation: str, status: dict[str, Any]) -> bool:
    """What pulumi-kubernetes concludes from the waitFor list for a route with `status`
    (tests/program/waitfor.py: every expression must hold, each on its FIRST match)."""
    return waitfor.ready({WAIT_FOR_ANNOTATION: annotation}, {"status": status})


def _status(**conditions: str) -> dict[str, Any]:
    return {
        "parents": [
            {
                "parentRef": {"name": "shared-gateway"},
                "controllerName": "example.com/gateway",
                "conditions": [{"type": t, "status": s} for t, s in conditions.items()],
            }
        ]
    }


@pytest.fixture
def route(gateway_run: TimeoutRun) -> tuple[str, dict[str, Any]]:
    [registered] = [r for r in gateway_run.run.kubernetes_objects() if r.kind == "HTTPRoute"]
    return registered.urn, registered.manifest()


def test_httproute_is_awaited_for_accepted_and_resolved_refs(
    route: tuple[str, dict[str, Any]],
) -> None:
    _, manifest = route
    annotation = manifest["metadata"].get("annotations", {}).get(WAIT_FOR_ANNOTATION)
    assert annotation == httproute_wait_for()[WAIT_FOR_ANNOTATION], (
        f"HTTPRoute {manifest['metadata']['name']} has no {WAIT_FOR_ANNOTATION} annotation"
    )
    assert route_ready(annotation, _status(Accepted="True", ResolvedRefs="True"))


@pytest.mark.parametrize(
    "status",
    [
        _status(Accepted="False", ResolvedRefs="True"),
        _status(Accepted="True", ResolvedRefs="False"),
        _status(Accepted="True"),
        {},
    ],
    ids=["rejected", "backend-service-missing", "refs-not-yet-resolved", "no-status-yet"],
)
def test_a_rejected_or_unresolved_route_is_not_ready(status: dict[str, Any]) -> None:
    annotation = httproute_wait_for()[WAIT_FOR_ANNOTATION]
    assert not route_ready(annotation, status), f"route counted ready with status {status}"


def test_route_has_one_parent_so_the_awaited_conditions_are_its_own(
    route: tuple[str, dict[str, Any]],
) -> None:
    # pulumi-kubernetes compares only the first value a JSONPath selects: with a
    # second parentRef, a Gateway rejecting the route would go unnoticed (below).
    _, manifest = route
    assert len(manifest["spec"]["parentRefs"]) == 1, manifest["spec"]["parentRefs"]


def test_a_second_parent_would_go_unchecked() -> None:
    """Why one parent: jsonpath.go's Matches reads only the first selected value, so a
    second Gateway's rejection does not keep the wait going."""
    annotation = httproute_wait_for()[WAIT_FOR_ANNOTATION]
    accepted, rejected = (
        _status(Accepted=value, ResolvedRefs="True")["parents"][0] for value in ("True", "False")
    )
    assert route_ready(annotation, {"parents": [accepted, rejected]})
    assert not route_ready(annotation, {"parents": [rejected, accepted]})


def test_route_waits_name_both_gateway_conditions() -> None:
    expressions = json.loads(httproute_wait_for()[WAIT_FOR_ANNOTATION])
    types = [_ROUTE_EXPRESSION.fullmatch(e).group(1) for e in expressions]  # type: ignore[union-attr]
    assert types == list(ROUTE_CONDITIONS) == ["Accepted", "ResolvedRefs"]


def test_route_wait_has_a_timeout(
    gateway_run: TimeoutRun, route: tuple[str, dict[str, Any]]
) -> None:
    urn, manifest = route
    sent = gateway_run.timeouts_of(urn)
    for operation in ("create", "update"):
        assert seconds_of(sent.get(operation, "0s")) == 60 * -(
            -timeouts.ROUTE_ACCEPT_SECONDS // 60
        ), f"HTTPRoute {manifest['metadata']['name']}: customTimeouts {sent}"
