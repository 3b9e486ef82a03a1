"""What the registry holds for a build: its images' digests before and after the run.

The registry answers (no rate limit); when it cannot (unreachable, not our token's to
read), the Packages API is asked instead, at the cost of rate-limited requests.
"""

from __future__ import annotations

from collections.abc import Callable

from .base import Clock, GitHubApiError, ImageBuildError
from .packages import Packages
from .registry import ImageRepo, Registry, RegistryError
from .runs import PollPolicy
from .spec import BuildSpec


class BuildImages:
    """The images of one build, looked up in the registry (see the module docstring)."""

    def __init__(
        self,
        spec: BuildSpec,
        registry: Registry,
        packages: Packages,
        *,
        clock: Clock,
        poll: PollPolicy,
        say: Callable[[str], None],
    ) -> None:
        self._spec = spec
        self._registry = registry
        self._packages = packages
        self._clock = clock
        self._poll = poll
        self._say = say

    def tag_digest(
        self,
        image: ImageRepo,
        deadline: float,
    ) -> str | None:
        """Digest of the tag: the registry first; if it cannot answer, the Packages API."""
        try:
            return self._registry.digest(image, self._spec.tag, deadline=deadline)
        except RegistryError as exc:
            if exc.denied:
                raise
            self._say(f"{exc}; asking the Packages API instead")
        return self._packages.digest_of_tag(image, self._spec.tag, deadline=deadline)

    def _image_digests(
        self,
        image: ImageRepo,
        deadline: float,
    ) -> list[str]:
        try:
            return self._registry.image_digests(image, self._spec.tag, deadline=deadline)
        except RegistryError as exc:
            if exc.denied:
                raise
            self._say(f"{exc}; asking the Packages API instead")
        digest = self._packages.digest_of_tag(image, self._spec.tag, deadline=deadline)
        return [digest] if digest else []

    def before_build(
        self,
        deadline: float,
    ) -> dict[str, str | None]:
        """Digest of each image's tag (None: absent). Every image is asked, even after one
        is absent: a run may push again a digest the tag already had (a reproducible build),
        and only this record tells it from one the run pushed first (registry answers cost
        no rate limit)."""
        found: dict[str, str | None] = {}
        try:
            for name, image in self._spec.images.items():
                found[name] = self.tag_digest(image, deadline)
        except (GitHubApiError, RegistryError) as exc:
            if getattr(exc, "status", 0) not in (401, 403):
                raise
            self._say(
                f"WARNING: cannot read the images with this token ({exc}), so existing images "
                "cannot be reused; building. Give the token `read:packages`.",
            )
            return {name: None for name in self._spec.images}
        return found

    def pushed(
        self,
        run_url: str,
        deadline: float,
    ) -> dict[str, list[str]] | None:
        """Digests of each pushed image (its index first, then the manifests it lists); an
        error naming those missing after a few looks; None when the token cannot read them."""
        found: dict[str, list[str]] = {}
        for attempt in range(self._poll.verify_attempts):
            if attempt:
                self._clock.sleep(self._poll.verify_interval)
            try:
                for name, image in self._spec.images.items():
                    found[name] = found.get(name) or self._image_digests(image, deadline)
            except (GitHubApiError, RegistryError) as exc:
                if getattr(exc, "status", 0) not in (401, 403):
                    raise
                self._say(
                    f"WARNING: cannot read the images with this token ({exc}), so the pushed "
                    "images are not checked, and `pulumi destroy` will not know them to delete. "
                    "Give the token `read:packages`.",
                )
                return None
            if all(found.values()):
                return found
        refs = ", ".join(
            f"{self._spec.images[name].repository}:{self._spec.tag}"
            for name, d in found.items()
            if not d
        )
        raise ImageBuildError(
            f"The workflow run {run_url} succeeded, but the registry has no {refs}. Check that "
            "the workflow pushes to exactly the repositories in tims-stack:images.backend and "
            "tims-stack:images.frontend and tags them with the tag input it receives "
            "(tims-stack:build.inputs)."
        )
