"""A small typed GitHub REST client for the ImageBuild provider.

Why not a full SDK: the provider needs a dozen endpoints, an injectable clock
(so a 10-minute build runs in no real time in tests and the benchmark),
conditional requests and rate-limit handling that respects the build's own
deadline. This module has no dependency on the rest of the project: its source
is shipped inside the serialized provider (see `image_build_provider`), so it
may only import the standard library and third-party packages.

Retries use tenacity rather than stamina: tenacity takes the sleep function
and the wait/stop strategies as plain callables, so the virtual clock drives
the backoff and a `Retry-After` or `x-ratelimit-reset` wait can be weighed
against the deadline before sleeping. stamina's sleeps are global (it can only
switch them off for tests) and it is itself a wrapper around tenacity.

The token never leaves this module in readable form: it is wrapped in
`Secret` (redacted repr, refuses to be pickled), added to each request by an
`httpx.Auth` and never put into a message.
"""

from __future__ import annotations

import email.utils
import json
import random
import re
import time
from collections import OrderedDict
from collections.abc import Callable, Generator, Iterator, Mapping
from dataclasses import dataclass
from typing import Any, Literal, NoReturn, Protocol
from urllib.parse import quote

import httpx
import tenacity

DEFAULT_API_URL = "https://api.github.com"
API_VERSION = "2022-11-28"
USER_AGENT = "tims-stack-imagebuild"

CREDENTIALS_HELP = (
    "Set a valid token with `pulumi config set --secret github:token <token>` (or the "
    "GITHUB_TOKEN environment variable). GitHub Packages' REST API accepts only a classic "
    "personal access token: give it `repo` (dispatching a workflow needs it) plus "
    "`read:packages` and `delete:packages` (to find and clean up images in GHCR)."
)

# A secondary rate limit without any header: GitHub asks to wait at least a minute.
# https://docs.github.com/en/rest/using-the-rest-api/best-practices-for-using-the-rest-api
SECONDARY_LIMIT_DEFAULT_WAIT = 60.0


class Clock(Protocol):
    """Time source; tests and the benchmark pass a virtual clock."""

    def time(self) -> float: ...
    def monotonic(self) -> float: ...
    def sleep(self, seconds: float) -> None: ...


class SystemClock:
    """The real clock."""

    def time(self) -> float:
        return time.time()

    def monotonic(self) -> float:
        return time.monotonic()

    def sleep(self, seconds: float) -> None:
        if seconds > 0:
            time.sleep(seconds)


class ImageBuildError(Exception):
    """A failure the user can act on: what happened, where, and what to do next."""


class GitHubApiError(ImageBuildError):
    """GitHub answered with an error status."""

    def __init__(
        self, message: str, *, status: int, method: str, path: str, github_message: str
    ) -> None:
        super().__init__(message)
        self.status = status
        self.method = method
        self.path = path
        self.github_message = github_message


class NotFoundError(GitHubApiError):
    """404: the thing does not exist, or the token may not see it."""


class AmbiguousRequestError(ImageBuildError):
    """A non-idempotent request failed in a way that leaves unknown whether GitHub acted on it."""


class Secret:
    """Holds the token. Its repr is redacted and it refuses to be pickled."""

    __slots__ = ("_value",)

    def __init__(self, value: str) -> None:
        self._value = value

    def reveal(self) -> str:
        return self._value

    def __repr__(self) -> str:
        return "<redacted>"

    __str__ = __repr__

    def __reduce__(self) -> NoReturn:
        raise TypeError("the GitHub token must never be serialized")


class _BearerAuth(httpx.Auth):
    def __init__(self, token: Secret) -> None:
        self._token = token

    def auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response, None]:
        request.headers["Authorization"] = f"Bearer {self._token.reveal()}"
        yield request

    def __repr__(self) -> str:
        return "_BearerAuth(<redacted>)"


# --- typed views of GitHub's answers -------------------------------------------------------


@dataclass(frozen=True)
class WorkflowRun:
    id: int
    name: str
    display_title: str
    status: str
    conclusion: str | None
    html_url: str
    head_sha: str
    head_branch: str | None
    event: str

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> WorkflowRun:
        return cls(
            id=int(data["id"]),
            name=str(data.get("name") or ""),
            display_title=str(data.get("display_title") or ""),
            status=str(data.get("status") or ""),
            conclusion=data.get("conclusion"),
            html_url=str(data.get("html_url") or ""),
            head_sha=str(data.get("head_sha") or ""),
            head_branch=data.get("head_branch"),
            event=str(data.get("event") or ""),
        )


