"""Where the images come from: `tims-stack:images` resolved against build and github:owner.

Defaults depend on other keys (source from build.repository, repositories
from github:owner or the repository's owner, private from source), so this
runs after each key was validated on its own.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Literal

from pydantic import BaseModel, ConfigDict

from stack import rules
from stack.contract import GHCR, NS, PROJECT
from stack.errors import Reporter
from stack.models import BuildConfig, ImagesSettings


class _Resolved(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class ImagesConfig(_Resolved):
    """`tims-stack:images`, resolved: source and repositories always set."""

    source: Literal["build", "prebuilt"]
    backend: str  # repository without tag, e.g. ghcr.io/acme/tims-stack-backend-image-prod
    frontend: str
    tag: str | None = None  # prebuilt only
    private: bool = False


@dataclass
class Judging:
    """One parse under way: the reporter, non-fatal notes, and the error paths found."""

    report: Reporter
    notes: list[str] = field(default_factory=list)
    broken: set[str] = field(default_factory=set)
    """Dotted paths (`build.ref`, `github:owner`) that had an error or were not judged."""

    def hit(self, path: str) -> bool:
        """Whether `path` (or an object holding it, or a field in it) had an error."""
        return any(
            b == path or path.startswith(b + ".") or b.startswith(path + ".") for b in self.broken
        )


def resolve_images(
    s: ImagesSettings, build: BuildConfig, owner: str | None, base_url: str, run: Judging
) -> ImagesConfig | None:
    if run.hit("images.source"):
        return None
    repo_broken = run.hit("build.repository")
    source = s.source or ("build" if build.repository or repo_broken else "prebuilt")
    if source == "build" and not build.repository and not repo_broken:
        run.report.add(
            NS + "build.repository",
            "is required with images.source 'build': the application repository 'owner/name' "
            "whose workflow builds the images",
            value_free=True,
        )
    repos = _repositories(s, build, owner, repo_broken, run)
    private = s.private if s.private is not None else source == "build"
    _check_registry(repos, source, private, rules.github_registry_hosts(base_url), run)
    key = NS + "images.tag"
    if s.tag is not None and source == "build":
        run.report.add(
            key,
            f"got {run.report.show(key, s.tag)}, which is not allowed with source 'build': "
            "the build tags images <environment>-<sha12>",
            allowed="no images.tag with source 'build' (the build tags images itself)",
        )
    elif s.tag is None and source == "prebuilt" and not run.hit("images.tag"):
        run.report.add(
            key,
            "is required with source 'prebuilt': the tag both images are deployed at",
            value_free=True,
        )
    if len(repos) != 2:
        return None
    tag = s.tag if source == "prebuilt" else None
    return ImagesConfig(source=source, tag=tag, private=private, **repos)


def _repositories(
    s: ImagesSettings, build: BuildConfig, owner: str | None, repo_broken: bool, run: Judging
) -> dict[str, str]:
    registry_owner = (owner or build.owner or "").lower() or None
    repos: dict[str, str] = {}
    for image in ("backend", "frontend"):
        key = f"{NS}images.{image}"
        given: str | None = getattr(s, image)
        if given is not None:
            repos[image] = given
        elif run.hit(f"images.{image}"):
            continue
        elif registry_owner:
            repos[image] = f"{GHCR}/{registry_owner}/{PROJECT}-{image}-image-prod"
        elif not run.hit("github:owner") and not repo_broken:
            run.report.add(
                key,
                "has no default because neither github:owner nor build.repository is set; "
                f"set {key} (e.g. ghcr.io/acme/{PROJECT}-{image}-image-prod) or github:owner",
                value_free=True,
            )
    return repos


def _check_registry(
    repos: Mapping[str, str], source: str, private: bool, hosts: tuple[str, ...], run: Judging
) -> None:
    """Built and private images must be on a registry of the configured GitHub: the workflow
    pushes there, destroy deletes there, and the pull secret logs in there."""
    where = " or ".join(hosts)
    for image, repo in repos.items():
        key = f"{NS}images.{image}"
        if repo.split("/", 1)[0] in hosts:
            continue
        if source == "build":
            why, allowed = (
                f"with source 'build' images go to {where} (the workflow pushes there and "
                "destroy deletes them there)",
                f"a repository on {where} with source 'build'",
            )
        elif private:
            why, allowed = (
                f"private images must be on {where} (the pull secret is for {where})",
                f"a repository on {where} for private images",
            )
        else:
            continue
        run.report.add(key, f"got {run.report.show(key, repo)}; {why}", allowed=allowed)


def template_push_mismatches(build: BuildConfig, images: ImagesConfig) -> list[str]:
    """Notes for images the shipped workflow template would not push where ImageBuild looks.

    templates/github/build-images.yml pushes to
    ghcr.io/<repository owner>/tims-stack-<image>-image-prod. A note, not an
    error: a user may have edited the copy in their repository.
    """
    template = BuildConfig()
    if (
        images.source != "build"
        or build.owner is None
        or build.workflow != template.workflow
        or build.inputs != template.inputs
    ):
        return []
    notes = []
    for image, repo in (("backend", images.backend), ("frontend", images.frontend)):
        pushed = f"{GHCR}/{build.owner.lower()}/{PROJECT}-{image}-image-prod"
        if repo != pushed:
            notes.append(
                f"{NS}images.{image} is {repo}, but the shipped workflow template pushes to "
                f"{pushed}: ImageBuild would fail after the build, not finding the image; edit "
                "the image name in your copy of the workflow or remove the setting"
            )
    return notes
