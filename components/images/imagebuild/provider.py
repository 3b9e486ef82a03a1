"""The ImageBuild dynamic provider: the Pulumi CRUD adapter.

- check/diff/update: local only, no GitHub call. A replacement creates the new build
  before deleting the old one: if the rebuild fails, the old images still pull. When the
  replacement keeps the tag, Check marks it `rebuild`, so the new build pushes images of
  its own instead of reusing the old resource's; a rebuild that pushes again the digest
  the tag had fails (the old resource's delete would take it). Only state of provider 1
  or 2 with the same tag is deleted first: its own code deletes whatever carries the tag.
- create: skip when every image already has the tag (asked of the registry, no rate
  limit); else run the workflow (`runs`), then read each image's digest from the registry.
  The digests the run pushed (new since before the dispatch) are recorded in
  `ownedImages`: they are what this resource owns. A skipped create owns nothing.
- read (refresh): images that lost the tag are listed in `missingImages`; the next diff
  replaces the resource, which rebuilds them.
- delete: removes only the package versions in `ownedImages` (see `packages`). State
  written before ownership was recorded falls back to the old rule: versions tagged with
  this build's tag alone, unless that create was skipped.

Credentials come only from `configure()` (`github:token` or GITHUB_TOKEN, and
`github:baseUrl`). Nothing configured is ever put in outputs or serialized.
"""

from __future__ import annotations

import os
import random
from collections.abc import Callable, Mapping
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

from . import shipping
from .base import (
    CREDENTIALS_HELP,
    DEFAULT_API_URL,
    Clock,
    GitHubApiError,
    ImageBuildError,
    Secret,
    SystemClock,
)
from .images import BuildImages
from .packages import Packages, owned_targets
from .registry import ImageRepo, Registry, RegistryError
from .rest import GitHubClient
from .runs import PollPolicy, RunDriver
from .spec import (
    DEFAULT_INPUTS,
    INPUT_KEYS,
    OUTPUT_ONLY_KEYS,
    PROVIDER_KEY,
    REBUILD_KEY,
    REPLACE_KEYS,
    UPDATE_KEYS,
    BuildSpec,
    as_int,
    changed,
    normalized,
    old_input,
    validate_inputs,
)

PROVIDER_VERSION = "4"
"""Bump on every behaviour change: the change rolls out as an in-place update (no rebuild)."""

__all__ = ["DEFAULT_INPUTS", "PROVIDER_VERSION", "ImageBuildProvider", "PollPolicy"]


def _reproduced_error(spec: BuildSpec, run_url: str, again: Mapping[str, str]) -> ImageBuildError:
    refs = ", ".join(f"{spec.images[n].repository}:{spec.tag} ({d})" for n, d in again.items())
    return ImageBuildError(
        f"The workflow run {run_url} pushed {refs} with the digest the tag already had: the "
        "build reproduced the images of the resource this replacement keeps the tag of, and "
        "that resource's clean-up deletes the versions it pushed, which would take the "
        "images this one uses. Nothing was replaced; the images still serve. Make each "
        "build's image unique, e.g. a label carrying the correlation id as "
        "templates/github/build-images.yml does (`labels: "
        "tims-stack.build=${{ inputs.correlation_id }}`), then run `pulumi up` again."
    )


def _restore_provider(state: Mapping[str, Any]) -> ImageBuildProvider:
    """Called when a serialized provider is loaded (see `shipping`)."""
    return ImageBuildProvider(registry_urls=state.get("registry_urls"))


