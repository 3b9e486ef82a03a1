"""ImageBuild inputs: validation (Check) and the validated `BuildSpec`."""

from __future__ import annotations

import re
import string
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from pulumi.dynamic import CheckFailure

from .base import ImageBuildError
from .registry import IMAGE_FORMAT, ImageRepo

# How the engine marks a value not known yet (e.g. during preview). Pulumi defines it in the
# private module pulumi.runtime.rpc (UNKNOWN, https://github.com/pulumi/pulumi/blob/v3.272.0/
# sdk/python/lib/pulumi/runtime/rpc.py); it is part of the gRPC wire format, so it cannot
# change without breaking every provider. This code is serialized into state and may be loaded
# by a future SDK: it must not import private modules that could move.
UNKNOWN = "04da6b54-80e4-46f7-96ec-b56ff0331ba9"

PLACEHOLDERS = ("ref", "sha", "tag", "environment", "owner", "correlation_id")
DEFAULT_INPUTS: dict[str, str] = {
    "ref": "{ref}",
    "sha": "{sha}",
    "tag": "{tag}",
    "environment": "{environment}",
    "correlation_id": "{correlation_id}",
}
MAX_WORKFLOW_INPUTS = 25  # GitHub's limit for workflow_dispatch inputs
# Same bound as tims-stack:build.timeout (stack/config.py MAX_BUILD_TIMEOUT): GitHub-hosted
# jobs are cancelled after 6 hours, so waiting longer could only wait for a dead run.
MAX_TIMEOUT_SECONDS = 6 * 3600

# A change of these rebuilds the images (Pulumi replaces the resource).
REPLACE_KEYS = ("repository", "workflow", "commitSha", "tag", "inputs", "images")
# These change nothing GitHub holds: they are recorded in place, without a call. `ref` and
# `environment` only feed placeholders; with the same sha and tag the images are the same.
UPDATE_KEYS = ("ref", "environment", "timeoutSeconds", "deleteImagesOnDestroy", "providerVersion")
INPUT_KEYS = REPLACE_KEYS + UPDATE_KEYS
# Set by Check (never by the program) on a replacement that keeps the tag: the new build
# must push its own images instead of taking the old resource's, which its delete removes.
REBUILD_KEY = "rebuild"
OUTPUT_ONLY_KEYS = (
    "runId",
    "runUrl",
    "skipped",
    "requestedSha",
    "imageRepositories",
    "missingImages",
    "ownedImages",
    "unreadImages",
)
PROVIDER_KEY = "__provider"

_REPOSITORY_RE = re.compile(r"^[A-Za-z0-9](?:[A-Za-z0-9-]{0,38})/[A-Za-z0-9._-]{1,100}$")
_WORKFLOW_RE = re.compile(r"^(?:[A-Za-z0-9._-]+\.ya?ml|\d+)$")
# 40 hex only, like the shipped workflow's check: GitHub serves no SHA-256 repositories, and a
# 64-hex sha the workflow then refuses would fail only after the dispatch.
_SHA_RE = re.compile(r"^[0-9a-f]{40}$")
_TAG_RE = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$")
_INPUT_NAME_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_-]*$")
_ENVIRONMENT_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,62}$")


@dataclass(frozen=True)
class BuildSpec:
    """Validated inputs of one ImageBuild."""

    repository: str
    workflow: str
    ref: str
    commit_sha: str
    inputs: dict[str, str]
    images: dict[str, ImageRepo]
    tag: str
    environment: str
    timeout_seconds: int
    rebuild: bool

    @property
    def owner(self) -> str:
        return self.repository.split("/", 1)[0]

    @property
    def uses_correlation_id(self) -> bool:
        return any("correlation_id" in _placeholders(t) for t in self.inputs.values())

    @property
    def passes_sha(self) -> bool:
        """The mapping hands `{sha}` to the workflow, whose contract is to check that commit
        out (the shipped template builds `inputs.sha || inputs.ref`), so the run builds it
        whatever the branch head is."""
        return any("sha" in _placeholders(t) for t in self.inputs.values())

    @classmethod
    def from_props(cls, props: Mapping[str, Any]) -> BuildSpec:
        failures = validate_inputs(props)
        if failures:
            raise ImageBuildError(
                "Invalid ImageBuild inputs: " + "; ".join(f.reason for f in failures)
            )
        return cls(
            repository=props["repository"],
            workflow=props["workflow"],
            ref=props["ref"],
            commit_sha=props["commitSha"],
            inputs=dict(props["inputs"]),
            images={name: ImageRepo.parse(repo) for name, repo in props["images"].items()},
            tag=props["tag"],
            environment=props["environment"],
            timeout_seconds=int(props["timeoutSeconds"]),
            rebuild=bool(props.get(REBUILD_KEY)),
        )


def is_unknown(value: Any) -> bool:
    if value == UNKNOWN:
        return True
    if isinstance(value, Mapping):
        return any(is_unknown(v) for v in value.values())
    if isinstance(value, list | tuple):
        return any(is_unknown(v) for v in value)
    return False


def _placeholders(template: str) -> list[str]:
    """Placeholder names used by a template; raises ValueError on bad syntax."""
    names = []
    for _literal, field, spec, conversion in string.Formatter().parse(template):
        if field is None:
            continue
        if spec or conversion or not field.isidentifier():
            raise ValueError(f"{{{field}}} is not a plain placeholder")
        names.append(field)
    return names


def as_int(value: Any) -> int | None:
    # Pulumi sends every number as a float over gRPC.
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return None


