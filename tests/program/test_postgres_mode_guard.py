"""The postgres.mode guard: a live environment's mode change is refused without the override.

In-process (the provider's check and diff), and through the real dynamic-provider
host over gRPC from a directory where the project cannot be imported, as
Pulumi runs it from the state at preview time.
"""

from __future__ import annotations

from typing import Any

import pytest
from pulumi.runtime import rpc
from pulumi.runtime.proto import provider_pb2

from components.data.mode_guard import ModeGuardProvider, mode_problem
from tests.provider.conftest import ProviderHost, check_in_host, provider_host, stale_checkout

__all__ = ["provider_host", "stale_checkout"]  # fixtures used below

URN = (
    "urn:pulumi:dev::tims-stack::tims-stack:k8s:PostgresMode$"
    "pulumi-python:dynamic/tims-stack:PostgresModeGuard::postgres-mode"
)
MODES = ("inCluster", "external", "cloudnativepg")


def props(mode: str, allow: bool = False) -> dict[str, Any]:
    return {"mode": mode, "allowModeChange": allow}


@pytest.mark.parametrize("old", MODES)
@pytest.mark.parametrize("new", MODES)
def test_check_refuses_exactly_the_unapproved_mode_changes(old: str, new: str) -> None:
    result = ModeGuardProvider().check(props(old), props(new))
    failures = [(f.property, f.reason) for f in result.failures]
    if old == new:
        assert failures == [], f"{old} -> {new}: same mode refused"
    else:
        assert [p for p, _ in failures] == ["mode"], f"{old} -> {new} not refused"


def test_refusal_says_what_would_happen_and_how_to_migrate() -> None:
    message = mode_problem(props("inCluster"), props("cloudnativepg"))
    assert message is not None
    for needle in (
        "'inCluster'",
        "'cloudnativepg'",
        "EMPTY",
        "pg_dump",
        "pg_restore",
        "tims-stack:postgres.allowModeChange true",
        "docs/production.md",
    ):
        assert needle in message, f"the refusal does not mention {needle!r}"


def test_override_lets_the_change_through() -> None:
    result = ModeGuardProvider().check(props("inCluster"), props("external", allow=True))
    assert result.failures == []


def test_a_new_environment_may_start_in_any_mode() -> None:
    """No recorded mode (first `up`): nothing to protect."""
    for mode in MODES:
        assert ModeGuardProvider().check({}, props(mode)).failures == [], mode


def test_diff_updates_in_place_and_never_replaces() -> None:
    diff = ModeGuardProvider().diff("postgres-mode", props("inCluster"), props("external", True))
    assert diff.changes is True
    assert diff.replaces == []
    same = ModeGuardProvider().diff("postgres-mode", props("external"), props("external"))
    assert same.changes is False


def test_update_records_the_new_mode() -> None:
    outs = ModeGuardProvider().update("postgres-mode", props("inCluster"), props("external", True))
    assert outs.outs == {"mode": "external", "allowModeChange": True}


# ------------------------------------------------------------------ through the provider host


def _check(host: ProviderHost, olds: dict[str, Any], news: dict[str, Any]) -> Any:
    return check_in_host(host, URN, ModeGuardProvider(), olds, news)


def test_provider_host_refuses_a_mode_change_from_serialized_code(
    provider_host: ProviderHost,
) -> None:
    """The host's working directory has a broken `components`: only by-value code works."""
    response = _check(provider_host, props("inCluster"), props("external"))
    failures = [(f.property, f.reason) for f in response.failures]
    assert [p for p, _ in failures] == ["mode"], f"not refused: {provider_host.stderr}"
    assert "pg_dump" in failures[0][1]


def test_provider_host_accepts_the_override_and_an_unchanged_mode(
    provider_host: ProviderHost,
) -> None:
    allowed = _check(provider_host, props("inCluster"), props("external", allow=True))
    unchanged = _check(provider_host, props("cloudnativepg"), props("cloudnativepg"))
    first = _check(provider_host, {}, props("external"))
    assert list(allowed.failures) == [], provider_host.stderr
    assert list(unchanged.failures) == [], provider_host.stderr
    assert list(first.failures) == [], provider_host.stderr


def test_provider_host_keeps_the_mode_through_refresh_and_destroys_quietly(
    provider_host: ProviderHost,
) -> None:
    """`pulumi refresh` (Read) must not drop the recorded mode, or the next change would
    pass unrefused; `pulumi destroy` (Delete) has nothing to remove and must not fail."""
    checked = _check(provider_host, {}, props("cloudnativepg"))
    created = provider_host.stub.Create(
        provider_pb2.CreateRequest(urn=URN, properties=checked.inputs)
    )
    read = provider_host.stub.Read(
        provider_pb2.ReadRequest(id=created.id, urn=URN, properties=created.properties)
    )
    refreshed = rpc.deserialize_properties(read.properties)
    assert (read.id, refreshed["mode"]) == (created.id, "cloudnativepg"), provider_host.stderr
    refused = _check(provider_host, refreshed, props("inCluster"))
    assert [f.property for f in refused.failures] == ["mode"], "refresh lost the recorded mode"
    provider_host.stub.Delete(
        provider_pb2.DeleteRequest(id=created.id, urn=URN, properties=created.properties)
    )
