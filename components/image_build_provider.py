"""The ImageBuild dynamic provider: build images in GitHub Actions, wait, clean GHCR on destroy.

Lifecycle (see `ImageBuildProvider`):

- create: skip when every image already has the tag in GHCR; else dispatch the
  workflow, identify *our* run (run details from the dispatch answer, else an
  exact correlation id echoed in the run's name), poll it with jittered backoff
  and ETags until it completes or the deadline passes (then cancel it), name
  the failed jobs and steps on failure, and check the images were pushed.
- diff/update/check: local only, no GitHub call.
- read (refresh): reports images that no longer carry the tag in `missingImages`;
  the next diff then asks for a replacement, which rebuilds them.
- delete: remove only the package versions whose tags all belong to this build, always
  version by version; the package itself only after GitHub refuses to delete its last tagged
  version and a fresh listing shows no other tagged version.

Serialization: `pulumi destroy` runs the provider serialized into state at
create time. dill would pickle this class by reference (an import path; see
https://github.com/pulumi/pulumi/issues/7453), so destroy would run whatever
`components/` holds then, or fail if it is not importable. `__reduce__` ships
the source of this module and of `github_client` instead; loading rebuilds them
in a private module namespace. Only the standard library and third-party
packages (pulumi, httpx, tenacity) are imported normally; this module must only
import its sibling `github_client`, relatively.

`PROVIDER_VERSION` must change with every change to either module's source (a test pins
their sha256 per version), so existing stacks pick up the new code by an in-place update.

Credentials come only from `configure()` (`github:token` or GITHUB_TOKEN, and
`github:baseUrl`). Nothing configured is ever put in outputs or serialized.
"""

from __future__ import annotations

import os
import random
import re
import string
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
from pulumi.dynamic import (
    CheckFailure,
    CheckResult,
    ConfigureRequest,
    CreateResult,
    DiffResult,
    ReadResult,
    ResourceProvider,
    UpdateResult,
)

from . import github_client as gh

# How the engine marks a value not known yet (e.g. during preview). Pulumi defines it in the
# private module pulumi.runtime.rpc (UNKNOWN, https://github.com/pulumi/pulumi/blob/v3.272.0/
# sdk/python/lib/pulumi/runtime/rpc.py); it is part of the gRPC wire format, so it cannot
# change without breaking every provider. This code is serialized into state and may be loaded
# by a future SDK: it must not import private modules that could move.
UNKNOWN = "04da6b54-80e4-46f7-96ec-b56ff0331ba9"

PROVIDER_VERSION = "2"
"""Bump on every behaviour change: the change rolls out as an in-place update (no rebuild)."""

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
OUTPUT_ONLY_KEYS = (
    "runId",
    "runUrl",
    "skipped",
    "requestedSha",
    "imageRepositories",
    "missingImages",
)
PROVIDER_KEY = "__provider"

_REPOSITORY_RE = re.compile(r"^[A-Za-z0-9](?:[A-Za-z0-9-]{0,38})/[A-Za-z0-9._-]{1,100}$")
_WORKFLOW_RE = re.compile(r"^(?:[A-Za-z0-9._-]+\.ya?ml|\d+)$")
# 40 hex only, like the shipped workflow's check: GitHub serves no SHA-256 repositories, and a
# 64-hex sha the workflow then refuses would fail only after the dispatch.
_SHA_RE = re.compile(r"^[0-9a-f]{40}$")
_TAG_RE = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$")
_INPUT_NAME_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_-]*$")
_GHCR_RE = re.compile(
    r"^ghcr\.io/(?P<owner>[a-z0-9](?:[a-z0-9-]{0,38}))/(?P<name>[a-z0-9][a-z0-9._/-]*)$"
)
_ENVIRONMENT_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,62}$")

_FAILED_CONCLUSIONS = ("failure", "cancelled", "timed_out", "startup_failure", "action_required")


@dataclass(frozen=True)
class PollPolicy:
    """How the provider waits. Every number is in seconds of the injected clock."""

    initial: float = 1.0
    factor: float = 1.6
    # 304s cost no rate limit, so polling often is cheap: a 6 s cap (+/-20% jitter, so at
    # most 7.2 s) notices completion in ~3 s on average, well within the 15 s promised.
    cap: float = 6.0
    jitter: float = 0.2
    correlation_window: float = 180.0  # how long a dispatched run may take to show in the list
    created_skew: float = 120.0  # clock skew tolerated on the runs list's `created` filter
    cancel_wait: float = 120.0  # how long to wait for GitHub to confirm a cancellation
    delete_timeout: float = 900.0  # budget for destroy and refresh calls (rate limits included)
    verify_attempts: int = 3  # checks that a successful run pushed the images
    verify_interval: float = 5.0


@dataclass(frozen=True)
class ImageRepo:
    """`ghcr.io/<owner>/<package name>`: where one image lives."""

    repository: str
    owner: str
    package: str

    @classmethod
    def parse(cls, repository: str) -> ImageRepo:
        match = _GHCR_RE.match(repository)
        if not match or repository.endswith("/") or "//" in repository:
            raise gh.ImageBuildError(
                f"image repository {repository!r} is not `ghcr.io/<owner>/<name>` in lower case "
                "without a tag"
            )
        return cls(repository, match["owner"], match["name"])


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
    delete_images_on_destroy: bool

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
            raise gh.ImageBuildError(
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
            delete_images_on_destroy=bool(props["deleteImagesOnDestroy"]),
        )


