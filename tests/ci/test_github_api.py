"""The scripts' GitHub client: pagination, errors that say what happened, no token leaks."""

from __future__ import annotations

import httpx
import pytest

from scripts.github_api import GitHubApi, GitHubApiError, check_repository, token_from_env
from tests.ci.conftest import TOKEN


def api_answering(handler) -> GitHubApi:
    return GitHubApi(TOKEN, "https://api.github.test", transport=httpx.MockTransport(handler))


def test_pagination_follows_every_next_link() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        page = int(request.url.params.get("page", "1"))
        headers = {}
        if page < 3:
            headers["Link"] = f'<https://api.github.test/items?page={page + 1}>; rel="next"'
        return httpx.Response(200, json=[page * 10, page * 10 + 1], headers=headers)

    with api_answering(handler) as api:
        assert list(api.paginate("/items")) == [10, 11, 20, 21, 30, 31]


def test_pagination_refuses_a_link_to_another_host() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, json=[1], headers={"Link": '<https://evil.test/x>; rel="next"'})

    with api_answering(handler) as api, pytest.raises(GitHubApiError, match="leaves the API host"):
        list(api.paginate("/items"))


def test_unexpected_status_names_method_path_status_and_githubs_message() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(403, json={"message": "API rate limit exceeded"})

    with api_answering(handler) as api, pytest.raises(GitHubApiError) as raised:
        api.request("GET", "/repos/a/b")
    message = str(raised.value)
    assert "GET /repos/a/b" in message
    assert "403" in message
    assert "API rate limit exceeded" in message
    assert raised.value.status == 403


def test_token_is_sent_as_bearer_and_never_shown() -> None:
    seen: list[str] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request.headers["Authorization"])
        raise httpx.ConnectError("boom", request=request)

    with api_answering(handler) as api, pytest.raises(GitHubApiError) as raised:
        api.request("GET", "/x")
    assert seen == [f"Bearer {TOKEN}"]
    assert TOKEN not in str(raised.value)
    assert TOKEN not in repr(api)


def test_missing_token_variable_is_named_in_the_error() -> None:
    with pytest.raises(GitHubApiError, match="GITHUB_TOKEN is empty or unset"):
        token_from_env("GITHUB_TOKEN", env={})


@pytest.mark.parametrize("bad", ["acme", "acme/tims/stack", "acme/", "a b/c", ""])
def test_repository_must_be_owner_slash_name(bad: str) -> None:
    with pytest.raises(ValueError, match="owner/name"):
        check_repository(bad)
