"""Which connections the rendered NetworkPolicies admit, in the production profile.

Every pod that talks to Postgres, Redis, the backend or the frontend, ours as
rendered and the CloudNativePG operator's with the labels its source gives them
(tests/program/netpol.py), run through a NetworkPolicy evaluator: the admitted
set must be exactly what the app and the operator need.
"""

from __future__ import annotations

import copy
from typing import Any

import pytest

from components.data import cnpg
from scripts.mockrun import ProgramRun
from tests.program.k8s import Runs, objects, pod_labels
from tests.program.netpol import (
    Pod,
    admitted,
    cnpg_instance_pod,
    cnpg_job_pod,
    cnpg_operator_pod,
)

NAMESPACE = "tims-stack-dev"
OPERATOR_NAMESPACE = "cnpg-system"
INGRESS_NAMESPACE = "ingress-nginx"
OTHER_NAMESPACE = "another-app"
NAMESPACE_LABELS = {
    ns: {"kubernetes.io/metadata.name": ns}
    for ns in (NAMESPACE, OPERATOR_NAMESPACE, INGRESS_NAMESPACE, OTHER_NAMESPACE)
}
PRODUCTION = ("cloudnativepg", "cloudnativepg-autoscaling")
"""CloudNativePG with 3 instances (the non-PR default), autoscaling off and on."""


def _workload(run: ProgramRun, kind: str, name: str) -> dict[str, Any]:
    (found,) = [
        o for o in objects(run, kind) if o["metadata"]["labels"]["app.kubernetes.io/name"] == name
    ]
    return found


class Profile:
    """The pods of one rendered environment, and its policies."""

    def __init__(self, run: ProgramRun) -> None:
        self.policies = objects(run, "NetworkPolicy")
        (cluster,) = objects(run, "Cluster")
        name = cluster["metadata"]["name"]
        inherited = cluster["spec"]["inheritedMetadata"]["labels"]
        ours = {
            "backend": ("Deployment", "backend"),
            "frontend": ("Deployment", "frontend"),
            "migrations": ("Job", "backend-migrations"),
            "redis": ("StatefulSet", "redis"),
        }
        self.pods: dict[str, Pod] = {
            key: Pod(key, NAMESPACE, pod_labels(_workload(run, kind, label)))
            for key, (kind, label) in ours.items()
        }
        self.pods.update(
            {
                "primary": cnpg_instance_pod(name, 1, NAMESPACE, inherited, primary=True),
                "replica": cnpg_instance_pod(name, 2, NAMESPACE, inherited, primary=False),
                "joining": cnpg_job_pod(name, 3, "join", NAMESPACE, inherited),
                "initdb": cnpg_job_pod(name, 1, "initdb", NAMESPACE, inherited),
                "operator": cnpg_operator_pod(OPERATOR_NAMESPACE),
                "ingress-controller": Pod(
                    "controller", INGRESS_NAMESPACE, {"app.kubernetes.io/name": "ingress-nginx"}
                ),
                "other-namespace": Pod("x", OTHER_NAMESPACE, {"app.kubernetes.io/name": "x"}),
            }
        )

    def sources(self, target: str, port: int) -> set[str]:
        """Every pod admitted to `target` on `port`."""
        return {
            key
            for key, pod in self.pods.items()
            if key != target
            and admitted(self.policies, pod, self.pods[target], port, NAMESPACE_LABELS)
        }


@pytest.fixture(params=PRODUCTION)
def profile(request: pytest.FixtureRequest, program_runs: Runs) -> Profile:
    return Profile(program_runs(str(request.param)))


EVERYONE = {
    "backend",
    "frontend",
    "migrations",
    "redis",
    "primary",
    "replica",
    "joining",
    "initdb",
    "operator",
    "ingress-controller",
    "other-namespace",
}


def test_postgres_port_admits_the_app_the_instances_the_join_job_and_the_operator(
    profile: Profile,
) -> None:
    """A new replica copies the primary with a join Job (pkg/specs/jobs.go,
    JoinReplicaInstance) whose pods are no instance: without its rule no replica joins."""
    assert profile.sources("primary", cnpg.PORT) == {
        "backend",
        "migrations",
        "replica",
        "joining",
        "operator",
    }


def test_status_port_admits_the_instances_and_the_operator_only(profile: Profile) -> None:
    """8000: the operator's status calls and the instances' isolation check
    (pkg/management/postgres/webserver/probes/pinger.go); not the join Job, not the app."""
    assert profile.sources("replica", cnpg.STATUS_PORT) == {"primary", "operator"}


def test_job_pods_fall_under_the_same_policy_as_the_instances(profile: Profile) -> None:
    """They carry cnpg.io/cluster, so the policy isolates them as well: no frontend, no
    other namespace (they listen on nothing; this is about what the selector covers)."""
    expected = {"backend", "migrations", "primary", "replica", "operator"}
    assert profile.sources("joining", cnpg.PORT) == expected
    assert profile.sources("initdb", cnpg.PORT) == expected | {"joining"}


def test_redis_admits_the_backend_and_the_migration_job_only(profile: Profile) -> None:
    assert profile.sources("redis", 6379) == {"backend", "migrations"}


@pytest.mark.parametrize(("target", "port"), [("backend", 8000), ("frontend", 3000)])
def test_backend_and_frontend_are_not_isolated(profile: Profile, target: str, port: int) -> None:
    """No policy selects them: the ingress controller (and anything else) reaches them."""
    assert profile.sources(target, port) == EVERYONE - {target}


def test_the_frontend_reaches_neither_postgres_nor_redis(profile: Profile) -> None:
    frontend = profile.pods["frontend"]
    for target, port in (("primary", cnpg.PORT), ("replica", cnpg.STATUS_PORT), ("redis", 6379)):
        assert not admitted(
            profile.policies, frontend, profile.pods[target], port, NAMESPACE_LABELS
        ), f"the frontend reaches {target} on {port}"


def test_without_the_join_rule_the_join_job_is_refused(program_runs: Runs) -> None:
    """The evaluator has teeth: the instances' rule alone (podRole instance) does not admit
    the Job pod, so the join rule is what lets a replica join."""
    profile = Profile(program_runs("cloudnativepg"))
    (postgres,) = [
        p
        for p in profile.policies
        if p["metadata"]["labels"]["app.kubernetes.io/name"] == "postgres"
    ]
    trimmed = copy.deepcopy(postgres)
    trimmed["spec"]["ingress"] = [
        rule
        for rule in trimmed["spec"]["ingress"]
        if not any("cnpg.io/jobRole" in str(peer) for peer in rule["from"])
    ]
    others = [p for p in profile.policies if p is not postgres]
    joining, primary = profile.pods["joining"], profile.pods["primary"]
    assert admitted([postgres, *others], joining, primary, cnpg.PORT, NAMESPACE_LABELS)
    assert not admitted([trimmed, *others], joining, primary, cnpg.PORT, NAMESPACE_LABELS)
