"""Clock, errors and the token wrapper shared by every ImageBuild module."""

from __future__ import annotations

import time
from typing import NoReturn, Protocol

DEFAULT_API_URL = "https://api.github.com"

CREDENTIALS_HELP = (
    "Set a valid token with `pulumi config set --secret github:token <token>` (or the "
    "GITHUB_TOKEN environment variable). GitHub Packages' REST API accepts only a classic "
    "personal access token: give it `repo` (dispatching a workflow needs it) plus "
    "`read:packages` and `delete:packages` (to find and clean up images in GHCR)."
)


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


class DeadlineError(ImageBuildError):
    """The deadline passed before a call could be made or retried."""


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


def remaining(clock: Clock, deadline: float) -> float:
    """Seconds left before `deadline` (a `clock.monotonic()` value), never negative."""
    return max(0.0, deadline - clock.monotonic())
