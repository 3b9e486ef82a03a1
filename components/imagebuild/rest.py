"""The GitHub REST client: retries, rate limits, deadlines and GitHub's own clock.

Why not a full SDK: the provider needs a dozen endpoints, an injectable clock (so a
10-minute build runs in no real time in tests and the benchmark), conditional requests,
and rate-limit handling that respects the build's deadline. Every call takes a deadline
(a `clock.monotonic()` value): nothing is sent, retried or waited for past it, and each
request's own timeout is cut to what is left.

GitHub's clock, not ours: each answer's `Date` header gives the offset between the local
clock and GitHub's (`server_time()`). Run-list `created` filters and `x-ratelimit-reset`
waits are computed on GitHub's clock, so a local clock minutes off changes nothing.

Retries use tenacity: it takes the sleep function and the wait/stop strategies as plain
callables, so the virtual clock drives the backoff and a `Retry-After` or
`x-ratelimit-reset` wait can be weighed against the deadline before sleeping.

The token is wrapped in `Secret`, added to each request by an `httpx.Auth` and never put
into a message.
"""

from __future__ import annotations

import email.utils
import json
import random
import re
from collections import OrderedDict
from collections.abc import Callable, Generator, Iterator, Mapping
from dataclasses import dataclass
from typing import Any, Literal, NoReturn

import httpx
import tenacity

from .base import (
    CREDENTIALS_HELP,
    DEFAULT_API_URL,
    AmbiguousRequestError,
    Clock,
    DeadlineError,
    GitHubApiError,
    ImageBuildError,
    NotFoundError,
    Secret,
    SystemClock,
)

API_VERSION = "2022-11-28"
USER_AGENT = "tims-stack-imagebuild"
# A secondary rate limit without any header: GitHub asks to wait at least a minute.
# https://docs.github.com/en/rest/using-the-rest-api/best-practices-for-using-the-rest-api
SECONDARY_LIMIT_DEFAULT_WAIT = 60.0
# One client serves one operation: the run it polls plus a few list pages.
ETAG_CACHE_SIZE = 16


class _BearerAuth(httpx.Auth):
    def __init__(self, token: Secret) -> None:
        self._token = token

    def auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response, None]:
        request.headers["Authorization"] = f"Bearer {self._token.reveal()}"
        yield request

    def __repr__(self) -> str:
        return "_BearerAuth(<redacted>)"


@dataclass(frozen=True)
class ApiResponse:
    status: int
    headers: httpx.Headers
    body: Any
    next_url: str | None
    from_cache: bool


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
    deadline: float
    transient_failures: int = 0
    rate_limit_waits: int = 0
    stop_reason: str | None = None
    # The wait before the next attempt, computed once per attempt (see `_next_wait`).
    next_wait: float = 0.0
    next_wait_attempt: int = 0


def github_message(response: httpx.Response) -> str:
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


def http_date(value: str | None) -> float | None:
    """Epoch seconds of an HTTP-date header value, or None."""
    if not value:
        return None
    try:
        return email.utils.parsedate_to_datetime(value).timestamp()
    except (TypeError, ValueError, IndexError):
        return None