@dataclass(frozen=True)
class JobStep:
    name: str
    status: str
    conclusion: str | None


@dataclass(frozen=True)
class Job:
    id: int
    name: str
    status: str
    conclusion: str | None
    html_url: str
    steps: tuple[JobStep, ...]

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Job:
        return cls(
            id=int(data["id"]),
            name=str(data.get("name") or ""),
            status=str(data.get("status") or ""),
            conclusion=data.get("conclusion"),
            html_url=str(data.get("html_url") or ""),
            steps=tuple(
                JobStep(
                    name=str(step.get("name") or ""),
                    status=str(step.get("status") or ""),
                    conclusion=step.get("conclusion"),
                )
                for step in data.get("steps") or []
            ),
        )


@dataclass(frozen=True)
class PackageVersion:
    id: int
    tags: tuple[str, ...]

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> PackageVersion:
        metadata = data.get("metadata") or {}
        container = metadata.get("container") or {}
        return cls(id=int(data["id"]), tags=tuple(str(t) for t in container.get("tags") or []))


@dataclass(frozen=True)
class DispatchResult:
    """What a dispatch answered: the run's id and URL when the server gave run details."""

    run_id: int | None
    html_url: str | None


@dataclass(frozen=True)
class PackageScope:
    """Where a container package lives in the Packages API: user, org or the token's owner."""

    kind: Literal["authenticated_user", "user", "org"]
    owner: str

    def package_path(self, package_name: str) -> str:
        # Nested names (`app/backend`) must be URL-encoded as one path segment.
        name = quote(package_name, safe="")
        if self.kind == "authenticated_user":
            return f"/user/packages/container/{name}"
        if self.kind == "org":
            return f"/orgs/{quote(self.owner, safe='')}/packages/container/{name}"
        return f"/users/{quote(self.owner, safe='')}/packages/container/{name}"

    @property
    def pages_accept_per_page(self) -> bool:
        # GitHub documents no per_page for /users/{username}/.../versions (it still pages
        # with Link headers), so only the documented endpoints get per_page=100.
        return self.kind != "user"


@dataclass(frozen=True)
class ApiResponse:
    status: int
    headers: httpx.Headers
    body: Any
    next_url: str | None
    from_cache: bool


# --- retry machinery ----------------------------------------------------------------------


class _Retryable(Exception):
    """An answer worth retrying: a transient failure or a rate limit with a wait hint."""

    def __init__(
        self, kind: Literal["transient", "rate_limit"], detail: str, wait_hint: float | None
    ) -> None:
        super().__init__(detail)
        self.kind = kind
        self.detail = detail
        self.wait_hint = wait_hint


@dataclass
class _RetryBudget:
    deadline: float | None
    transient_failures: int = 0
    rate_limit_waits: int = 0
    stop_reason: str | None = None
    # The wait before the next attempt, computed once per attempt (see `_next_wait`).
    next_wait: float = 0.0
    next_wait_attempt: int = 0


def _github_message(response: httpx.Response) -> str:
    try:
        data = response.json()
    except (json.JSONDecodeError, UnicodeDecodeError):
        return response.text[:300].strip()
    if isinstance(data, dict):
        message = str(data.get("message") or "")
        errors = data.get("errors")
        if errors:
            message = f"{message} {json.dumps(errors)[:300]}"
        return message.strip()
    return ""


def _parse_retry_after(value: str, now: float) -> float | None:
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - now)