# --- validation (check) -------------------------------------------------------------------


def _is_unknown(value: Any) -> bool:
    if value == UNKNOWN:
        return True
    if isinstance(value, Mapping):
        return any(_is_unknown(v) for v in value.values())
    if isinstance(value, list | tuple):
        return any(_is_unknown(v) for v in value)
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


def _as_int(value: Any) -> int | None:
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
        if _is_unknown(value):
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
    if not _is_unknown(inputs):
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
    if not _is_unknown(images):
        if not isinstance(images, Mapping) or not images:
            fail("images", f"must map image names to ghcr.io repositories; got {images!r}")
        else:
            for name, repo in images.items():
                if (
                    not isinstance(repo, str)
                    or not _GHCR_RE.match(repo)
                    or "//" in repo
                    or repo.endswith("/")
                ):
                    fail(
                        "images",
                        f"image {name!r}: {repo!r} is not `ghcr.io/<owner>/<name>` in lower case "
                        "without a tag (the tag comes from `tag`)",
                    )

    timeout = props.get("timeoutSeconds")
    if not _is_unknown(timeout):
        seconds = _as_int(timeout)
        if seconds is None or not 1 <= seconds <= MAX_TIMEOUT_SECONDS:
            fail(
                "timeoutSeconds",
                f"must be a whole number of seconds from 1 to {MAX_TIMEOUT_SECONDS}; "
                f"got {timeout!r}",
            )
    delete = props.get("deleteImagesOnDestroy")
    if not _is_unknown(delete) and not isinstance(delete, bool):
        fail("deleteImagesOnDestroy", f"must be true or false; got {delete!r}")
    return failures


def expand_inputs(templates: Mapping[str, str], values: Mapping[str, str]) -> dict[str, str]:
    """Workflow inputs with placeholders filled in (only the inputs the mapping names)."""
    return {name: template.format_map(values) for name, template in templates.items()}


# --- helpers ------------------------------------------------------------------------------


