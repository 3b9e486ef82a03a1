"""`ImageBuild`: images built by a GitHub Actions workflow, as a Pulumi resource.

INTERFACE SKELETON (integration contract between helpers). The program wires
`ImageBuild(name, ImageBuildArgs(...), opts)` and reads the typed outputs
below. The provider implementation lives in `components/image_build_provider.py`.

Output property names in state are camelCase: runId, runUrl, commitSha, tag,
images, skipped.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import pulumi
import pulumi.dynamic

from components.image_build_provider import PROVIDER_VERSION, ImageBuildProvider


@dataclass(frozen=True)
class ImageBuildArgs:
    """Inputs of one image build. No credentials here: they come from provider config."""

    repository: pulumi.Input[str]
    """Application repository, `owner/name`."""
    workflow: pulumi.Input[str]
    """Workflow file name in that repository, e.g. `build-images.yml`."""
    ref: pulumi.Input[str]
    """Branch or tag the workflow is dispatched on."""
    commit_sha: pulumi.Input[str]
    """The sha `ref` resolved to when the program ran; a change forces a rebuild."""
    inputs: pulumi.Input[Mapping[str, str]]
    """Workflow inputs, placeholders ({ref}, {sha}, {tag}, {environment}, {owner}) unexpanded."""
    images: pulumi.Input[Mapping[str, str]]
    """Image name -> repository without tag, e.g. {"backend": "ghcr.io/acme/x-backend"}."""
    tag: pulumi.Input[str]
    """Tag every image gets, unique per environment and commit."""
    environment: pulumi.Input[str]
    """Environment id, for the `{environment}` placeholder and messages."""
    timeout_seconds: pulumi.Input[int]
    """Provider-side deadline; past it the run is cancelled."""
    delete_images_on_destroy: pulumi.Input[bool]
    """Whether `pulumi destroy` deletes this build's image versions from GHCR."""


class ImageBuild(pulumi.dynamic.Resource, module="tims-stack", name="ImageBuild"):
    """Type token: `pulumi-python:dynamic/tims-stack:ImageBuild`."""

    run_id: pulumi.Output[int]
    run_url: pulumi.Output[str]
    commit_sha: pulumi.Output[str]
    tag: pulumi.Output[str]
    images: pulumi.Output[dict[str, str]]
    """Image name -> full reference `repository:tag`."""
    skipped: pulumi.Output[bool]
    """True when every image already had the tag and no workflow ran."""

    def __init__(
        self,
        name: str,
        args: ImageBuildArgs,
        opts: pulumi.ResourceOptions | None = None,
    ) -> None:
        props: dict[str, Any] = {
            "repository": args.repository,
            "workflow": args.workflow,
            "ref": args.ref,
            "commitSha": args.commit_sha,
            "inputs": args.inputs,
            "images": args.images,
            "tag": args.tag,
            "environment": args.environment,
            "timeoutSeconds": args.timeout_seconds,
            "deleteImagesOnDestroy": args.delete_images_on_destroy,
            "providerVersion": PROVIDER_VERSION,
            # Outputs, declared so the SDK exposes them as attributes.
            "runId": None,
            "runUrl": None,
            "skipped": None,
        }
        super().__init__(ImageBuildProvider(), name, props, opts)