class GitHubClient:
    """GitHub REST calls with retries; see the module docstring."""

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
    ) -> None:
        if not (token.reveal() if isinstance(token, Secret) else token):
            raise ImageBuildError(f"No GitHub token is configured. {CREDENTIALS_HELP}")
        if not re.match(r"^https?://[^/\s]+", base_url):
            raise ImageBuildError(
                f"github:baseUrl must be an http(s) URL such as {DEFAULT_API_URL} or "
                "https://ghe.example.com/api/v3 (GitHub Enterprise Server); got a value "
                "that is not."
            )
        self.token = token if isinstance(token, Secret) else Secret(token)
        self.base_url = base_url.rstrip("/")
        self.clock: Clock = clock or SystemClock()
        self._log = log or (lambda _message: None)
        self._max_attempts = max_attempts
        self._max_rate_limit_waits = max_rate_limit_waits
        self._backoff_initial = backoff_initial
        self._backoff_cap = backoff_cap
        # Jitter only spreads retries out; it needs no cryptographic randomness.
        self._rng = rng or random.Random()  # noqa: S311
        self._etags: OrderedDict[str, tuple[str, Any, str | None]] = OrderedDict()
        self._server_offset: float | None = None
        self.oauth_scopes: frozenset[str] | None = None
        """Scopes of a classic token (`X-OAuth-Scopes`); None when GitHub did not say."""
        self._http = httpx.Client(
            auth=_BearerAuth(self.token),
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

    def server_time(self) -> float:
        """Now on GitHub's clock (epoch), as far as its `Date` headers told; else ours."""
        return self.clock.time() + (self._server_offset or 0.0)

    def _observe(self, response: httpx.Response) -> None:
        date = http_date(response.headers.get("date"))
        if date is not None:
            self._server_offset = date - self.clock.time()
        scopes = response.headers.get("x-oauth-scopes")
        if scopes is not None:
            self.oauth_scopes = frozenset(s.strip() for s in scopes.split(",") if s.strip())

    def _url(self, path_or_url: str) -> str:
        if path_or_url.startswith(("http://", "https://")):
            # Link headers carry absolute URLs; never send the token to another host.
            if not path_or_url.startswith(self.base_url + "/"):
                raise ImageBuildError(
                    "GitHub returned a pagination link outside the configured API base URL; "
                    "refusing to follow it with the token. Check github:baseUrl."
                )
            return path_or_url
        return self.base_url + path_or_url

    def _display_path(self, url: str) -> str:
        return url[len(self.base_url) :] if url.startswith(self.base_url) else url

    def request(
        self,
        method: str,
        path: str,
        *,
        deadline: float,
        params: Mapping[str, str | int] | None = None,
        json_body: Any = None,
        idempotent: bool = True,
        conditional: bool = False,
    ) -> ApiResponse:
        """One API call with retries on 5xx, connection errors and rate limits, all before
        `deadline`. Non-idempotent calls are not retried after a failure that may have
        reached GitHub (`AmbiguousRequestError`)."""
        url = self._url(path)
        budget = _RetryBudget(deadline=deadline)
        retrying = tenacity.Retrying(
            sleep=self.clock.sleep,
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
        display = self._display_path(url)
        left = budget.deadline - self.clock.monotonic()
        if left <= 0:
            raise DeadlineError(f"GitHub {method} {display}: not sent, the deadline has passed.")
        timeout = httpx.Timeout(min(30.0, left), connect=min(10.0, left))
        request = self._http.build_request(
            method, url, params=params, json=json_body, timeout=timeout
        )
        cache_key = str(request.url)
        cached = self._etags.get(cache_key) if conditional and method == "GET" else None
        if cached is not None:
            request.headers["If-None-Match"] = cached[0]
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
        self._observe(response)
        status = response.status_code
        if status == 304 and cached is not None:
            return ApiResponse(304, response.headers, cached[1], cached[2], from_cache=True)
        rate_wait = self._rate_limit_wait(response)
        if rate_wait is not None:
            budget.rate_limit_waits += 1
            raise _Retryable(
                "rate_limit",
                f"rate limited ({status}: {github_message(response) or 'no message'})",
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
        return self._parsed(method, display, response, cache_key if conditional else None)

    def _parsed(
        self, method: str, display: str, response: httpx.Response, cache_key: str | None
    ) -> ApiResponse:
        body: Any = None
        if response.content:
            try:
                body = response.json()
            except (json.JSONDecodeError, UnicodeDecodeError) as exc:
                raise ImageBuildError(
                    f"{method} {display}: GitHub answered {response.status_code} with a body "
                    "that is not JSON. Check that github:baseUrl points at the REST API (for "
                    "GitHub Enterprise Server it ends in /api/v3)."
                ) from exc
        next_link = response.links.get("next", {}).get("url")
        etag = response.headers.get("etag")
        if cache_key is not None and method == "GET" and response.status_code == 200 and etag:
            self._etags[cache_key] = (etag, body, next_link)
            self._etags.move_to_end(cache_key)
            while len(self._etags) > ETAG_CACHE_SIZE:
                self._etags.popitem(last=False)
        return ApiResponse(response.status_code, response.headers, body, next_link, False)

    def _rate_limit_wait(self, response: httpx.Response) -> float | None:
        """Seconds GitHub asks us to wait, or None if this is not a rate-limit answer."""
        status = response.status_code
        if status not in (403, 429):
            return None
        headers = response.headers
        # GitHub's clock: reset times and HTTP-dates are GitHub's, not ours.
        now = http_date(headers.get("date")) or self.server_time()
        retry_after = (headers.get("retry-after") or "").strip()
        if retry_after.isdigit():
            return float(retry_after)
        when = http_date(retry_after)
        if when is not None:
            return max(0.0, when - now)
        if headers.get("x-ratelimit-remaining") == "0" and headers.get("x-ratelimit-reset"):
            try:
                return max(0.0, float(headers["x-ratelimit-reset"]) - now)
            except ValueError:
                return SECONDARY_LIMIT_DEFAULT_WAIT
        if status == 429 or "rate limit" in github_message(response).lower():
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
        if self.clock.monotonic() + wait > budget.deadline:
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
            left = max(0.0, budget.deadline - self.clock.monotonic())
            if exc.kind == "rate_limit":
                raise DeadlineError(
                    f"GitHub rate limit on {where}: GitHub asks to wait "
                    f"{exc.wait_hint or 0:.0f} s, which passes the deadline (in {left:.0f} s). "
                    "Wait until the limit resets (GET /rate_limit shows when), or raise "
                    "tims-stack:build.timeout, then run `pulumi up` again."
                ) from exc
            raise DeadlineError(
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
        message = github_message(response)
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
        deadline: float,
        params: Mapping[str, str | int] | None = None,
        conditional: bool = True,
    ) -> ApiResponse:
        return self.request("GET", path, params=params, deadline=deadline, conditional=conditional)

    def paginate(
        self,
        path: str,
        *,
        deadline: float,
        params: Mapping[str, str | int] | None = None,
        item_key: str | None = None,
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
