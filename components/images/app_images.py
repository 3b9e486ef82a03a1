"""Where the backend and frontend images come from: an ImageBuild, or prebuilt tags."""

from __future__ import annotations

from dataclasses import dataclass

import pulumi
import pulumi_github

from components.images.image_build import ImageBuild, ImageBuildArgs
from components.images.names import prebuilt_images, provider_base_url, split_repository
from stack.config import BuildConfig, GitHubConfig, ImagesConfig
from stack.naming import image_tag


@dataclass(frozen=True)
class AppImagesArgs:
    environment: str
    """Environment id: part of the build's tag and of its messages."""
    images: ImagesConfig
    """Source (build or prebuilt), repositories, prebuilt tag."""
    build: BuildConfig
    """Repository, workflow, ref, inputs, timeout; used in build mode."""
    github: GitHubConfig
    """API URL for the ref lookup."""
    token: pulumi.Input[str] | None
    """Secret GitHub token; config guarantees one in build mode."""


class AppImages(pulumi.ComponentResource):
    """Image references for the workloads, which in build mode depend on the build."""

    backend: pulumi.Output[str]
    """Full reference `repository:tag`."""
    frontend: pulumi.Output[str]
    run_url: pulumi.Output[str] | None
    """The build's workflow run (build mode only)."""

    def __init__(
        self, name: str, args: AppImagesArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        super().__init__("tims-stack:images:AppImages", name, None, opts)
        self.run_url = None
        if args.images.source == "prebuilt":
            refs = prebuilt_images(args.images)
            self.backend = pulumi.Output.from_input(refs["backend"])
            self.frontend = pulumi.Output.from_input(refs["frontend"])
        else:
            build = self._build(name, args)
            # Taken from the build's outputs, so the workloads wait for the images.
            self.backend = build.images.apply(lambda images: images["backend"])
            self.frontend = build.images.apply(lambda images: images["frontend"])
            self.run_url = build.run_url
        self.register_outputs(
            {"backend": self.backend, "frontend": self.frontend, "runUrl": self.run_url}
        )

    def _build(self, name: str, args: AppImagesArgs) -> ImageBuild:
        # Config refuses build mode without a repository or a token; say so if that broke.
        if args.build.repository is None or args.token is None:
            raise ValueError("build mode needs tims-stack:build.repository and github:token")
        child = pulumi.ResourceOptions(parent=self)
        owner, repo = split_repository(args.build.repository)
        github = pulumi_github.Provider(
            "github",
            owner=owner,
            token=args.token,
            base_url=provider_base_url(args.github.base_url),
            opts=child,
        )
        lookup = pulumi.InvokeOutputOptions(provider=github, parent=self)
        # Config allows only a branch name or refs/tags/<name> (a sha cannot be dispatched).
        # getBranch cannot see tags; getRef gives a lightweight tag's commit (an annotated
        # tag's object sha, see Pulumi.yaml).
        commit_sha: pulumi.Output[str] = (
            pulumi_github.get_ref_output(
                owner=owner, repository=repo, ref=f"tags/{args.build.tag}", opts=lookup
            ).sha
            if args.build.tag is not None
            else pulumi_github.get_branch_output(
                repository=repo, branch=args.build.ref, opts=lookup
            ).sha
        )
        environment = args.environment
        return ImageBuild(
            name,
            ImageBuildArgs(
                repository=args.build.repository,
                workflow=args.build.workflow,
                # GitHub's documented dispatch ref is a branch or tag *name*.
                ref=args.build.tag or args.build.ref,
                commit_sha=commit_sha,
                inputs=dict(args.build.inputs),
                images={"backend": args.images.backend, "frontend": args.images.frontend},
                tag=commit_sha.apply(lambda sha: image_tag(environment, sha)),
                environment=environment,
                timeout_seconds=args.build.timeout,
                delete_images_on_destroy=args.build.delete_images_on_destroy,
            ),
            child,
        )
