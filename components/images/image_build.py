"""`ImageBuild`: images built by a GitHub Actions workflow, as a Pulumi resource.

The program wires `ImageBuild(name, ImageBuildArgs(...), opts)` and reads the
typed outputs below. The provider (create/diff/read/delete) lives in
`components/images/imagebuild/` (see docs/imagebuild.md).

Output property names in state are camelCase: runId, runUrl, commitSha,
requestedSha, tag, images, imageRepositories, skipped, missingImages,
ownedImages. The
inputs are recorded in the outputs too (the provider diffs against them).
Credentials never pass through here: the provider reads `github:token` (or the
GITHUB_TOKEN environment variable) and `github:baseUrl` in `configure()`.

What the workflow must do
-------------------------
- Declare every input `build.inputs` names under `on.workflow_dispatch.inputs`
  (GitHub answers 422 to any other). The default mapping sends ref, sha, tag,
  environment and correlation_id.
- Echo the correlation id in its run name, e.g.
  `run-name: Build ${{ inputs.tag }} [${{ inputs.correlation_id }}]`. github.com
  returns the run id with the dispatch, but servers without `return_run_details`
  (GitHub Enterprise Server 3.20 and older) do not: the provider then finds the
  run whose title carries the id it generated, never "the newest run".
- Tag the images it pushes to `images` with the `tag` input: the provider checks
  GHCR for them after a successful run, and reuses them (no build) when they exist.

The seed's `build_images_push.yaml` takes `branch`, `git_user` and `unique_id`:
map `{"branch": "{ref}", "git_user": "{owner}", "unique_id": "{tag}"}`. It has no
correlation input, so it works only where the server returns run details.

After an interrupted `pulumi up`
--------------------------------
Pulumi neither applies customTimeouts to Python dynamic providers nor tells them
about Ctrl-C; `timeoutSeconds` is the provider's own deadline. If `up` was killed
while waiting, the run may still be going: run `pulumi refresh`, then find the
run (its URL was printed first) and cancel it if needed before the next `up`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import pulumi
import pulumi.dynamic

from components.images.imagebuild.provider import PROVIDER_VERSION, ImageBuildProvider


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
    """The full 40-hex sha `ref` resolved to when the program ran; a change forces a rebuild."""
    inputs: pulumi.Input[Mapping[str, str]]
    """Workflow inputs, placeholders ({ref}, {sha}, {tag}, {environment}, {owner}) unexpanded."""
    images: pulumi.Input[Mapping[str, str]]
    """Image name -> repository without tag, e.g. {"backend": "ghcr.io/acme/x-backend"}."""
    tag: pulumi.Input[str]
    """Tag every image gets, unique per environment and commit."""
    environment: pulumi.Input[str]
    """Environment id, for the `{environment}` placeholder and messages."""
    timeout_seconds: pulumi.Input[int]
    """Provider-side deadline, 1 to 21600 s (GitHub's 6-hour job limit); past it the run is
    cancelled."""
    delete_images_on_destroy: pulumi.Input[bool]
    """Whether `pulumi destroy` deletes this build's image versions from GHCR."""


class ImageBuild(pulumi.dynamic.Resource, module="tims-stack", name="ImageBuild"):
    """Type token: `pulumi-python:dynamic/tims-stack:ImageBuild`."""

    tag: pulumi.Output[str]
    images: pulumi.Output[dict[str, str]]
    """Image name -> full reference `repository:tag`."""
    skipped: pulumi.Output[bool]
    """True when every image already had the tag and no workflow ran (runId 0, runUrl "")."""

    # A dynamic resource gets one attribute per state property, spelled as in
    # state (`runUrl`). These properties give the camelCase ones Python names
    # without translate_*_property hooks, which would also rewrite the keys of
    # nested maps such as the user's workflow `inputs`.
    def _state(self, key: str) -> pulumi.Output[Any]:
        value: pulumi.Output[Any] = self.__dict__[key]
        return value

    @property
    def run_id(self) -> pulumi.Output[int]:
        """The workflow run's id (0 when the build was skipped)."""
        return self._state("runId")

    @property
    def run_url(self) -> pulumi.Output[str]:
        """The workflow run's html URL ("" when the build was skipped)."""
        return self._state("runUrl")

    @property
    def commit_sha(self) -> pulumi.Output[str]:
        """The sha the run really built: the requested sha when `inputs` passes `{sha}` (the
        workflow checks it out), else the head of `ref` the run started from."""
        return self._state("commitSha")

    @property
    def requested_sha(self) -> pulumi.Output[str]:
        """The sha the program asked for; differs from `commit_sha` only when no `{sha}` is
        passed and the branch moved before the dispatch."""
        return self._state("requestedSha")

    @property
    def image_repositories(self) -> pulumi.Output[dict[str, str]]:
        """Image name -> repository without tag (the `images` input)."""
        return self._state("imageRepositories")

    @property
    def missing_images(self) -> pulumi.Output[list[str]]:
        """Images a refresh found without the tag; the next `pulumi up` rebuilds them."""
        return self._state("missingImages")

    @property
    def owned_images(self) -> pulumi.Output[dict[str, list[str]]]:
        """Image name -> digests this build's run pushed (empty when skipped): all that
        `pulumi destroy` deletes (see docs/imagebuild.md)."""
        return self._state("ownedImages")

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
            "requestedSha": None,
            "imageRepositories": None,
            "missingImages": None,
            "ownedImages": None,
        }
        super().__init__(ImageBuildProvider(), name, props, opts)