class ImageBuildProvider(ResourceProvider):
    """CRUD of an ImageBuild. See the module docstring."""

    def __init__(
        self,
        *,
        clock: Clock | None = None,
        transport: httpx.BaseTransport | None = None,
        poll: PollPolicy | None = None,
        rng: random.Random | None = None,
        out: Callable[[str], None] | None = None,
        registry_urls: Mapping[str, str] | None = None,
    ) -> None:
        """`registry_urls` maps a registry host (`ghcr.io`) to the URL serving it: for tests
        and mirrors only; it travels with the serialized provider."""
        super().__init__()
        self._clock: Clock = clock or SystemClock()
        self._transport = transport
        self._poll = poll or PollPolicy()
        # Jitter only spreads polls out; it needs no cryptographic randomness.
        self._rng = rng or random.Random()  # noqa: S311
        self._out = out
        self._registry_urls = dict(registry_urls or {})
        self._token: Secret | None = None
        self._base_url = DEFAULT_API_URL
        # API base URLs that refused `return_run_details`: one host may serve stacks on
        # github.com and on GitHub Enterprise Server.
        self._no_run_details: set[str] = set()

    def __repr__(self) -> str:
        return f"ImageBuildProvider(version={PROVIDER_VERSION})"

    def __reduce__(self) -> tuple[Any, ...]:
        # Ship the code, never the runtime state: no token, API URL, clock or client.
        return shipping.reduce(
            {"registry_urls": self._registry_urls} if self._registry_urls else {}
        )

    def configure(self, req: ConfigureRequest) -> None:
        token = req.config.get("github:token") or os.environ.get("GITHUB_TOKEN")
        self._token = Secret(str(token)) if token else None
        base_url = req.config.get("github:baseUrl")
        self._base_url = str(base_url).rstrip("/") if base_url else DEFAULT_API_URL

    def _say(self, environment: str, message: str) -> None:
        line = f"ImageBuild[{environment}]: {message}"
        if self._out is not None:
            self._out(line)
        else:
            # Pulumi >= 3.146 shows a Python dynamic provider's stdout; pulumi.log cannot work here.
            print(line, flush=True)

    def _connect(self, environment: str) -> tuple[GitHubClient, Registry]:
        if self._token is None:
            raise ImageBuildError(f"No GitHub token is configured. {CREDENTIALS_HELP}")
        client = GitHubClient(
            self._token,
            self._base_url,
            clock=self._clock,
            transport=self._transport,
            log=lambda message: self._say(environment, message),
            rng=self._rng,
        )
        registry = Registry(
            self._token, self._clock, urls=self._registry_urls, transport=self._transport
        )
        return client, registry

    # --- check / diff / update (no network) ---------------------------------------------

    def check(self, olds: dict[str, Any], news: dict[str, Any]) -> CheckResult:
        inputs = {k: v for k, v in news.items() if k not in OUTPUT_ONLY_KEYS and k != PROVIDER_KEY}
        inputs.pop(REBUILD_KEY, None)
        if inputs.get("inputs") is None:
            inputs["inputs"] = dict(DEFAULT_INPUTS)
        timeout = as_int(inputs.get("timeoutSeconds"))
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
        same_tag = bool(olds) and olds.get("tag") == inputs.get("tag")
        if same_tag and any(changed(old_input(olds, k), inputs.get(k)) for k in REPLACE_KEYS):
            inputs[REBUILD_KEY] = True
        return CheckResult(inputs, failures)

    def diff(self, _id: str, olds: dict[str, Any], news: dict[str, Any]) -> DiffResult:
        replaces = [k for k in REPLACE_KEYS if changed(old_input(olds, k), news.get(k))]
        if olds.get("missingImages") and "images" not in replaces:
            # A refresh found images gone: rebuild them.
            replaces.append("images")
        if replaces:
            # State without `ownedImages` holds provider 1 or 2, and its delete (that code
            # runs it) removes every version carrying its tag: after a create keeping the tag,
            # that is the new build. Delete first for it, as those versions did.
            legacy = "ownedImages" not in olds and olds.get("tag") == news.get("tag")
            # Otherwise create first: the old images serve until the new exist, and the old
            # resource's delete removes only the versions its own run pushed.
            return DiffResult(changes=True, replaces=replaces, delete_before_replace=legacy)
        if any(changed(olds.get(k), news.get(k)) for k in UPDATE_KEYS):
            return DiffResult(changes=True, replaces=[])
        return DiffResult(changes=False)

    def update(self, _id: str, olds: dict[str, Any], news: dict[str, Any]) -> UpdateResult:
        outs = {k: v for k, v in olds.items() if k != PROVIDER_KEY}
        for key in UPDATE_KEYS:
            if key in news:
                outs[key] = normalized(news[key])
        return UpdateResult(outs)

    # --- create -------------------------------------------------------------------------

    def create(self, props: dict[str, Any]) -> CreateResult:
        spec = BuildSpec.from_props(props)
        say = self._sayer(spec.environment)
        deadline = self._clock.monotonic() + spec.timeout_seconds
        client, registry = self._connect(spec.environment)
        with client, registry:
            images = BuildImages(
                spec,
                registry,
                Packages(client, registry),
                clock=self._clock,
                poll=self._poll,
                say=say,
            )
            before = images.before_build(deadline)
            if all(before.values()) and not spec.rebuild:
                say(f"every image already has tag {spec.tag}: no build needed (owns none)")
                return self._created(spec, props, None, owned={})
            if all(before.values()):
                say(
                    f"a replacement keeping tag {spec.tag}: building new images, so the old "
                    "resource's clean-up cannot remove the images this one uses"
                )
            driver = RunDriver(
                client,
                spec,
                poll=self._poll,
                rng=self._rng,
                say=say,
                no_run_details=self._no_run_details,
            )
            run = driver.build(deadline)
            # The run succeeded: recording what it pushed gets the cancel's budget past the
            # deadline, or a failed create would leave its images owned by nobody.
            grace = self._clock.monotonic() + self._poll.cancel_wait
            after = images.pushed(run.html_url, max(deadline, grace))
            say(f"build succeeded: {run.html_url}")
        if after is None:
            # Which versions the run pushed is unknown: destroy keeps them and says so.
            return self._created(spec, props, run, owned={}, unread=list(spec.images))
        # A digest the tag already had before the dispatch is not this run's: it was pushed
        # again (a reproducible build), so it stays whoever's it was.
        again = {name: d[0] for name, d in after.items() if d and d[0] == before.get(name)}
        if spec.rebuild and again:
            raise _reproduced_error(spec, run.html_url, again)
        owned = {name: d for name, d in after.items() if d and name not in again}
        return self._created(spec, props, run, owned=owned)

    def _sayer(self, environment: str) -> Callable[[str], None]:
        return lambda message: self._say(environment, message)

    def _created(
        self,
        spec: BuildSpec,
        props: Mapping[str, Any],
        run: Any,
        *,
        owned: dict[str, list[str]],
        unread: list[str] | None = None,
    ) -> CreateResult:
        # The run's head_sha is where its workflow file came from; it is the built commit only
        # when no {sha} tells the workflow what to check out (e.g. the seed's workflow).
        built_sha = spec.commit_sha if run is None or spec.passes_sha else run.head_sha
        outs = {k: normalized(props[k]) for k in INPUT_KEYS if k in props}
        outs.update(
            runId=run.id if run else 0,
            runUrl=run.html_url if run else "",
            commitSha=built_sha,
            requestedSha=spec.commit_sha,
            tag=spec.tag,
            images={name: f"{image.repository}:{spec.tag}" for name, image in spec.images.items()},
            imageRepositories={name: image.repository for name, image in spec.images.items()},
            skipped=run is None,
            missingImages=[],
            ownedImages=owned,
        )
        if unread:
            outs["unreadImages"] = unread
        return CreateResult(f"{spec.tag}@{run.id if run else 'existing'}", outs)

    # --- read (refresh) -----------------------------------------------------------------

    def read(self, id_: str, props: dict[str, Any]) -> ReadResult:
        environment = str(props.get("environment") or "?")
        tag = str(props.get("tag") or "")
        repositories: Mapping[str, str] = props.get("imageRepositories") or {}
        outs = {k: v for k, v in props.items() if k != PROVIDER_KEY}
        deadline = self._clock.monotonic() + self._poll.delete_timeout
        missing: list[str] = []
        client, registry = self._connect(environment)
        with client, registry:
            packages = Packages(client, registry)
            for name, repository in sorted(repositories.items()):
                image = ImageRepo.parse(repository)
                try:
                    try:
                        present = registry.digest(image, tag, deadline=deadline)
                    except RegistryError as exc:
                        if exc.denied:
                            raise
                        self._say(environment, f"{exc}; asking the Packages API instead")
                        present = packages.digest_of_tag(image, tag, deadline=deadline)
                except (GitHubApiError, RegistryError) as exc:
                    if getattr(exc, "status", 0) not in (401, 403):
                        raise
                    # A token without read:packages must not make every refresh fail.
                    self._say(
                        environment,
                        "WARNING: cannot read GHCR packages with this token (403), so refresh "
                        "cannot check that the images still exist; leaving missingImages as it "
                        "was. Give the token `read:packages`.",
                    )
                    return ReadResult(id_, outs)
                if present is None:
                    missing.append(name)
        if missing:
            self._say(
                environment,
                f"image(s) {', '.join(missing)} no longer have tag {tag}; the next "
                "`pulumi up` rebuilds them",
            )
        outs["missingImages"] = missing
        return ReadResult(id_, outs)

    # --- delete -------------------------------------------------------------------------

    def delete(self, _id: str, props: dict[str, Any]) -> None:
        environment = str(props.get("environment") or "?")
        tag = str(props.get("tag") or "")
        if not props.get("deleteImagesOnDestroy", True):
            self._say(environment, f"deleteImagesOnDestroy is false: keeping images tagged {tag}")
            return
        targets = owned_targets(props, self._sayer(environment))
        if not targets:
            return
        deadline = self._clock.monotonic() + self._poll.delete_timeout
        errors: list[str] = []
        client, registry = self._connect(environment)
        with client, registry:
            packages = Packages(client, registry)
            for repository, owns in sorted(targets.items()):
                try:
                    packages.delete_owned(
                        ImageRepo.parse(repository),
                        tag,
                        owns,
                        deadline=deadline,
                        say=self._sayer(environment),
                        untagged_unknown="ownedImages" in props,
                    )
                except ImageBuildError as exc:
                    errors.append(f"{repository}:{tag}: {exc}")
        if errors:
            raise ImageBuildError(
                "Could not delete this build's images:\n  - "
                + "\n  - ".join(errors)
                + "\nFix the cause and run `pulumi destroy` again; to keep the images instead, "
                "set tims-stack:build.deleteImagesOnDestroy to false and run `pulumi up` first."
            )