class GitHubClient:
    """GitHub REST calls the ImageBuild provider makes; see the module docstring."""

    def __init__(
        self,
        token: str | Secret,
        base_url: str = DEFAULT_API_URL,
        *,
        clock: Clock | None = None,
        transport: httpx.BaseTransport | None = None,
        log: Callable[[str], None] | None = None,
        max_attempts: int = 6,
        max_rate_limit_waits: int = 8,
        backoff_initial: float = 1.0,
        backoff_cap: float = 20.0,
        rng: random.Random | None = None,
        etag_cache_size: int = 256,
    ) -> None:
        if not (token.reveal() if isinstance(token, Secret) else token):
            raise ImageBuildError(f"No GitHub token is configured. {CREDENTIALS_HELP}")
        if not re.match(r"^https?://[^/\s]+", base_url):
            raise ImageBuildError(
                f"github:baseUrl must be an http(s) URL such as {DEFAULT_API_URL} or "
                "https://ghe.example.com/api/v3 (GitHub Enterprise Server); got a value "
                "that is not."
            )
        self._token = token if isinstance(token, Secret) else Secret(token)
        self._base_url = base_url.rstrip("/")
        self._clock: Clock = clock or SystemClock()
        self._log = log or (lambda _message: None)
        self._max_attempts = max_attempts
        self._max_rate_limit_waits = max_rate_limit_waits
        self._backoff_initial = backoff_initial
        self._backoff_cap = backoff_cap
        # Jitter only spreads retries out; it needs no cryptographic randomness.
        self._rng = rng or random.Random()  # noqa: S311
        self._etags: OrderedDict[str, tuple[str, Any, str | None]] = OrderedDict()
        self._etag_cache_size = etag_cache_size
        self._login: str | None = None
        self._scopes: dict[str, PackageScope] = {}
        self._http = httpx.Client(
            auth=_BearerAuth(self._token),
            transport=transport,
            timeout=httpx.Timeout(30.0, connect=10.0),
            follow_redirects=True,
            headers={
                "Accept": "application/vnd.github+json",
                "X-GitHub-Api-Version": API_VERSION,
                "User-Agent": USER_AGENT,
            },
        )

    def __repr__(self) -> str:
        return "GitHubClient(token=<redacted>)"

    def __reduce__(self) -> NoReturn:
        raise TypeError("a GitHubClient holds a token and must never be serialized")

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> GitHubClient:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()

    @property
    def clock(self) -> Clock:
        return self._clock

    # --- core -------------------------------------------------------------------------

    def _url(self, path_or_url: str) -> str:
        if path_or_url.startswith(("http://", "https://")):
            # Link headers carry absolute URLs; never send the token to another host.
            if not path_or_url.startswith(self._base_url + "/"):
                raise ImageBuildError(
                    "GitHub returned a pagination link outside the configured API base URL; "
                    "refusing to follow it with the token. Check github:baseUrl."
                )
            return path_or_url
        return self._base_url + path_or_url

    def _display_path(self, url: str) -> str:
        return url[len(self._base_url) :] if url.startswith(self._base_url) else url

    def request(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, str | int] | None = None,
        json_body: Any = None,
        deadline: float | None = None,
        idempotent: bool = True,
        conditional: bool = False,
    ) -> ApiResponse:
        """One API call with retries on 5xx, connection errors and rate limits.

        `deadline` is a `clock.monotonic()` value: a retry whose wait would pass it is not
        attempted and an `ImageBuildError` says so. Non-idempotent calls are not retried
        after a failure that may have reached GitHub (`AmbiguousRequestError`).
        """
        url = self._url(path)
        budget = _RetryBudget(deadline=deadline)
        retrying = tenacity.Retrying(
            sleep=self._clock.sleep,
            retry=tenacity.retry_if_exception_type(_Retryable),
            wait=lambda state: self._next_wait(state, budget),
            stop=lambda state: self._should_stop(state, budget),
            before_sleep=lambda state: self._announce_retry(method, url, state, budget),
            reraise=True,
        )
        try:
            return retrying(
                self._send_once,
                method,
                url,
                params=params,
                json_body=json_body,
                idempotent=idempotent,
                conditional=conditional,
                budget=budget,
            )
        except _Retryable as exc:
            self._give_up(method, url, exc, budget)

    def _send_once(
        self,
        method: str,
        url: str,
        *,
        params: Mapping[str, str | int] | None,
        json_body: Any,
        idempotent: bool,
        conditional: bool,
        budget: _RetryBudget,
    ) -> ApiResponse:
        request = self._http.build_request(method, url, params=params, json=json_body)
        cache_key = str(request.url)
        cached = self._etags.get(cache_key) if conditional and method == "GET" else None
        if cached is not None:
            request.headers["If-None-Match"] = cached[0]
        display = self._display_path(url)
        try:
            response = self._http.send(request)
        except (httpx.ConnectError, httpx.ConnectTimeout) as exc:
            # The request never reached GitHub: safe to retry even a dispatch.
            budget.transient_failures += 1
            raise _Retryable("transient", f"cannot connect ({type(exc).__name__})", None) from exc
        except httpx.TransportError as exc:
            if not idempotent:
                raise AmbiguousRequestError(
                    f"{method} {display}: the connection failed ({type(exc).__name__}) after "
                    "the request was sent, so GitHub may or may not have acted on it."
                ) from exc
            budget.transient_failures += 1
            raise _Retryable(
                "transient", f"connection failed ({type(exc).__name__})", None
            ) from exc

        status = response.status_code
        if status == 304 and cached is not None:
            return ApiResponse(304, response.headers, cached[1], cached[2], from_cache=True)
        rate_wait = self._rate_limit_wait(response)
        if rate_wait is not None:
            budget.rate_limit_waits += 1
            raise _Retryable(
                "rate_limit",
                f"rate limited ({status}: {_github_message(response) or 'no message'})",
                rate_wait,
            )
        if status >= 500:
            if not idempotent:
                raise AmbiguousRequestError(
                    f"{method} {display}: GitHub answered {status}, so it may or may not "
                    "have acted on the request."
                )
            budget.transient_failures += 1
            raise _Retryable("transient", f"GitHub answered {status}", None)
        if status >= 400:
            self._raise_for_status(method, display, response)

        body: Any = None
        if response.content:
            try:
                body = response.json()
            except (json.JSONDecodeError, UnicodeDecodeError) as exc:
                raise ImageBuildError(
                    f"{method} {display}: GitHub answered {status} with a body that is not "
                    "JSON. Check that github:baseUrl points at the REST API (for GitHub "
                    "Enterprise Server it ends in /api/v3)."
                ) from exc
        next_link = response.links.get("next", {}).get("url")
        etag = response.headers.get("etag")
        if conditional and method == "GET" and status == 200 and etag:
            self._etags[cache_key] = (etag, body, next_link)
            self._etags.move_to_end(cache_key)
            while len(self._etags) > self._etag_cache_size:
                self._etags.popitem(last=False)
        return ApiResponse(status, response.headers, body, next_link, from_cache=False)

    def _rate_limit_wait(self, response: httpx.Response) -> float | None:
        """Seconds GitHub asks us to wait, or None if this is not a rate-limit answer."""
        status = response.status_code
        if status not in (403, 429):
            return None
        headers = response.headers
        now = self._clock.time()
        retry_after = headers.get("retry-after")
        if retry_after is not None:
            parsed = _parse_retry_after(retry_after, now)
            if parsed is not None:
                return parsed
        if headers.get("x-ratelimit-remaining") == "0" and headers.get("x-ratelimit-reset"):
            try:
                return max(0.0, float(headers["x-ratelimit-reset"]) - now)
            except ValueError:
                return SECONDARY_LIMIT_DEFAULT_WAIT
        if status == 429 or "rate limit" in _github_message(response).lower():
            return SECONDARY_LIMIT_DEFAULT_WAIT
        return None  # a plain 403: a permission problem

    def _next_wait(self, state: tenacity.RetryCallState, budget: _RetryBudget) -> float:
        # The stop decision needs this wait too. Computed here once per attempt, from the
        # long-standing `attempt_number` and `outcome` only: this code is serialized into
        # state and may run under another tenacity, whose order of calling wait and stop (and
        # its newer `upcoming_sleep`) may differ.
        if budget.next_wait_attempt != state.attempt_number:
            budget.next_wait = self._wait_for(state, budget)
            budget.next_wait_attempt = state.attempt_number
        return budget.next_wait

    def _wait_for(self, state: tenacity.RetryCallState, budget: _RetryBudget) -> float:
        exc = state.outcome.exception() if state.outcome else None
        if isinstance(exc, _Retryable) and exc.wait_hint is not None:
            # Honour GitHub's wait, plus a little jitter so parallel clients spread out.
            return exc.wait_hint + self._rng.uniform(0.0, 1.0)
        # Exponential backoff with "equal jitter": half fixed, half random.
        failures = max(1, budget.transient_failures)
        ceiling = min(self._backoff_cap, self._backoff_initial * 2.0 ** (failures - 1))
        return ceiling / 2 + self._rng.uniform(0.0, ceiling / 2)

    def _should_stop(self, state: tenacity.RetryCallState, budget: _RetryBudget) -> bool:
        wait = self._next_wait(state, budget)
        if budget.transient_failures >= self._max_attempts:
            budget.stop_reason = "attempts"
            return True
        if budget.rate_limit_waits > self._max_rate_limit_waits:
            budget.stop_reason = "rate_limit_waits"
            return True
        if budget.deadline is not None and self._clock.monotonic() + wait > budget.deadline:
            budget.stop_reason = "deadline"
            return True
        return False

    def _announce_retry(
        self, method: str, url: str, state: tenacity.RetryCallState, budget: _RetryBudget
    ) -> None:
        exc = state.outcome.exception() if state.outcome else None
        detail = exc.detail if isinstance(exc, _Retryable) else "error"
        self._log(
            f"GitHub {method} {self._display_path(url)}: {detail}; "
            f"retrying in {budget.next_wait:.0f} s"
        )

    def _give_up(self, method: str, url: str, exc: _Retryable, budget: _RetryBudget) -> NoReturn:
        where = f"{method} {self._display_path(url)}"
        if budget.stop_reason == "deadline":
            remaining = max(0.0, (budget.deadline or 0.0) - self._clock.monotonic())
            if exc.kind == "rate_limit":
                raise ImageBuildError(
                    f"GitHub rate limit on {where}: GitHub asks to wait "
                    f"{exc.wait_hint or 0:.0f} s, which passes the deadline (in "
                    f"{remaining:.0f} s). Wait until the limit resets (GET /rate_limit shows "
                    "when), or raise "
                    "tims-stack:build.timeoutSeconds, then run `pulumi up` again."
                ) from exc
            raise ImageBuildError(
                f"GitHub {where} kept failing ({exc.detail}) until the deadline. GitHub may be "
                "having trouble (https://www.githubstatus.com): run `pulumi up` again later."
            ) from exc
        if budget.stop_reason == "rate_limit_waits":
            raise ImageBuildError(
                f"GitHub kept rate-limiting {where} after {budget.rate_limit_waits} waits. "
                "Another client may be using the same token heavily: wait for the limit to "
                "reset (GET /rate_limit), then run `pulumi up` again."
            ) from exc
        raise ImageBuildError(
            f"GitHub {where} failed {budget.transient_failures} times in a row (last: "
            f"{exc.detail}). GitHub may be having trouble (https://www.githubstatus.com): "
            "run `pulumi up` again later."
        ) from exc

    def _raise_for_status(self, method: str, path: str, response: httpx.Response) -> NoReturn:
        status = response.status_code
        message = _github_message(response)
        shown = f" ({status}: {message})" if message else f" ({status})"
        kwargs: dict[str, Any] = {
            "status": status,
            "method": method,
            "path": path,
            "github_message": message,
        }
        if status == 401:
            raise GitHubApiError(
                f"GitHub rejected the token for {method} {path}{shown}. {CREDENTIALS_HELP}",
                **kwargs,
            )
        if status == 404:
            raise NotFoundError(f"GitHub {method} {path}: not found{shown}.", **kwargs)
        if status == 403:
            raise GitHubApiError(
                f"GitHub refused {method} {path}{shown}: the token lacks a permission "
                f"for it. {CREDENTIALS_HELP}",
                **kwargs,
            )
        raise GitHubApiError(f"GitHub {method} {path} failed{shown}.", **kwargs)

    def get(
        self,
        path: str,
        *,
        params: Mapping[str, str | int] | None = None,
        deadline: float | None = None,
        conditional: bool = True,
    ) -> ApiResponse:
        return self.request("GET", path, params=params, deadline=deadline, conditional=conditional)

    def paginate(
        self,
        path: str,
        *,
        params: Mapping[str, str | int] | None = None,
        item_key: str | None = None,
        deadline: float | None = None,
        conditional: bool = True,
        max_pages: int = 1000,
    ) -> Iterator[Any]:
        """Items of every page, following Link rel="next" (whose URL carries the query)."""
        next_path: str | None = path
        next_params = params
        for _ in range(max_pages):
            if next_path is None:
                return
            response = self.get(
                next_path, params=next_params, deadline=deadline, conditional=conditional
            )
            items = response.body.get(item_key, []) if item_key else response.body
            yield from items or []
            next_path, next_params = response.next_url, None
        raise ImageBuildError(f"GET {path}: more than {max_pages} pages; refusing to go on.")

    # --- Actions ----------------------------------------------------------------------

    def dispatch_workflow(
        self,
        repository: str,
        workflow: str,
        ref: str,
        inputs: Mapping[str, str],
        *,
        return_run_details: bool,
        deadline: float | None,
    ) -> DispatchResult:
        body: dict[str, Any] = {"ref": ref, "inputs": dict(inputs)}
        if return_run_details:
            body["return_run_details"] = True
        response = self.request(
            "POST",
            f"/repos/{repository}/actions/workflows/{quote(workflow, safe='')}/dispatches",
            json_body=body,
            deadline=deadline,
            idempotent=False,
        )
        if response.status == 200 and isinstance(response.body, dict):
            run_id = response.body.get("workflow_run_id")
            if run_id is not None:
                return DispatchResult(int(run_id), response.body.get("html_url"))
        return DispatchResult(None, None)

    def get_run(self, repository: str, run_id: int, *, deadline: float | None) -> WorkflowRun:
        response = self.get(f"/repos/{repository}/actions/runs/{run_id}", deadline=deadline)
        return WorkflowRun.from_json(response.body)

    def list_dispatched_runs(
        self, repository: str, workflow: str, *, created_since: str, deadline: float | None
    ) -> Iterator[WorkflowRun]:
        for item in self.paginate(
            f"/repos/{repository}/actions/workflows/{quote(workflow, safe='')}/runs",
            params={"event": "workflow_dispatch", "created": f">={created_since}", "per_page": 100},
            item_key="workflow_runs",
            deadline=deadline,
        ):
            yield WorkflowRun.from_json(item)

    def cancel_run(self, repository: str, run_id: int, *, deadline: float | None) -> bool:
        """Ask GitHub to cancel a run; False when it had already completed (409)."""
        try:
            self.request(
                "POST", f"/repos/{repository}/actions/runs/{run_id}/cancel", deadline=deadline
            )
        except GitHubApiError as exc:
            if exc.status == 409:
                return False
            raise
        return True

    def list_jobs(self, repository: str, run_id: int, *, deadline: float | None) -> list[Job]:
        return [
            Job.from_json(item)
            for item in self.paginate(
                f"/repos/{repository}/actions/runs/{run_id}/jobs",
                params={"filter": "latest", "per_page": 100},
                item_key="jobs",
                deadline=deadline,
            )
        ]

    # --- Packages ---------------------------------------------------------------------

    def authenticated_login(self, *, deadline: float | None) -> str:
        if self._login is None:
            self._login = str(self.get("/user", deadline=deadline).body["login"])
        return self._login

    def package_scope(self, owner: str, *, deadline: float | None) -> PackageScope:
        """Which Packages API endpoints serve `owner`'s packages (user, org, or the token's)."""
        key = owner.lower()
        if key not in self._scopes:
            if self.authenticated_login(deadline=deadline).lower() == key:
                scope = PackageScope("authenticated_user", owner)
            else:
                account = self.get(f"/users/{quote(owner, safe='')}", deadline=deadline).body
                kind: Literal["org", "user"] = (
                    "org" if account.get("type") == "Organization" else "user"
                )
                scope = PackageScope(kind, owner)
            self._scopes[key] = scope
        return self._scopes[key]

    def package_versions(
        self, scope: PackageScope, package_name: str, *, deadline: float | None
    ) -> list[PackageVersion] | None:
        """Every version of the container package (all pages), or None if it does not exist."""
        params: dict[str, str | int] = {"per_page": 100} if scope.pages_accept_per_page else {}
        try:
            return [
                PackageVersion.from_json(item)
                for item in self.paginate(
                    f"{scope.package_path(package_name)}/versions",
                    params=params or None,
                    deadline=deadline,
                    # Versions change under us while deleting: always ask afresh.
                    conditional=False,
                )
            ]
        except NotFoundError:
            return None

    def delete_package_version(
        self, scope: PackageScope, package_name: str, version_id: int, *, deadline: float | None
    ) -> None:
        self.request(
            "DELETE",
            f"{scope.package_path(package_name)}/versions/{version_id}",
            deadline=deadline,
        )

    def delete_package(
        self, scope: PackageScope, package_name: str, *, deadline: float | None
    ) -> None:
        self.request("DELETE", scope.package_path(package_name), deadline=deadline)
