"""A small GitHub REST client for the CI scripts (PR lookups, PR comments).

Every non-expected status raises `GitHubApiError`: a script that cannot tell
what GitHub said must stop, never guess. The token lives only in the client's
default headers; it is never part of a message, a repr or a command line.
Tests pass an `httpx.MockTransport` as `transport`.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator, Mapping
from types import TracebackType
from typing import Any

import httpx

DEFAULT_API_URL = "https://api.github.com"
_REPO_RE = re.compile(r"^[A-Za-z0-9_.-]+/[A-Za-z0-9_.-]+$")


class GitHubApiError(RuntimeError):
    """GitHub answered something other than what the caller can act on, or did not answer."""

    def __init__(self, message: str, status: int | None = None) -> None:
        super().__init__(message)
        self.status = status


def check_repository(repo: str) -> str:
    """Return `repo` if it is `owner/name`, else raise ValueError saying what is allowed."""
    if not _REPO_RE.fullmatch(repo):
        raise ValueError(
            f"repository {repo!r} is not of the form owner/name "
            "(letters, digits, '.', '_' and '-' on each side of one '/')"
        )
    return repo


def token_from_env(variable: str = "GITHUB_TOKEN", env: Mapping[str, str] | None = None) -> str:
    """The token in `variable`, or a clear error naming the variable (never a value)."""
    source = os.environ if env is None else env
    token = source.get(variable, "").strip()
    if not token:
        raise GitHubApiError(
            f"environment variable {variable} is empty or unset: "
            "it must hold a GitHub token (in Actions: ${{ github.token }})"
        )
    return token


def _github_message(response: httpx.Response) -> str:
    try:
        body = response.json()
    except ValueError:
        return response.text[:200]
    if isinstance(body, dict) and isinstance(body.get("message"), str):
        return str(body["message"])
    return ""


class GitHubApi:
    """`GitHubApi(token)`; use as a context manager so the connection pool is closed."""

    def __init__(
        self,
        token: str,
        base_url: str | None = None,
        *,
        transport: httpx.BaseTransport | None = None,
        timeout: float = 30.0,
    ) -> None:
        url = (base_url or os.environ.get("GITHUB_API_URL") or DEFAULT_API_URL).rstrip("/")
        self._client = httpx.Client(
            base_url=url,
            headers={
                "Authorization": f"Bearer {token}",
                "Accept": "application/vnd.github+json",
                "X-GitHub-Api-Version": "2022-11-28",
                "User-Agent": "tims-stack-ci",
            },
            transport=transport,
            timeout=timeout,
        )

    def __repr__(self) -> str:
        return f"GitHubApi(base_url={str(self._client.base_url)!r})"

    def __enter__(self) -> GitHubApi:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def close(self) -> None:
        self._client.close()

    def request(
        self,
        method: str,
        path: str,
        *,
        expected: tuple[int, ...] = (200,),
        params: Mapping[str, str | int] | None = None,
        json: Any = None,
    ) -> httpx.Response:
        """Send one request; a status outside `expected` raises GitHubApiError."""
        try:
            response = self._client.request(method, path, params=params, json=json)
        except httpx.HTTPError as exc:
            raise GitHubApiError(
                f"{method} {path}: no answer from GitHub ({type(exc).__name__}: {exc})"
            ) from exc
        if response.status_code not in expected:
            message = _github_message(response)
            raise GitHubApiError(
                f"{method} {path}: GitHub answered {response.status_code}"
                + (f" ({message})" if message else "")
                + f", expected {' or '.join(str(s) for s in expected)}",
                status=response.status_code,
            )
        return response

    def paginate(
        self, path: str, params: Mapping[str, str | int] | None = None, *, key: str | None = None
    ) -> Iterator[Any]:
        """Yield the items of a list endpoint, following every `Link: rel="next"`.

        `key` names the list inside an object answer (e.g. `workflow_runs`).
        """
        response = self.request("GET", path, params={"per_page": 100, **(params or {})})
        while True:
            body = response.json()
            items = body.get(key) if key is not None and isinstance(body, dict) else body
            if not isinstance(items, list):
                raise GitHubApiError(
                    f"GET {path}: expected a JSON list, got {type(items).__name__}"
                )
            yield from items
            next_url = response.links.get("next", {}).get("url")
            if not next_url:
                return
            # The token goes with every request: never follow a link off the API host.
            if httpx.URL(next_url).host != self._client.base_url.host:
                raise GitHubApiError(f"GET {path}: pagination link leaves the API host: {next_url}")
            # The next link is absolute and carries the page parameters itself.
            response = self.request("GET", next_url)
