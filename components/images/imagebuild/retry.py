"""How the GitHub client retries: what is worth retrying, how long to wait, when to stop.

A transient failure (5xx, connection error) backs off exponentially with jitter; a rate
limit waits as long as GitHub asks (`Retry-After`, or `x-ratelimit-reset` measured on
GitHub's clock from the answer's `Date`); nothing waits past the call's deadline.
"""

from __future__ import annotations

import email.utils
import json
import random
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC
from typing import Any, Literal, NoReturn

import httpx
import tenacity

from .base import (
    CREDENTIALS_HELP,
    Clock,
    DeadlineError,
    GitHubApiError,
    ImageBuildError,
    NotFoundError,
)

# A secondary rate limit without any header: GitHub asks to wait at least a minute.
# https://docs.github.com/en/rest/using-the-rest-api/best-practices-for-using-the-rest-api
SECONDARY_LIMIT_DEFAULT_WAIT = 60.0


class Retryable(Exception):
    """An answer worth retrying: a transient failure or a rate limit with a wait hint."""

    def __init__(
        self, kind: Literal["transient", "rate_limit"], detail: str, wait_hint: float | None
    ) -> None:
        super().__init__(detail)
        self.kind = kind
        self.detail = detail
        self.wait_hint = wait_hint


@dataclass
class RetryBudget:
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
        parsed = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    # RFC 9110 dates are GMT; a zone the parser leaves naive ("-0000") is not local time.
    return (parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)).timestamp()


class RetryPolicy:
    """Wait and stop decisions of one client (tenacity callables), and its error texts."""

    def __init__(
        self,
        clock: Clock,
        rng: random.Random,
        log: Callable[[str], None],
        *,
        max_attempts: int,
        max_rate_limit_waits: int,
        backoff_initial: float,
        backoff_cap: float,
    ) -> None:
        self._clock = clock
        self._rng = rng
        self._log = log
        self._max_attempts = max_attempts
        self._max_rate_limit_waits = max_rate_limit_waits
        self._backoff_initial = backoff_initial
        self._backoff_cap = backoff_cap

    def retrying(self, method: str, display: str, budget: RetryBudget) -> tenacity.Retrying:
        return tenacity.Retrying(
            sleep=self._clock.sleep,
            retry=tenacity.retry_if_exception_type(Retryable),
            wait=lambda state: self._next_wait(state, budget),
            stop=lambda state: self._should_stop(state, budget),
            before_sleep=lambda state: self._announce_retry(method, display, state, budget),
            reraise=True,
        )

    def rate_limit_wait(self, response: httpx.Response, server_now: float) -> float | None:
        """Seconds GitHub asks us to wait, or None if this is not a rate-limit answer."""
        status = response.status_code
        if status not in (403, 429):
            return None
        headers = response.headers
        # GitHub's clock: reset times and HTTP-dates are GitHub's, not ours.
        now = http_date(headers.get("date")) or server_now
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

    def _next_wait(self, state: tenacity.RetryCallState, budget: RetryBudget) -> float:
        # The stop decision needs this wait too. Computed here once per attempt, from the
        # long-standing `attempt_number` and `outcome` only: this code is serialized into
        # state and may run under another tenacity, whose order of calling wait and stop (and
        # its newer `upcoming_sleep`) may differ.
        if budget.next_wait_attempt != state.attempt_number:
            budget.next_wait = self._wait_for(state, budget)
            budget.next_wait_attempt = state.attempt_number
        return budget.next_wait

    def _wait_for(self, state: tenacity.RetryCallState, budget: RetryBudget) -> float:
        exc = state.outcome.exception() if state.outcome else None
        if isinstance(exc, Retryable) and exc.wait_hint is not None:
            # Honour GitHub's wait, plus a little jitter so parallel clients spread out.
            return exc.wait_hint + self._rng.uniform(0.0, 1.0)
        # Exponential backoff with "equal jitter": half fixed, half random.
        failures = max(1, budget.transient_failures)
        ceiling = min(self._backoff_cap, self._backoff_initial * 2.0 ** (failures - 1))
        return ceiling / 2 + self._rng.uniform(0.0, ceiling / 2)

    def _should_stop(self, state: tenacity.RetryCallState, budget: RetryBudget) -> bool:
        wait = self._next_wait(state, budget)
        if budget.transient_failures >= self._max_attempts:
            budget.stop_reason = "attempts"
            return True
        if budget.rate_limit_waits > self._max_rate_limit_waits:
            budget.stop_reason = "rate_limit_waits"
            return True
        if self._clock.monotonic() + wait > budget.deadline:
            budget.stop_reason = "deadline"
            return True
        return False

    def _announce_retry(
        self, method: str, display: str, state: tenacity.RetryCallState, budget: RetryBudget
    ) -> None:
        exc = state.outcome.exception() if state.outcome else None
        detail = exc.detail if isinstance(exc, Retryable) else "error"
        self._log(f"GitHub {method} {display}: {detail}; retrying in {budget.next_wait:.0f} s")

    def give_up(self, method: str, display: str, exc: Retryable, budget: RetryBudget) -> NoReturn:
        where = f"{method} {display}"
        if budget.stop_reason == "deadline":
            left = max(0.0, budget.deadline - self._clock.monotonic())
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

    @staticmethod
    def raise_for_status(method: str, path: str, response: httpx.Response) -> NoReturn:
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
