"""The GitHub REST client: retries, rate limits, deadlines and GitHub's own clock.

Why not a full SDK: the provider needs a dozen endpoints, an injectable clock (so a
10-minute build runs in no real time in tests and the benchmark), conditional requests,
and rate-limit handling that respects the build's deadline. Every call takes a deadline
(a `clock.monotonic()` value): nothing is sent, retried or waited for past it, and each
request's own timeout is cut to what is left.

GitHub's clock, not ours: each answer's `Date` header gives the offset between the local
clock and GitHub's (`server_time()`). Run-list `created` filters and `x-ratelimit-reset`
waits are computed on GitHub's clock, so a local clock minutes off changes nothing.

Retries (see `retry`) use tenacity: it takes the sleep function and the wait/stop
strategies as plain callables, so the virtual clock drives the backoff and a `Retry-After`
or `x-ratelimit-reset` wait can be weighed against the deadline before sleeping.

The token is wrapped in `Secret`, added to each request by an `httpx.Auth` and never put
into a message.
"""

from __future__ import annotations

import json
import random
import re
from collections import OrderedDict
from collections.abc import Callable, Generator, Iterator, Mapping
from dataclasses import dataclass
from typing import Any, NoReturn

import httpx

from .base import (
    CREDENTIALS_HELP,
    DEFAULT_API_URL,
    AmbiguousRequestError,
    Clock,
    DeadlineError,
    ImageBuildError,
    Secret,
    SystemClock,
)
from .retry import Retryable, RetryBudget, RetryPolicy, github_message, http_date

API_VERSION = "2022-11-28"
USER_AGENT = "tims-stack-imagebuild"
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
        self._retry = RetryPolicy(
            self.clock,
            # Jitter only spreads retries out; it needs no cryptographic randomness.
            rng or random.Random(),  # noqa: S311
            log or (lambda _message: None),
            max_attempts=max_attempts,
            max_rate_limit_waits=max_rate_limit_waits,
            backoff_initial=backoff_initial,
            backoff_cap=backoff_cap,
        )
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
        budget = RetryBudget(deadline=deadline)
        retrying = self._retry.retrying(method, self._display_path(url), budget)
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
        except Retryable as exc:
            self._retry.give_up(method, self._display_path(url), exc, budget)

    def _send_once(
        self,
        method: str,
        url: str,
        *,
        params: Mapping[str, str | int] | None,
        json_body: Any,
        idempotent: bool,
        conditional: bool,
        budget: RetryBudget,
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
            raise Retryable("transient", f"cannot connect ({type(exc).__name__})", None) from exc
        except httpx.TransportError as exc:
            if not idempotent:
                raise AmbiguousRequestError(
                    f"{method} {display}: the connection failed ({type(exc).__name__}) after "
                    "the request was sent, so GitHub may or may not have acted on it."
                ) from exc
            budget.transient_failures += 1
            raise Retryable("transient", f"connection failed ({type(exc).__name__})", None) from exc
        self._observe(response)
        status = response.status_code
        if status == 304 and cached is not None:
            return ApiResponse(304, response.headers, cached[1], cached[2], from_cache=True)
        rate_wait = self._retry.rate_limit_wait(response, self.server_time())
        if rate_wait is not None:
            budget.rate_limit_waits += 1
            raise Retryable(
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
            raise Retryable("transient", f"GitHub answered {status}", None)
        if status >= 400:
            RetryPolicy.raise_for_status(method, display, response)
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