def _normalized(value: Any) -> Any:
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, Mapping):
        return {k: _normalized(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_normalized(v) for v in value]
    return value


def _old_input(olds: Mapping[str, Any], key: str) -> Any:
    # Outputs reuse two input names with other values; the inputs are kept under other names.
    if key == "commitSha" and "requestedSha" in olds:
        return olds["requestedSha"]
    if key == "images" and "imageRepositories" in olds:
        return olds["imageRepositories"]
    return olds.get(key)


def _changed(old: Any, new: Any) -> bool:
    return _is_unknown(new) or _normalized(old) != _normalized(new)


def _web_base(api_base: str) -> str | None:
    if api_base.rstrip("/") == gh.DEFAULT_API_URL:
        return "https://github.com"
    if api_base.rstrip("/").endswith("/api/v3"):
        return api_base.rstrip("/")[: -len("/api/v3")]
    return None


def _iso(epoch: float) -> str:
    return datetime.fromtimestamp(epoch, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


class _Run:
    """The run this create started, as far as we know it."""

    def __init__(self, run_id: int, html_url: str) -> None:
        self.id = run_id
        self.html_url = html_url
        self.completed = False
        # When an uncertain dispatch may have started other runs with our correlation id: the
        # time (epoch) of the first dispatch, to cancel any such run that shows up later.
        self.sweep_since: float | None = None


def _restore_provider(_state: Mapping[str, Any]) -> ImageBuildProvider:
    """Called when a serialized provider is loaded (see `ImageBuildProvider.__reduce__`)."""
    return ImageBuildProvider()


# Set by the loader when this module was rebuilt from serialized source.
_SERIALIZED_SOURCES: dict[str, str] | None = None

# Runs inside `eval` when state is unpickled: rebuilds both modules from their source in a
# package of their own (named after the source's hash, so several provider versions can
# coexist in one provider host) and returns a fresh provider. Keep it small and stable.
_LOADER = """
def _load(sources, state):
    import hashlib, linecache, sys, types
    digest = hashlib.sha256(
        "\\0".join(name + "\\0" + sources[name] for name in sorted(sources)).encode()
    ).hexdigest()[:16]
    package = "_tims_stack_image_build_" + digest
    if package + ".image_build_provider" not in sys.modules:
        parent = types.ModuleType(package)
        parent.__path__ = []
        parent.__package__ = package
        sys.modules[package] = parent
        try:
            for name in ("github_client", "image_build_provider"):
                full = package + "." + name
                filename = "<serialized " + full + ">"
                linecache.cache[filename] = (
                    len(sources[name]), None, sources[name].splitlines(True), filename
                )
                module = types.ModuleType(full)
                module.__file__ = filename
                module.__package__ = package
                sys.modules[full] = module
                setattr(parent, name, module)
                exec(compile(sources[name], filename, "exec"), module.__dict__)
                module._SERIALIZED_SOURCES = dict(sources)
        except BaseException:
            for key in [k for k in sys.modules if k == package or k.startswith(package + ".")]:
                del sys.modules[key]
            raise
    return sys.modules[package + ".image_build_provider"]._restore_provider(state)
"""
_BOOTSTRAP = "exec(_loader, globals()) or _load(_sources, _state)"


def _module_sources() -> dict[str, str]:
    if _SERIALIZED_SOURCES:
        return dict(_SERIALIZED_SOURCES)
    return {
        "github_client": Path(gh.__file__).read_text(encoding="utf-8"),
        "image_build_provider": Path(__file__).read_text(encoding="utf-8"),
    }


# --- the provider -------------------------------------------------------------------------


class ImageBuildProvider(ResourceProvider):
    """CRUD of an ImageBuild. See the module docstring."""

    def __init__(
        self,
        *,
        clock: gh.Clock | None = None,
        transport: httpx.BaseTransport | None = None,
        poll: PollPolicy | None = None,
        rng: random.Random | None = None,
        out: Callable[[str], None] | None = None,
    ) -> None:
        super().__init__()
        self._clock: gh.Clock = clock or gh.SystemClock()
        self._transport = transport
        self._poll = poll or PollPolicy()
        # Jitter only spreads polls out; it needs no cryptographic randomness.
        self._rng = rng or random.Random()  # noqa: S311
        self._out = out
        self._token: gh.Secret | None = None
        self._base_url = gh.DEFAULT_API_URL
        self._run_details_supported = True

    def __repr__(self) -> str:
        return f"ImageBuildProvider(version={PROVIDER_VERSION})"

    def __reduce__(self) -> tuple[Any, ...]:
        # Ship the code, never the runtime state: no token, URL, clock or client.
        return (
            eval,
            (_BOOTSTRAP, {"_loader": _LOADER, "_sources": _module_sources(), "_state": {}}),
        )

    # --- plumbing ---------------------------------------------------------------------

    def configure(self, req: ConfigureRequest) -> None:
        token = req.config.get("github:token") or os.environ.get("GITHUB_TOKEN")
        self._token = gh.Secret(str(token)) if token else None
        base_url = req.config.get("github:baseUrl")
        self._base_url = str(base_url).rstrip("/") if base_url else gh.DEFAULT_API_URL

    def _say(self, environment: str, message: str) -> None:
        line = f"ImageBuild[{environment}]: {message}"
        if self._out is not None:
            self._out(line)
        else:
            # Pulumi >= 3.146 shows a Python dynamic provider's stdout; pulumi.log cannot work here.
            print(line, flush=True)

    def _client(self, environment: str) -> gh.GitHubClient:
        if self._token is None:
            raise gh.ImageBuildError(f"No GitHub token is configured. {gh.CREDENTIALS_HELP}")
        return gh.GitHubClient(
            self._token,
            self._base_url,
            clock=self._clock,
            transport=self._transport,
            log=lambda message: self._say(environment, message),
            rng=self._rng,
        )

    def _jittered(self, seconds: float) -> float:
        spread = self._poll.jitter
        return seconds * self._rng.uniform(1.0 - spread, 1.0 + spread)

    # --- check / diff / update (no network) ---------------------------------------------

    def check(self, _olds: dict[str, Any], news: dict[str, Any]) -> CheckResult:
        inputs = {k: v for k, v in news.items() if k not in OUTPUT_ONLY_KEYS and k != PROVIDER_KEY}
        if inputs.get("inputs") is None:
            inputs["inputs"] = dict(DEFAULT_INPUTS)
        timeout = _as_int(inputs.get("timeoutSeconds"))
        if timeout is not None:
            inputs["timeoutSeconds"] = timeout
        failures = validate_inputs(inputs)
        # Credentials must come from provider config, never from inputs (they would land in
        # state): refuse anything this resource does not know.
        for key in sorted(set(inputs) - set(INPUT_KEYS)):
            del inputs[key]
            failures.append(
                CheckFailure(
                    key,
                    f"{key}: unknown ImageBuild input; allowed: {', '.join(INPUT_KEYS)}. "
                    "Credentials come from `github:token` / `github:baseUrl` config only.",
                )
            )
        return CheckResult(inputs, failures)

    def diff(self, _id: str, olds: dict[str, Any], news: dict[str, Any]) -> DiffResult:
        replaces = [k for k in REPLACE_KEYS if _changed(_old_input(olds, k), news.get(k))]
        if olds.get("missingImages") and "images" not in replaces:
            # A refresh found images gone: rebuild them.
            replaces.append("images")
        if replaces:
            new_tag = news.get("tag")
            # Same tag: the old resource's delete would remove the new images, so delete first.
            same_tag = _is_unknown(new_tag) or new_tag == olds.get("tag")
            return DiffResult(changes=True, replaces=replaces, delete_before_replace=same_tag)
        if any(_changed(olds.get(k), news.get(k)) for k in UPDATE_KEYS):
            return DiffResult(changes=True, replaces=[])
        return DiffResult(changes=False)

    def update(self, _id: str, olds: dict[str, Any], news: dict[str, Any]) -> UpdateResult:
        outs = {k: v for k, v in olds.items() if k != PROVIDER_KEY}
        for key in UPDATE_KEYS:
            if key in news:
                outs[key] = _normalized(news[key])
        return UpdateResult(outs)

    # --- create -------------------------------------------------------------------------

    def _outputs(
        self,
        spec: BuildSpec,
        props: Mapping[str, Any],
        *,
        run_id: int,
        run_url: str,
        built_sha: str,
        skipped: bool,
    ) -> dict[str, Any]:
        outs = {k: _normalized(props[k]) for k in INPUT_KEYS if k in props}
        outs.update(
            runId=run_id,
            runUrl=run_url,
            commitSha=built_sha,
            requestedSha=spec.commit_sha,
            tag=spec.tag,
            images={name: f"{image.repository}:{spec.tag}" for name, image in spec.images.items()},
            imageRepositories={name: image.repository for name, image in spec.images.items()},
            skipped=skipped,
            missingImages=[],
        )
        return outs

    def create(self, props: dict[str, Any]) -> CreateResult:
        spec = BuildSpec.from_props(props)
        deadline = self._clock.monotonic() + spec.timeout_seconds
        with self._client(spec.environment) as client:
            if self._all_images_present(client, spec, deadline):
                self._say(
                    spec.environment,
                    f"every image already has tag {spec.tag} in GHCR: no build needed",
                )
                outs = self._outputs(
                    spec, props, run_id=0, run_url="", built_sha=spec.commit_sha, skipped=True
                )
                return CreateResult(f"{spec.tag}@existing", outs)
            run = self._build(client, spec, deadline)
        # The run's head_sha is where its workflow file came from; it is the built commit only
        # when no {sha} tells the workflow what to check out (e.g. the seed's workflow).
        built_sha = spec.commit_sha if spec.passes_sha else run.head_sha
        outs = self._outputs(
            spec, props, run_id=run.id, run_url=run.html_url, built_sha=built_sha, skipped=False
        )
        return CreateResult(f"{spec.tag}@{run.id}", outs)

    def _missing_images(
        self, client: gh.GitHubClient, spec: BuildSpec, deadline: float, *, stop_at_first: bool
    ) -> list[str]:
        missing = []
        for name, image in spec.images.items():
            if not self._has_tag(client, image, spec.tag, deadline):
                missing.append(name)
                if stop_at_first:
                    break
        return missing

    def _has_tag(
        self, client: gh.GitHubClient, image: ImageRepo, tag: str, deadline: float
    ) -> bool:
        try:
            scope = client.package_scope(image.owner, deadline=deadline)
        except gh.NotFoundError:
            return False
        versions = client.package_versions(scope, image.package, deadline=deadline)
        return versions is not None and any(tag in version.tags for version in versions)

    def _all_images_present(
        self, client: gh.GitHubClient, spec: BuildSpec, deadline: float
    ) -> bool:
        try:
            return not self._missing_images(client, spec, deadline, stop_at_first=True)
        except gh.GitHubApiError as exc:
            if exc.status != 403:
                raise
            self._say(
                spec.environment,
                "WARNING: cannot read GHCR packages with this token (403), so existing images "
                "cannot be reused; building. Give the token `read:packages`.",
            )
            return False

    def _build(self, client: gh.GitHubClient, spec: BuildSpec, deadline: float) -> gh.WorkflowRun:
        correlation_id = uuid.uuid4().hex
        inputs = expand_inputs(
            spec.inputs,
            {
                "ref": spec.ref,
                "sha": spec.commit_sha,
                "tag": spec.tag,
                "environment": spec.environment,
                "owner": spec.owner,
                "correlation_id": correlation_id,
            },
        )
        run = self._dispatch(client, spec, inputs, correlation_id, deadline)
        try:
            self._cancel_extras(client, spec, run, correlation_id, deadline)
            current = client.get_run(spec.repository, run.id, deadline=deadline)
            run.html_url = current.html_url or run.html_url
            self._say(spec.environment, f"workflow run {run.html_url} started ({current.status})")
            if current.head_sha and current.head_sha != spec.commit_sha and spec.passes_sha:
                self._say(
                    spec.environment,
                    f"note: {spec.ref!r} moved to {current.head_sha} since the program resolved "
                    f"it, so the workflow file comes from {current.head_sha}; the run still "
                    f"builds {spec.commit_sha}, which it receives in its inputs.",
                )
            elif current.head_sha and current.head_sha != spec.commit_sha:
                self._say(
                    spec.environment,
                    f"WARNING: the run builds {current.head_sha}, not {spec.commit_sha} that "
                    f"{spec.ref!r} pointed to when the program ran: the branch moved in between. "
                    f"The images tagged {spec.tag} contain {current.head_sha}; outputs report both "
                    "(commitSha, requestedSha). Run `pulumi up` again to build the new head.",
                )
            final = self._wait(client, spec, run, current, deadline)
            run.completed = True
            if final.conclusion != "success":
                raise self._failure(client, spec, final, deadline)
            self._verify_pushed(client, spec, final, deadline)
            self._say(spec.environment, f"build succeeded: {final.html_url}")
            return final
        except gh.ImageBuildError as exc:
            if run.completed:
                raise
            raise gh.ImageBuildError(f"{exc} {self._cancel_quietly(client, spec, run)}") from exc
        except BaseException:
            if not run.completed:
                self._cancel_quietly(client, spec, run)
            raise
        finally:
            # A run from an uncertain dispatch may show up only while ours runs.
            self._cancel_extras(client, spec, run, correlation_id, deadline)

    def _dispatch(
        self,
        client: gh.GitHubClient,
        spec: BuildSpec,
        inputs: dict[str, str],
        correlation_id: str,
        deadline: float,
    ) -> _Run:
        attempts = 0
        # Set once a dispatch was uncertain: runs it may have started can show up late, so
        # every run carrying our correlation id since then is swept (see `_cancel_extras`).
        first_dispatch_at: float | None = None
        while True:
            attempts += 1
            dispatched_at = self._clock.time()
            try:
                result = client.dispatch_workflow(
                    spec.repository,
                    spec.workflow,
                    spec.ref,
                    inputs,
                    return_run_details=self._run_details_supported,
                    deadline=deadline,
                )
            except gh.GitHubApiError as exc:
                if exc.status == 400 and self._run_details_supported:
                    # GitHub Enterprise Server 3.20 and older reject the field: nothing ran.
                    # Other mistakes answer 400 too: GitHub's own words tell them apart.
                    self._run_details_supported = False
                    if not spec.uses_correlation_id:
                        raise gh.ImageBuildError(
                            f"GitHub refused to dispatch {spec.workflow} in {spec.repository} "
                            f"(400: {exc.github_message or 'no message'}). If that is about "
                            "`return_run_details`, the server cannot return run details "
                            "(GitHub Enterprise Server 3.20 or older). "
                            + self._no_correlation_message(spec)
                        ) from exc
                    self._say(
                        spec.environment,
                        f"GitHub answered 400 ({exc.github_message or 'no message'}): taking it "
                        "as no support for return_run_details (GitHub Enterprise Server 3.20 or "
                        "older); dispatching again without it and finding the run by its "
                        f"correlation id {correlation_id}",
                    )
                    continue
                raise self._dispatch_error(client, spec, inputs, exc, deadline) from exc
            except gh.AmbiguousRequestError as exc:
                if not spec.uses_correlation_id:
                    # Nothing could tell a run this dispatch started from anybody else's, so
                    # dispatching again could leave an untracked run behind: stop here.
                    page = self._actions_page(client, spec)
                    raise gh.ImageBuildError(
                        f"Dispatching {spec.workflow} in {spec.repository} gave an uncertain "
                        f"answer ({exc}), and without a correlation id in "
                        "tims-stack:build.inputs this deployment cannot tell whether it started "
                        f"a run. Check {page} for a run it may have started and cancel it, then "
                        "run `pulumi up` again."
                    ) from exc
                # GitHub may have started a run: give it as long to show up as any dispatched
                # run before dispatching again.
                if first_dispatch_at is None:
                    first_dispatch_at = dispatched_at
                found = self._find_by_correlation(
                    client,
                    spec,
                    correlation_id,
                    dispatched_at,
                    window=self._poll.correlation_window,
                    deadline=deadline,
                )
                if found is not None:
                    found.sweep_since = first_dispatch_at
                    return found
                if attempts >= 3:
                    page = self._actions_page(client, spec)
                    raise gh.ImageBuildError(
                        f"Dispatching {spec.workflow} in {spec.repository} failed {attempts} "
                        f"times ({exc}). Check {page} for runs it may have started, cancel "
                        "them, then run `pulumi up` again."
                    ) from exc
                self._say(spec.environment, f"dispatch uncertain ({exc}); dispatching again")
                continue
            if result.run_id is not None:
                run = _Run(result.run_id, result.html_url or "")
                run.sweep_since = first_dispatch_at
                return run
            if not spec.uses_correlation_id:
                page = self._actions_page(client, spec)
                raise gh.ImageBuildError(
                    "GitHub started the workflow but did not say which run it is (no run "
                    "details in its answer), and nothing identifies our run. "
                    f"{self._no_correlation_message(spec)} Meanwhile, find the run this "
                    f"dispatch started at {page} and cancel it if needed."
                )
            self._say(
                spec.environment,
                f"GitHub gave no run details; finding the run by correlation id {correlation_id}",
            )
            found = self._find_by_correlation(
                client,
                spec,
                correlation_id,
                dispatched_at,
                window=self._poll.correlation_window,
                deadline=deadline,
            )
            if found is not None:
                found.sweep_since = first_dispatch_at
            if found is None:
                raise gh.ImageBuildError(
                    f"No run of {spec.workflow} in {spec.repository} showed correlation id "
                    f"{correlation_id} within {self._poll.correlation_window:.0f} s of the "
                    "dispatch. Check that the workflow's `run-name` echoes "
                    "`${{ inputs.correlation_id }}` (see README), then look for the run at "
                    f"{self._actions_page(client, spec)} and cancel it if it is running."
                )
            return found

    def _cancel_extras(
        self,
        client: gh.GitHubClient,
        spec: BuildSpec,
        run: _Run,
        correlation_id: str,
        deadline: float,
    ) -> None:
        """Cancel every other run carrying our correlation id, after an uncertain dispatch."""
        if run.sweep_since is None:
            return
        since = _iso(run.sweep_since - self._poll.created_skew)
        limit = max(deadline, self._clock.monotonic() + 60)
        try:
            extras = [
                found
                for found in client.list_dispatched_runs(
                    spec.repository, spec.workflow, created_since=since, deadline=limit
                )
                if found.id != run.id
                and found.status != "completed"
                and (correlation_id in found.display_title or correlation_id in found.name)
            ]
        except gh.ImageBuildError as exc:
            self._say(
                spec.environment,
                f"WARNING: could not look for duplicate runs of an uncertain dispatch ({exc}); "
                f"check {self._actions_page(client, spec)} for runs with correlation id "
                f"{correlation_id} and cancel all but {run.html_url}",
            )
            return
        for extra in extras:
            self._say(
                spec.environment,
                f"run {extra.html_url} was started by an uncertain dispatch too: "
                + self._cancel_quietly(client, spec, _Run(extra.id, extra.html_url)),
            )

    def _find_by_correlation(
        self,
        client: gh.GitHubClient,
        spec: BuildSpec,
        correlation_id: str,
        dispatched_at: float,
        *,
        window: float,
        deadline: float,
    ) -> _Run | None:
        """The run whose title or name carries our correlation id; never "the newest run"."""
        since = _iso(dispatched_at - self._poll.created_skew)
        give_up = min(self._clock.monotonic() + window, deadline)
        interval = self._poll.initial
        while True:
            matches = [
                run
                for run in client.list_dispatched_runs(
                    spec.repository, spec.workflow, created_since=since, deadline=deadline
                )
                if correlation_id in run.display_title or correlation_id in run.name
            ]
            if matches:
                # Only a repeated dispatch can match twice: keep the first, cancel the others.
                matches.sort(key=lambda run: run.id)
                for extra in matches[1:]:
                    self._cancel_quietly(client, spec, _Run(extra.id, extra.html_url))
                return _Run(matches[0].id, matches[0].html_url)
            now = self._clock.monotonic()
            if now >= give_up:
                return None
            self._clock.sleep(min(self._jittered(interval), give_up - now))
            interval = min(interval * self._poll.factor, self._poll.cap)

    def _wait(
        self,
        client: gh.GitHubClient,
        spec: BuildSpec,
        run: _Run,
        current: gh.WorkflowRun,
        deadline: float,
    ) -> gh.WorkflowRun:
        interval = self._poll.initial
        while current.status != "completed":
            now = self._clock.monotonic()
            if now >= deadline:
                return self._cancel_for_timeout(client, spec, run)
            # Wake at the deadline at the latest, for a last look before cancelling.
            self._clock.sleep(min(self._jittered(interval), deadline - now))
            interval = min(interval * self._poll.factor, self._poll.cap)
            previous = current.status
            current = client.get_run(spec.repository, run.id, deadline=deadline)
            if current.status != previous:
                suffix = f" ({current.conclusion})" if current.conclusion else ""
                self._say(spec.environment, f"run {run.html_url} is {current.status}{suffix}")
        return current

    def _cancel_for_timeout(
        self, client: gh.GitHubClient, spec: BuildSpec, run: _Run
    ) -> gh.WorkflowRun:
        self._say(
            spec.environment,
            f"timeoutSeconds={spec.timeout_seconds} passed: cancelling run {run.html_url}",
        )
        limit = self._clock.monotonic() + self._poll.cancel_wait
        accepted = client.cancel_run(spec.repository, run.id, deadline=limit)
        current = client.get_run(spec.repository, run.id, deadline=limit)
        if not accepted and current.status == "completed":
            # It finished just as the deadline passed: report what it really did.
            return current
        interval = self._poll.initial
        while current.status != "completed" and self._clock.monotonic() < limit:
            self._clock.sleep(
                min(self._jittered(interval), max(0.0, limit - self._clock.monotonic()))
            )
            interval = min(interval * self._poll.factor, self._poll.cap)
            current = client.get_run(spec.repository, run.id, deadline=limit)
        run.completed = True
        confirmed = (
            "GitHub confirmed the cancellation"
            if current.status == "completed"
            else f"GitHub had not confirmed the cancellation after {self._poll.cancel_wait:.0f} s: "
            "check the run page"
        )
        raise gh.ImageBuildError(
            f"The image build for {spec.environment} did not finish within timeoutSeconds="
            f"{spec.timeout_seconds}, so its workflow run {run.html_url} was cancelled "
            f"({confirmed}). If builds legitimately take longer, raise "
            "tims-stack:build.timeout (seconds); then run `pulumi up` again."
        )

    def _failure(
        self, client: gh.GitHubClient, spec: BuildSpec, run: gh.WorkflowRun, deadline: float
    ) -> gh.ImageBuildError:
        details: list[str] = []
        try:
            jobs = client.list_jobs(
                spec.repository, run.id, deadline=max(deadline, self._clock.monotonic() + 60)
            )
        except gh.ImageBuildError as exc:
            details.append(f"(could not list the run's jobs: {exc})")
            jobs = []
        for job in jobs:
            if job.conclusion not in _FAILED_CONCLUSIONS:
                continue
            steps = [s.name for s in job.steps if s.conclusion in ("failure", "timed_out")]
            where = (
                f"failed step(s): {', '.join(repr(s) for s in steps)}"
                if steps
                else "no failed step reported"
            )
            details.append(f"job {job.name!r} {job.conclusion}: {where}")
        if not details:
            details.append("no failed job reported")
        what = {
            "cancelled": "was cancelled (by someone or something other than this deployment)",
            "timed_out": "timed out on GitHub",
        }.get(run.conclusion or "", f"ended with conclusion {run.conclusion!r}")
        return gh.ImageBuildError(
            f"The image build for {spec.environment} {what}: workflow run {run.html_url}\n  - "
            + "\n  - ".join(details)
            + "\nOpen the run to read the logs, fix the cause, then run `pulumi up` again."
        )

    def _verify_pushed(
        self, client: gh.GitHubClient, spec: BuildSpec, run: gh.WorkflowRun, deadline: float
    ) -> None:
        limit = max(deadline, self._clock.monotonic() + 60)
        missing: list[str] = []
        for attempt in range(self._poll.verify_attempts):
            if attempt:
                self._clock.sleep(self._poll.verify_interval)
            try:
                missing = self._missing_images(client, spec, limit, stop_at_first=False)
            except gh.GitHubApiError as exc:
                if exc.status != 403:
                    raise
                self._say(
                    spec.environment,
                    "WARNING: cannot read GHCR packages (403), so the pushed images are not "
                    "checked. Give the token `read:packages`.",
                )
                return
            if not missing:
                return
        refs = ", ".join(f"{spec.images[name].repository}:{spec.tag}" for name in missing)
        raise gh.ImageBuildError(
            f"The workflow run {run.html_url} succeeded, but GHCR has no {refs}. Check that the "
            "workflow pushes to exactly the repositories in tims-stack:images.backend and "
            "tims-stack:images.frontend and tags "
            "them with the tag input it receives (tims-stack:build.inputs)."
        )

    def _cancel_quietly(self, client: gh.GitHubClient, spec: BuildSpec, run: _Run) -> str:
        """Best-effort cancel so no run outlives a failed create; says what happened."""
        try:
            limit = self._clock.monotonic() + 60.0
            if client.cancel_run(spec.repository, run.id, deadline=limit):
                self._say(spec.environment, f"cancelled run {run.html_url}")
                return f"The workflow run {run.html_url} was cancelled."
            return f"The workflow run {run.html_url} had already completed."
        except Exception as exc:  # report it, but keep the original error
            return (
                f"Cancelling the workflow run {run.html_url} failed too ({exc}); cancel it by hand."
            )

    def _actions_page(self, client: gh.GitHubClient, spec: BuildSpec) -> str:
        """Web page listing the workflow's runs (the repository says its web URL)."""
        try:
            web = str(client.get(f"/repos/{spec.repository}").body["html_url"])
        except (gh.ImageBuildError, KeyError, TypeError):
            base = _web_base(self._base_url)
            if base is None:
                return f"the Actions tab of {spec.repository}"
            web = f"{base}/{spec.repository}"
        return f"{web}/actions/workflows/{spec.workflow}"

    def _no_correlation_message(self, spec: BuildSpec) -> str:
        return (
            "This server cannot return run details, so the run must be found by a correlation id: "
            "declare a `correlation_id` input in the workflow, echo it in its name with "
            "`run-name: Build ${{ inputs.tag }} [${{ inputs.correlation_id }}]`, and map it in "
            "tims-stack:build.inputs as `correlation_id: '{correlation_id}'`."
        )

    def _dispatch_error(
        self,
        client: gh.GitHubClient,
        spec: BuildSpec,
        inputs: Mapping[str, str],
        exc: gh.GitHubApiError,
        deadline: float,
    ) -> gh.ImageBuildError:
        if exc.status == 404:
            try:
                client.get(f"/repos/{spec.repository}", deadline=deadline)
            except gh.NotFoundError:
                return gh.ImageBuildError(
                    f"Repository {spec.repository} was not found (GitHub answered 404). Check "
                    "tims-stack:build.repository (owner/name) and that the token can see the "
                    "repository (a classic token with `repo`, or a fine-grained token granted "
                    "access to it)."
                )
            except gh.ImageBuildError:
                pass
            return gh.ImageBuildError(
                f"Workflow {spec.workflow} was not found in {spec.repository} (GitHub answered "
                f"404 to the dispatch). Check tims-stack:build.workflow, that "
                f".github/workflows/{spec.workflow} exists on the default branch with an "
                "`on: workflow_dispatch` trigger, and that the token has Actions write access "
                "to the repository."
            )
        if exc.status == 422:
            return gh.ImageBuildError(
                f"GitHub refused to dispatch {spec.workflow} in {spec.repository} on "
                f"{spec.ref!r} (422: {exc.github_message}). Inputs sent: "
                f"{', '.join(sorted(inputs)) or 'none'}. Map only the inputs the workflow "
                "declares under on.workflow_dispatch.inputs in tims-stack:build.inputs, and "
                "check that the ref exists and its copy of the workflow has the trigger."
            )
        return exc

    # --- read (refresh) -----------------------------------------------------------------

    def read(self, id_: str, props: dict[str, Any]) -> ReadResult:
        environment = str(props.get("environment") or "?")
        tag = str(props.get("tag") or "")
        repositories = props.get("imageRepositories") or {}
        outs = {k: v for k, v in props.items() if k != PROVIDER_KEY}
        deadline = self._clock.monotonic() + self._poll.delete_timeout
        missing: list[str] = []
        with self._client(environment) as client:
            try:
                for name, repository in sorted(repositories.items()):
                    if not self._has_tag(client, ImageRepo.parse(repository), tag, deadline):
                        missing.append(name)
            except gh.GitHubApiError as exc:
                if exc.status != 403:
                    raise
                # A token without read:packages must not make every refresh fail: what is
                # known about the images stays as it was.
                self._say(
                    environment,
                    "WARNING: cannot read GHCR packages with this token (403), so refresh "
                    "cannot check that the images still exist; leaving missingImages as it "
                    "was. Give the token `read:packages`.",
                )
                return ReadResult(id_, outs)
        if missing:
            self._say(
                environment,
                f"image(s) {', '.join(missing)} no longer have tag {tag} in GHCR; the next "
                "`pulumi up` rebuilds them",
            )
        outs["missingImages"] = missing
        return ReadResult(id_, outs)

    # --- delete -------------------------------------------------------------------------

    def delete(self, _id: str, props: dict[str, Any]) -> None:
        environment = str(props.get("environment") or "?")
        tag = str(props.get("tag") or "")
        repositories: Mapping[str, str] = props.get("imageRepositories") or {}
        if not props.get("deleteImagesOnDestroy", True):
            self._say(environment, f"deleteImagesOnDestroy is false: keeping images tagged {tag}")
            return
        deadline = self._clock.monotonic() + self._poll.delete_timeout
        errors: list[str] = []
        with self._client(environment) as client:
            for _name, repository in sorted(repositories.items()):
                try:
                    self._delete_image(
                        client, environment, ImageRepo.parse(repository), tag, deadline
                    )
                except gh.ImageBuildError as exc:
                    errors.append(f"{repository}:{tag}: {exc}")
        if errors:
            raise gh.ImageBuildError(
                "Could not delete this build's images from GHCR:\n  - "
                + "\n  - ".join(errors)
                + "\nFix the cause and run `pulumi destroy` again; to keep the images instead, "
                "set tims-stack:build.deleteImagesOnDestroy to false and run `pulumi up` first."
            )

    def _delete_image(
        self,
        client: gh.GitHubClient,
        environment: str,
        image: ImageRepo,
        tag: str,
        deadline: float,
    ) -> None:
        ref = f"{image.repository}:{tag}"
        try:
            scope = client.package_scope(image.owner, deadline=deadline)
        except gh.NotFoundError:
            self._say(environment, f"{ref}: owner {image.owner} does not exist; nothing to delete")
            return
        versions = client.package_versions(scope, image.package, deadline=deadline)
        if versions is None:
            self._say(environment, f"{ref}: package already gone")
            return
        ours = [v for v in versions if v.tags and set(v.tags) == {tag}]
        shared = [v for v in versions if tag in v.tags and set(v.tags) != {tag}]
        for version in shared:
            other_tags = ", ".join(sorted(set(version.tags) - {tag}))
            self._say(
                environment,
                f"{ref}: version {version.id} also carries {other_tags}; leaving it",
            )
        if not ours:
            if not shared:
                self._say(environment, f"{ref}: no version carries the tag; nothing to delete")
            return
        # Always the version first: deciding from a listing to delete the whole package would
        # wipe an image pushed meanwhile, and a deleted package loses its settings. Only
        # GitHub's own refusal says ours is the last tagged version.
        for version in ours:
            if self._delete_version(client, environment, scope, image, version, tag, deadline):
                return
        self._say(environment, f"{ref}: deleted {len(ours)} version(s)")

    def _delete_version(
        self,
        client: gh.GitHubClient,
        environment: str,
        scope: gh.PackageScope,
        image: ImageRepo,
        version: gh.PackageVersion,
        tag: str,
        deadline: float,
    ) -> bool:
        """Delete one of our versions; True when the whole package went instead."""
        ref = f"{image.repository}:{tag}"
        for attempt in range(2):
            try:
                client.delete_package_version(scope, image.package, version.id, deadline=deadline)
                return False
            except gh.NotFoundError:
                return False
            except gh.GitHubApiError as exc:
                if exc.status != 400 or "last tagged version" not in exc.github_message.lower():
                    raise
                # Decide on fresh data: a version pushed since the refusal is not ours to lose.
                remaining = client.package_versions(scope, image.package, deadline=deadline)
                if remaining is None:
                    self._say(environment, f"{ref}: package already gone")
                    return True
                if all(set(v.tags) == {tag} for v in remaining if v.tags):
                    self._delete_package(client, environment, scope, image, ref, deadline)
                    return True
                if attempt:
                    raise
        return False

    def _delete_package(
        self,
        client: gh.GitHubClient,
        environment: str,
        scope: gh.PackageScope,
        image: ImageRepo,
        ref: str,
        deadline: float,
    ) -> None:
        try:
            client.delete_package(scope, image.package, deadline=deadline)
        except gh.NotFoundError:
            self._say(environment, f"{ref}: package already gone")
            return
        self._say(
            environment,
            f"{ref}: deleted package {image.package} (only this build's tag was left in it)",
        )
