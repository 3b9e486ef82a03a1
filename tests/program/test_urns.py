"""The URNs of resources whose replacement loses something are fixed.

Pulumi identifies a resource by its URN (name, type and parent types). A
refactor that renames or re-parents one of these makes the next `pulumi up`
create a new resource and delete the old one: a new random password (Postgres
keeps the old one, so the backend can no longer log in), a new StatefulSet with
an empty claim, a new namespace, or an ImageBuild delete that removes the very
images the new one skipped building, a new CloudNativePG Cluster (the old one's
claims are garbage-collected with it), or a mode guard with no recorded mode
(which lets a postgres.mode or redis.mode change through unchecked), or the namespace
guard (which lets a namespace change through unchecked). Such a refactor needs `aliases`
(https://www.pulumi.com/docs/iac/concepts/options/aliases/) and an update here.
"""

from __future__ import annotations

from collections.abc import Callable

import pytest

from scripts.mockrun import ProgramRun

PROTECTED_IN: dict[str, list[str]] = {
    "cloudnativepg": [
        "tims-stack:k8s:CnpgCluster$kubernetes:postgresql.cnpg.io/v1:Cluster::postgres",
        "tims-stack:k8s:PostgresMode$pulumi-python:dynamic/tims-stack:PostgresModeGuard"
        "::postgres-mode",
    ],
    "default": [
        "tims-stack:k8s:PostgresMode$pulumi-python:dynamic/tims-stack:PostgresModeGuard"
        "::postgres-mode",
    ],
    "external-db": [
        "tims-stack:k8s:PostgresMode$pulumi-python:dynamic/tims-stack:PostgresModeGuard"
        "::postgres-mode",
    ],
    "external-redis": [
        "tims-stack:k8s:RedisMode$pulumi-python:dynamic/tims-stack:RedisModeGuard::redis-mode",
    ],
}
"""Per scenario (tests/program/conftest.py), beside PROTECTED: the other postgres.modes and
the managed Redis."""
PROTECTED = [
    "tims-stack:images:AppImages$pulumi-python:dynamic/tims-stack:ImageBuild::images",
    "tims-stack:k8s:Namespace$kubernetes:core/v1:Namespace::namespace",
    "tims-stack:k8s:NamespaceName$pulumi-python:dynamic/tims-stack:NamespaceGuard::namespace-guard",
    "tims-stack:k8s:Postgres$kubernetes:apps/v1:StatefulSet::postgres",
    "tims-stack:k8s:Postgres$random:index/randomPassword:RandomPassword::postgres-password",
    "tims-stack:k8s:Redis$kubernetes:apps/v1:StatefulSet::redis",
    "tims-stack:k8s:RedisMode$pulumi-python:dynamic/tims-stack:RedisModeGuard::redis-mode",
    "tims-stack:k8s:Backend$random:index/randomPassword:RandomPassword::backend-django-secret-key",
    "tims-stack:k8s:Backend$random:index/randomPassword:RandomPassword::backend-admin-password",
]


@pytest.mark.parametrize(
    ("scenario", "urn"),
    [("default", urn) for urn in PROTECTED]
    + [(scenario, urn) for scenario, urns in PROTECTED_IN.items() for urn in urns],
)
def test_resource_that_must_never_be_replaced_keeps_its_urn(
    scenario: str, urn: str, program_runs: Callable[[str], ProgramRun]
) -> None:
    urns = {r.urn.split("::", 2)[2] for r in program_runs(scenario).resources}
    assert urn in urns, (
        f"{urn} is no longer registered under this URN: renaming or re-parenting it replaces "
        "it on the next `pulumi up` (data, passwords or images lost). Add `aliases` for the "
        "old URN, then update tests/program/test_urns.py."
    )
