"""Through the real provider host: `python -m pulumi.dynamic` driven over gRPC as Pulumi does.

This path catches what in-process tests cannot: pickling of the provider, the
config the host hands to `configure()`, numbers arriving as floats, errors
travelling as gRPC statuses, stdout reaching the CLI. The host runs in a
directory whose `components` package cannot be imported, so the provider can
only work from the code serialized into its properties.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

import grpc
import pytest
from pulumi.dynamic.dynamic import serialize_provider
from pulumi.runtime import rpc
from pulumi.runtime.proto import provider_pb2

from components.images.imagebuild.provider import ImageBuildProvider
from tests.github.emulator import GitHubEmulator, RunPlan
from tests.provider.conftest import (
    APP_REPO,
    PUSH,
    TAG,
    WORKFLOW_FILE,
    ProviderHost,
    base_props,
)

URN = "urn:pulumi:dev::tims-stack::pulumi-python:dynamic/tims-stack:ImageBuild::images"


def struct(props: dict[str, Any]) -> Any:
    """A protobuf Struct, serialized as the SDK serializes resource properties."""
    # A private loop, as the provider host does: asyncio.run() would leave the main
    # thread without a current loop, which breaks later Pulumi mocks tests.
    loop = asyncio.new_event_loop()
    try:
        return loop.run_until_complete(rpc.serialize_properties(props, {}))
    finally:
        loop.close()


def plain(message: Any) -> dict[str, Any]:
    return dict(rpc.deserialize_properties(message))


def configure(host: ProviderHost, emulator: GitHubEmulator) -> None:
    # Pulumi sends dynamic providers the whole stack config, namespaced, secrets marked.
    config = {
        "github:token": rpc.wrap_rpc_secret(emulator.token),
        "github:baseUrl": emulator.base_url,
        "tims-stack:environment": "dev",
    }
    host.stub.Configure(
        provider_pb2.ConfigureRequest(args=struct(config), acceptSecrets=True, acceptResources=True)
    )


def check(host: ProviderHost, emulator: GitHubEmulator, olds: Any = None, **overrides: Any) -> Any:
    # Exactly what pulumi.dynamic.Resource sends: the inputs plus the serialized provider,
    # here one whose registry requests for ghcr.io go to the emulator.
    provider = ImageBuildProvider(registry_urls={"ghcr.io": emulator.registry_url})
    news = {**base_props(**overrides), "__provider": serialize_provider(provider)}
    return host.stub.Check(
        provider_pb2.CheckRequest(urn=URN, olds=olds or struct({}), news=struct(news))
    )


def test_host_creates_a_build_and_shows_its_progress(
    provider_host: ProviderHost, real_emulator: GitHubEmulator
) -> None:
    real_emulator.plan_next_run(
        APP_REPO, WORKFLOW_FILE, RunPlan(duration=1.5, queued_for=0.3, push=dict(PUSH))
    )
    configure(provider_host, real_emulator)
    checked = check(provider_host, real_emulator)
    assert list(checked.failures) == []
    created = provider_host.stub.Create(
        provider_pb2.CreateRequest(urn=URN, properties=checked.inputs)
    )
    outs = plain(created.properties)
    run = real_emulator.runs(APP_REPO)[0]
    assert outs["runId"] == run["id"], "the host returned the dispatched run's id"
    assert outs["images"]["backend"] == f"ghcr.io/acme/app-backend:{TAG}"
    assert outs["skipped"] is False
    assert "__provider" in outs, "the host keeps the serialized provider in state"
    assert any(run["html_url"] in line for line in provider_host.stdout), (
        f"the run URL must reach the host's stdout (the Pulumi CLI): {provider_host.stdout}"
    )


def test_host_create_failure_reaches_the_grpc_status(
    provider_host: ProviderHost, real_emulator: GitHubEmulator
) -> None:
    real_emulator.plan_next_run(
        APP_REPO,
        WORKFLOW_FILE,
        RunPlan(
            duration=1.0,
            queued_for=0.2,
            conclusion="failure",
            failed_jobs={"build (backend)": ["Build and push"]},
        ),
    )
    configure(provider_host, real_emulator)
    checked = check(provider_host, real_emulator)
    with pytest.raises(grpc.RpcError) as error:
        provider_host.stub.Create(provider_pb2.CreateRequest(urn=URN, properties=checked.inputs))
    details = error.value.details()
    assert "build (backend)" in details, details
    assert "'Build and push'" in details, details
    assert real_emulator.runs(APP_REPO)[0]["html_url"] in details, details
    assert real_emulator.token not in details


def test_host_check_returns_failures_for_bad_inputs(
    provider_host: ProviderHost, real_emulator: GitHubEmulator
) -> None:
    configure(provider_host, real_emulator)
    checked = check(provider_host, real_emulator, repository="not a repo", timeoutSeconds=-1.0)
    assert sorted(f.property for f in checked.failures) == ["repository", "timeoutSeconds"]
    assert real_emulator.requests == [], "check calls nothing"


def test_host_no_change_diff_costs_no_call_and_a_skipped_build_deletes_nothing(
    provider_host: ProviderHost, real_emulator: GitHubEmulator
) -> None:
    # The images exist already, so create takes the skip path: quick, and a real state.
    real_emulator.add_package("acme", "app-backend", [[TAG], ["staging-1"]])
    real_emulator.add_package("acme", "app-frontend", [[TAG]])
    configure(provider_host, real_emulator)
    checked = check(provider_host, real_emulator)
    created = provider_host.stub.Create(
        provider_pb2.CreateRequest(urn=URN, properties=checked.inputs)
    )
    assert plain(created.properties)["skipped"] is True

    before = len(real_emulator.requests)
    again = check(provider_host, real_emulator)
    diff = provider_host.stub.Diff(
        provider_pb2.DiffRequest(id=created.id, urn=URN, olds=created.properties, news=again.inputs)
    )
    assert diff.changes == provider_pb2.DiffResponse.DIFF_NONE
    assert len(real_emulator.requests) == before, "a no-change up makes zero GitHub calls"

    provider_host.stub.Delete(
        provider_pb2.DeleteRequest(id=created.id, urn=URN, properties=created.properties)
    )
    assert real_emulator.package_versions("acme", "app-backend") == [[TAG], ["staging-1"]], (
        "a create that found the images owns none of them: destroy must keep them"
    )
    assert real_emulator.package_versions("acme", "app-frontend") == [[TAG]]


def test_host_replacement_keeping_the_tag_builds_first_and_the_old_delete_keeps_the_new(
    provider_host: ProviderHost, real_emulator: GitHubEmulator
) -> None:
    for _ in range(2):
        real_emulator.plan_next_run(
            APP_REPO, WORKFLOW_FILE, RunPlan(duration=1.0, queued_for=0.2, push=dict(PUSH))
        )
    configure(provider_host, real_emulator)
    first = check(provider_host, real_emulator)
    old = provider_host.stub.Create(provider_pb2.CreateRequest(urn=URN, properties=first.inputs))
    old_digest = plain(old.properties)["ownedImages"]["backend"][0]

    # The workflow inputs change, the tag stays: a replacement.
    news = check(
        provider_host, real_emulator, olds=first.inputs, inputs={"tag": "{tag}", "sha": "{sha}"}
    )
    assert plain(news.inputs)["rebuild"] is True
    diff = provider_host.stub.Diff(
        provider_pb2.DiffRequest(id=old.id, urn=URN, olds=old.properties, news=news.inputs)
    )
    assert list(diff.replaces) == ["inputs"]
    assert diff.deleteBeforeReplace is False, "the engine must create the new build first"

    new = provider_host.stub.Create(provider_pb2.CreateRequest(urn=URN, properties=news.inputs))
    new_outs = plain(new.properties)
    assert new_outs["skipped"] is False, "the images existed, yet the replacement built its own"
    provider_host.stub.Delete(
        provider_pb2.DeleteRequest(id=old.id, urn=URN, properties=old.properties)
    )
    left = real_emulator.package_digests("acme", "app-backend")
    assert old_digest not in left, "the old build's own version is deleted"
    assert left == {new_outs["ownedImages"]["backend"][0]: [TAG]}, (
        f"ghcr.io/acme/app-backend:{TAG} must still pull the new build's image: {left}"
    )


def test_host_destroy_keeps_the_same_tag_another_stack_pushed(
    provider_host: ProviderHost, real_emulator: GitHubEmulator
) -> None:
    real_emulator.plan_next_run(
        APP_REPO, WORKFLOW_FILE, RunPlan(duration=1.0, queued_for=0.2, push=dict(PUSH))
    )
    configure(provider_host, real_emulator)
    checked = check(provider_host, real_emulator)
    ours = provider_host.stub.Create(provider_pb2.CreateRequest(urn=URN, properties=checked.inputs))
    # Another person's `dev` stack (own state backend) builds the same commit: same tag.
    real_emulator.start_foreign_run(
        APP_REPO,
        WORKFLOW_FILE,
        RunPlan(duration=0.2, queued_for=0.1, push=dict(PUSH)),
        {"ref": "main", "tag": TAG, "correlation_id": "other-stack"},
    )
    time.sleep(0.5)
    theirs = {d for d, t in real_emulator.package_digests("acme", "app-backend").items() if t}
    provider_host.stub.Delete(
        provider_pb2.DeleteRequest(id=ours.id, urn=URN, properties=ours.properties)
    )
    left = real_emulator.package_digests("acme", "app-backend")
    assert plain(ours.properties)["ownedImages"]["backend"][0] not in left
    assert {d for d, t in left.items() if t} == theirs, (
        f"our destroy must keep the other stack's ghcr.io/acme/app-backend:{TAG}: {left}"
    )