def validate_inputs(props: Mapping[str, Any]) -> list[CheckFailure]:
    """Every problem with the inputs, each saying what is wrong and what is allowed."""
    failures: list[CheckFailure] = []

    def fail(prop: str, reason: str) -> None:
        failures.append(CheckFailure(prop, f"{prop}: {reason}"))

    def text(prop: str) -> str | None:
        value = props.get(prop)
        if is_unknown(value):
            return None
        if not isinstance(value, str) or not value:
            fail(prop, f"must be a non-empty string; got {value!r}")
            return None
        return value

    if (repository := text("repository")) and not _REPOSITORY_RE.match(repository):
        fail(
            "repository", f"must be `owner/name` of the application repository; got {repository!r}"
        )
    if (workflow := text("workflow")) and not _WORKFLOW_RE.match(workflow):
        fail(
            "workflow",
            f"must be the workflow's file name in .github/workflows (e.g. build-images.yml) "
            f"or its numeric id; got {workflow!r}",
        )
    if (ref := text("ref")) and (
        len(ref) > 255
        or ".." in ref
        or ref.startswith(("-", "/"))
        or re.search(r"[\s~^:?*\[\\]", ref)
    ):
        fail("ref", f"must be a branch or tag name; got {ref!r}")
    if (sha := text("commitSha")) and not _SHA_RE.match(sha):
        fail("commitSha", f"must be a full lower-case hex commit sha (40 characters); got {sha!r}")
    if (tag := text("tag")) and not _TAG_RE.match(tag):
        fail(
            "tag",
            "must be a valid image tag: letters, digits, `_`, `.` and `-`, not starting with "
            f"`.` or `-`, at most 128 characters; got {tag!r}",
        )
    if (environment := text("environment")) and not _ENVIRONMENT_RE.match(environment):
        fail(
            "environment",
            f"must be an environment id such as `dev` or `pr-123`; got {environment!r}",
        )

    inputs = props.get("inputs")
    if not is_unknown(inputs):
        if not isinstance(inputs, Mapping):
            fail("inputs", f"must map workflow input names to templates; got {inputs!r}")
        else:
            if len(inputs) > MAX_WORKFLOW_INPUTS:
                fail(
                    "inputs",
                    f"GitHub accepts at most {MAX_WORKFLOW_INPUTS} workflow inputs; "
                    f"got {len(inputs)}",
                )
            used: set[str] = set()
            for name, template in inputs.items():
                if not isinstance(name, str) or not _INPUT_NAME_RE.match(name):
                    fail("inputs", f"{name!r} is not a valid workflow input name")
                    continue
                if not isinstance(template, str):
                    fail(
                        "inputs",
                        f"the value of {name!r} must be a string template; got {template!r}",
                    )
                    continue
                try:
                    names = _placeholders(template)
                except ValueError as exc:
                    fail("inputs", f"the template of {name!r} ({template!r}) is invalid: {exc}")
                    continue
                unknown = sorted(set(names) - set(PLACEHOLDERS))
                if unknown:
                    fail(
                        "inputs",
                        f"the template of {name!r} uses unknown placeholder(s) "
                        f"{', '.join('{' + u + '}' for u in unknown)}; allowed: "
                        f"{', '.join('{' + p + '}' for p in PLACEHOLDERS)} (write {{{{ or }}}} "
                        "for a literal brace)",
                    )
                used.update(names)
            if "tag" not in used:
                fail(
                    "inputs",
                    "no input passes {tag}, so the workflow cannot tag the images with the tag "
                    "this deployment pulls; map the workflow's tag input to '{tag}'",
                )

    images = props.get("images")
    if not is_unknown(images):
        if not isinstance(images, Mapping) or not images:
            fail(
                "images",
                f"must map image names to ghcr.io repositories (or containers.<GHES host>); "
                f"got {images!r}",
            )
        else:
            for name, repo in images.items():
                try:
                    ImageRepo.parse(repo)
                except ImageBuildError:
                    fail(
                        "images",
                        f"image {name!r}: {repo!r} is not {IMAGE_FORMAT} in lower case "
                        "without a tag (the tag comes from `tag`)",
                    )

    timeout = props.get("timeoutSeconds")
    if not is_unknown(timeout):
        seconds = as_int(timeout)
        if seconds is None or not 1 <= seconds <= MAX_TIMEOUT_SECONDS:
            fail(
                "timeoutSeconds",
                f"must be a whole number of seconds from 1 to {MAX_TIMEOUT_SECONDS}; "
                f"got {timeout!r}",
            )
    delete = props.get("deleteImagesOnDestroy")
    if not is_unknown(delete) and not isinstance(delete, bool):
        fail("deleteImagesOnDestroy", f"must be true or false; got {delete!r}")
    return failures


def expand_inputs(templates: Mapping[str, str], values: Mapping[str, str]) -> dict[str, str]:
    """Workflow inputs with placeholders filled in (only the inputs the mapping names)."""
    return {name: template.format_map(values) for name, template in templates.items()}


def normalized(value: Any) -> Any:
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, Mapping):
        return {k: normalized(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [normalized(v) for v in value]
    return value


def old_input(olds: Mapping[str, Any], key: str) -> Any:
    # Outputs reuse two input names with other values; the inputs are kept under other names.
    if key == "commitSha" and "requestedSha" in olds:
        return olds["requestedSha"]
    if key == "images" and "imageRepositories" in olds:
        return olds["imageRepositories"]
    return olds.get(key)


def changed(old: Any, new: Any) -> bool:
    return is_unknown(new) or normalized(old) != normalized(new)
