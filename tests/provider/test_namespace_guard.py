"""The namespace guard: the mode guards' provider, parametrised with `namespace`.

In-process, and through the real dynamic-provider host (`python -m pulumi.dynamic`)
from a directory where the project cannot be imported, as Pulumi runs it from the
state at preview time: the host's Check takes the provider from the serialized
`__provider` input (pulumi sdk/python/lib/pulumi/dynamic/__main__.py,
`DynamicResourceProviderServicer.Check`, `get_provider`) and turns the failures it
returns into a CheckResponse, which fails the preview before any step.
"""

from __future__ import annotations

from typing import Any

from pulumi.runtime import rpc
from pulumi.runtime.proto import provider_pb2

from components.data.mode_guard import NAMESPACE, ModeGuardProvider, mode_problem
from tests.provider.conftest import ProviderHost, check_in_host

URN = "urn:pulumi:dev::tims-stack::pulumi-python:dynamic/tims-stack:NamespaceGuard::namespace-guard"


def props(namespace: str, allow: bool = False) -> dict[str, Any]:
    return {"namespace": namespace, "allowNamespaceChange": allow}


def test_a_namespace_change_is_refused_without_the_override() -> None:
    result = ModeGuardProvider(NAMESPACE).check(props("tims-stack-a"), props("tims-stack-b"))
    assert [f.property for f in result.failures] == ["namespace"], "the change is not refused"


def test_an_unchanged_or_first_namespace_passes() -> None:
    guard = ModeGuardProvider(NAMESPACE)
    assert guard.check(props("tims-stack-a"), props("tims-stack-a")).failures == []
    assert guard.check({}, props("tims-stack-a")).failures == [], "the first `up` is refused"


def test_the_override_lets_a_namespace_change_through() -> None:
    result = ModeGuardProvider(NAMESPACE).check(props("a"), props("b", allow=True))
    assert result.failures == []


def test_the_namespace_refusal_says_what_happens_and_both_ways_out() -> None:
    message = mode_problem(props("tims-stack-a"), props("tims-stack-b"), NAMESPACE)
    assert message is not None
    for needle in (
        "'tims-stack-a'",
        "'tims-stack-b'",
        "tims-stack:environment",
        "EMPTY",
        "DELETE",
        "volumes",
        "set the old value back",
        "pg_dump",
        "pg_restore",
        "tims-stack:allowNamespaceChange true",
        "remove tims-stack:allowNamespaceChange",
    ):
        assert needle in message, f"the namespace refusal does not mention {needle!r}"
    assert "mode" not in message, "the namespace refusal speaks of a mode"


def test_the_namespace_guard_records_under_its_own_keys_and_id() -> None:
    guard = ModeGuardProvider(NAMESPACE)
    created = guard.create(props("tims-stack-a"))
    assert (created.id, created.outs) == ("namespace-guard", props("tims-stack-a"))
    updated = guard.update("namespace-guard", props("a"), props("b", allow=True))
    assert updated.outs == props("b", allow=True)
    diff = guard.diff("namespace-guard", props("a"), props("b", allow=True))
    assert (diff.changes, diff.replaces) == (True, []), "the guard must update, not replace"


def test_a_mode_guard_ignores_the_namespace_keys() -> None:
    """The Postgres guard still guards `mode` only."""
    assert ModeGuardProvider().check(props("a"), props("b")).failures == []


# ------------------------------------------------------------------ through the provider host


def _check(host: ProviderHost, olds: dict[str, Any], news: dict[str, Any]) -> Any:
    return check_in_host(host, URN, ModeGuardProvider(NAMESPACE), olds, news)


def test_provider_host_refuses_a_namespace_change_from_serialized_code(
    provider_host: ProviderHost,
) -> None:
    """The host's working directory has a broken `components`: only by-value code works."""
    response = _check(provider_host, props("tims-stack-a"), props("tims-stack-b"))
    failures = [(f.property, f.reason) for f in response.failures]
    assert [p for p, _ in failures] == ["namespace"], f"not refused: {provider_host.stderr}"
    assert "tims-stack:allowNamespaceChange" in failures[0][1]


def test_provider_host_accepts_the_override_and_records_the_new_namespace(
    provider_host: ProviderHost,
) -> None:
    allowed = _check(provider_host, props("tims-stack-a"), props("tims-stack-b", allow=True))
    assert list(allowed.failures) == [], provider_host.stderr
    created = provider_host.stub.Create(
        provider_pb2.CreateRequest(urn=URN, properties=allowed.inputs)
    )
    state = rpc.deserialize_properties(created.properties)
    assert (created.id, state["namespace"]) == ("namespace-guard", "tims-stack-b")
    back = _check(provider_host, state, props("tims-stack-a"))
    assert [f.property for f in back.failures] == ["namespace"], "the new name is not guarded"


def test_provider_host_passes_the_first_up(provider_host: ProviderHost) -> None:
    first = _check(provider_host, {}, props("tims-stack-a"))
    assert list(first.failures) == [], provider_host.stderr
