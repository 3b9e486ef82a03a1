"""The redis.mode guard: the Postgres guard's provider, parametrised with the store `redis`.

In-process, and through the real dynamic-provider host (`python -m pulumi.dynamic`)
from a directory where the project cannot be imported, as Pulumi runs it from the
state at preview time. The host's Check and Create take the provider from the
serialized `__provider` input (pulumi sdk/python/lib/pulumi/dynamic/__main__.py,
`DynamicResourceProviderServicer.Check`/`Create`, `get_provider`), so the store must
survive `__reduce__`.
"""

from __future__ import annotations

from typing import Any

import pytest
from pulumi.runtime import rpc
from pulumi.runtime.proto import provider_pb2

from components.data.mode_guard import POSTGRES, REDIS, ModeGuardProvider, mode_problem
from tests.provider.conftest import ProviderHost, check_in_host

URN = (
    "urn:pulumi:dev::tims-stack::tims-stack:k8s:RedisMode$"
    "pulumi-python:dynamic/tims-stack:RedisModeGuard::redis-mode"
)
MODES = ("inCluster", "external")


def props(mode: str, allow: bool = False) -> dict[str, Any]:
    return {"mode": mode, "allowModeChange": allow}


@pytest.mark.parametrize(("old", "new"), [("inCluster", "external"), ("external", "inCluster")])
def test_a_redis_mode_change_is_refused_without_the_override(old: str, new: str) -> None:
    result = ModeGuardProvider(REDIS).check(props(old), props(new))
    assert [f.property for f in result.failures] == ["mode"], f"{old} -> {new} not refused"


@pytest.mark.parametrize("mode", MODES)
def test_an_unchanged_or_first_redis_mode_passes(mode: str) -> None:
    assert ModeGuardProvider(REDIS).check(props(mode), props(mode)).failures == []
    assert ModeGuardProvider(REDIS).check({}, props(mode)).failures == []


def test_the_override_lets_a_redis_mode_change_through() -> None:
    result = ModeGuardProvider(REDIS).check(props("inCluster"), props("external", allow=True))
    assert result.failures == []


def test_the_redis_refusal_says_what_is_lost_and_what_is_kept() -> None:
    message = mode_problem(props("inCluster"), props("external"), REDIS)
    assert message is not None
    for needle in (
        "tims-stack:redis.mode",
        "'inCluster'",
        "'external'",
        "WebSockets",
        "Logins are not lost",
        "tims-stack:redis.allowModeChange true",
        "Managed Redis",
    ):
        assert needle in message, f"the Redis refusal does not mention {needle!r}"
    for postgres_only in ("pg_dump", "database would start EMPTY", "tims-stack:postgres"):
        assert postgres_only not in message, f"the Redis refusal mentions {postgres_only!r}"


@pytest.mark.parametrize(("old", "new"), [("inCluster", "external"), ("external", "inCluster")])
def test_the_redis_refusal_speaks_of_the_in_cluster_claim_only_when_leaving_it(
    old: str, new: str
) -> None:
    message = mode_problem(props(old), props(new), REDIS) or ""
    leaving = "its volume claim stays in the namespace until destroy" in message
    assert leaving is (old == "inCluster"), f"{old} -> {new}: {message}"


def test_the_postgres_guard_keeps_its_key_and_words() -> None:
    message = mode_problem(props("inCluster"), props("external"))
    assert message is not None
    assert "tims-stack:postgres.mode" in message
    assert "pg_dump" in message
    assert ModeGuardProvider().store == POSTGRES


def test_each_guard_records_under_its_own_id() -> None:
    assert ModeGuardProvider(REDIS).create(props("external")).id == "redis-mode"
    assert ModeGuardProvider().create(props("external")).id == "postgres-mode"


# ------------------------------------------------------------------ through the provider host


def _check(host: ProviderHost, store: str, olds: dict[str, Any], news: dict[str, Any]) -> Any:
    return check_in_host(host, URN, ModeGuardProvider(store), olds, news)


def test_provider_host_refuses_a_redis_mode_change_in_redis_words(
    provider_host: ProviderHost,
) -> None:
    """The store travels with the serialized provider: the host says Redis, not Postgres."""
    response = _check(provider_host, REDIS, props("inCluster"), props("external"))
    failures = [(f.property, f.reason) for f in response.failures]
    assert [p for p, _ in failures] == ["mode"], f"not refused: {provider_host.stderr}"
    assert "tims-stack:redis.mode" in failures[0][1]
    assert "pg_dump" not in failures[0][1]


def test_provider_host_still_refuses_in_postgres_words_for_the_postgres_guard(
    provider_host: ProviderHost,
) -> None:
    response = _check(provider_host, POSTGRES, props("inCluster"), props("cloudnativepg"))
    reasons = [f.reason for f in response.failures]
    assert len(reasons) == 1, provider_host.stderr
    assert "tims-stack:postgres.mode" in reasons[0]


def test_provider_host_accepts_the_override_and_records_the_redis_mode(
    provider_host: ProviderHost,
) -> None:
    allowed = _check(provider_host, REDIS, props("inCluster"), props("external", allow=True))
    assert list(allowed.failures) == [], provider_host.stderr
    created = provider_host.stub.Create(
        provider_pb2.CreateRequest(urn=URN, properties=allowed.inputs)
    )
    state = rpc.deserialize_properties(created.properties)
    assert (created.id, state["mode"]) == ("redis-mode", "external"), provider_host.stderr
    refused = _check(provider_host, REDIS, state, props("inCluster"))
    assert [f.property for f in refused.failures] == ["mode"], "the recorded mode is not guarded"
