"""The namespace guard as the program registers it: a changed namespace stops the preview.

The K8s Namespace depends on the guard, so the SDK registers the Namespace only once the
guard's registration returns. The host's Check returns the failures (pulumi
sdk/python/lib/pulumi/dynamic/__main__.py, `Check`); the engine marks the resource invalid
and bails ("resource ... is invalid") before generating a step for it (pulumi
pkg/resource/deploy/step_generator.go, `continueStepsFromImport`, `issueCheckErrors`), so
the preview fails before the replacement of the Namespace is planned.
"""

from __future__ import annotations

import base64
from typing import Any

import dill
from pulumi.runtime.proto import provider_pb2

from components.data.mode_guard import NAMESPACE, ModeGuardProvider
from scripts.mockrun import ProgramRun, Registered, reveal, run_program
from tests.conftest import REPO_ROOT
from tests.program.conftest import SCENARIOS, SECRET_KEYS
from tests.provider.conftest import ProviderHost, provider_host, stale_checkout, wire_properties

__all__ = ["provider_host", "stale_checkout"]  # fixtures used below

GUARD_TYPE = "pulumi-python:dynamic/tims-stack:NamespaceGuard"
GUARD_URN = "::tims-stack:k8s:NamespaceName$" + GUARD_TYPE + "::namespace-guard"
NAMESPACE_TYPE = "kubernetes:core/v1:Namespace"


def guard_of(run: ProgramRun) -> Registered:
    (guard,) = run.of_type(GUARD_TYPE)
    return guard


def run_with(**config: Any) -> ProgramRun:
    raw = {**SCENARIOS["prebuilt"], **{f"tims-stack:{k}": v for k, v in config.items()}}
    return run_program(raw, secret_keys=SECRET_KEYS)


def test_the_guard_records_the_namespace_without_the_override(default_run: ProgramRun) -> None:
    guard = guard_of(default_run)
    assert guard.urn.endswith(GUARD_URN), guard.urn
    (namespace,) = default_run.of_type(NAMESPACE_TYPE)
    name = reveal(namespace.inputs)["metadata"]["name"]
    assert (guard.inputs["namespace"], guard.inputs["allowNamespaceChange"]) == (name, False)


def test_the_namespace_waits_for_the_guard_which_waits_for_nothing(
    default_run: ProgramRun,
) -> None:
    guard = guard_of(default_run)
    (namespace,) = default_run.of_type(NAMESPACE_TYPE)
    assert guard.urn in namespace.dependencies, "the Namespace does not wait for its guard"
    assert not guard.dependencies, f"the guard waits for {guard.dependencies}"


def test_the_override_key_reaches_the_guard() -> None:
    guard = guard_of(run_with(allowNamespaceChange=True))
    assert guard.inputs["allowNamespaceChange"] is True


def _check(host: ProviderHost, olds: dict[str, Any], news: Registered) -> Any:
    """The host's Check with the registered inputs, `__provider` as the program serialized it."""
    return host.stub.Check(
        provider_pb2.CheckRequest(
            urn=news.urn, olds=wire_properties(olds), news=wire_properties(reveal(news.inputs))
        )
    )


def test_an_environment_change_is_refused_through_the_provider_host(
    provider_host: ProviderHost,
) -> None:
    """tims-stack:environment derives the namespace: the guard sees the derived name."""
    before, after = guard_of(run_with(environment="blue")), guard_of(run_with(environment="green"))
    recorded = ModeGuardProvider(NAMESPACE).create(reveal(before.inputs)).outs or {}
    response = _check(provider_host, recorded, after)
    failures = [(f.property, f.reason) for f in response.failures]
    assert [p for p, _ in failures] == ["namespace"], f"not refused: {provider_host.stderr}"
    assert "'tims-stack-blue'" in failures[0][1], failures[0][1]
    assert "'tims-stack-green'" in failures[0][1], failures[0][1]


def test_the_registered_provider_is_the_namespace_guard(default_run: ProgramRun) -> None:
    """The `__provider` input, unpickled as the host's `get_provider` does (base64, dill)."""
    blob = reveal(guard_of(default_run).inputs)["__provider"]
    provider = dill.loads(base64.b64decode(blob))  # noqa: S301 (our own state)
    result = provider.check({"namespace": "a"}, {"namespace": "b"})
    assert [f.property for f in result.failures] == ["namespace"]


def test_the_override_key_is_in_the_generated_reference() -> None:
    reference = (REPO_ROOT / "docs" / "config.md").read_text(encoding="utf-8")
    assert "allowNamespaceChange" in reference, "docs/config.md lacks allowNamespaceChange"
