"""The ImageBuild resource as the program registers it (Pulumi mocks, no engine)."""

from __future__ import annotations

import asyncio
from typing import Any

import pulumi
import pytest
from pulumi.runtime import rpc

from components.images.image_build import ImageBuild, ImageBuildArgs
from components.images.imagebuild.provider import PROVIDER_VERSION
from tests.provider.conftest import IMAGES, MAIN_SHA, TAG


class RecordingMocks(pulumi.runtime.Mocks):
    def __init__(self) -> None:
        self.registered: list[pulumi.runtime.MockResourceArgs] = []

    def new_resource(
        self, args: pulumi.runtime.MockResourceArgs
    ) -> tuple[str | None, dict[str, Any]]:
        self.registered.append(args)
        return f"{args.name}-id", dict(args.inputs)

    def call(
        self, args: pulumi.runtime.MockCallArgs
    ) -> tuple[dict[str, Any], list[tuple[str, str]] | None]:
        return {}, None


@pytest.fixture
def mocks() -> RecordingMocks:
    # set_mocks needs a current event loop; an earlier asyncio.run() may have left none.
    # The new loop stays current afterwards, as the main thread's default loop would.
    asyncio.set_event_loop(asyncio.new_event_loop())
    recording = RecordingMocks()
    pulumi.runtime.set_mocks(recording, project="tims-stack", stack="dev", preview=False)
    return recording


@pulumi.runtime.test  # type: ignore[untyped-decorator]  # the SDK's decorator is untyped
def test_image_build_registers_its_type_token_inputs_and_serialized_provider(
    mocks: RecordingMocks,
) -> pulumi.Output[None]:
    build = ImageBuild(
        "images",
        ImageBuildArgs(
            repository="acme/app",
            workflow="build-images.yml",
            ref="main",
            commit_sha=MAIN_SHA,
            inputs={"tag": "{tag}"},
            images=IMAGES,
            tag=TAG,
            environment="dev",
            timeout_seconds=1800,
            delete_images_on_destroy=True,
        ),
    )

    def verify(_: Any) -> None:
        (registered,) = mocks.registered
        assert registered.typ == "pulumi-python:dynamic/tims-stack:ImageBuild"
        inputs = registered.inputs
        assert inputs["providerVersion"] == PROVIDER_VERSION, "fixes roll out as an update"
        assert inputs["commitSha"] == MAIN_SHA
        provider = inputs["__provider"]
        assert rpc.is_rpc_secret(provider), "the serialized provider is stored as a secret"
        assert isinstance(rpc.unwrap_rpc_secret(provider), str), "serialized into state"
        assert not {k for k in inputs if "token" in k.lower() or "url" in k.lower()} - {"runUrl"}, (
            f"no credential-like input may exist: {sorted(inputs)}"
        )

    return build.urn.apply(verify)
