"""Orphan detection: open PRs keep their stack, closed and missing ones do not, errors stop."""

from __future__ import annotations

import pytest

from scripts.github_api import GitHubApi, GitHubApiError
from scripts.orphans import GitHubPrLookup, PrState, classify
from tests.ci.conftest import REPO, TOKEN, FakeGitHub


def test_open_pr_keeps_its_stack(fake_github: FakeGitHub, github_api: GitHubApi) -> None:
    fake_github.pulls = {12: "open"}
    [decision] = classify(["pr-12"], GitHubPrLookup(github_api, REPO))
    assert decision.state is PrState.OPEN
    assert not decision.orphan, "pr-12's PR is open: its stack must be kept"


def test_closed_pr_makes_its_stack_an_orphan(
    fake_github: FakeGitHub, github_api: GitHubApi
) -> None:
    fake_github.pulls = {12: "closed", 13: "open"}
    [decision] = classify(["pr-12"], GitHubPrLookup(github_api, REPO))
    assert decision.state is PrState.CLOSED
    assert decision.orphan, "pr-12's PR is closed: its stack is an orphan"


def test_missing_pr_makes_its_stack_an_orphan(
    fake_github: FakeGitHub, github_api: GitHubApi
) -> None:
    fake_github.pulls = {3: "open"}
    [decision] = classify(["pr-99"], GitHubPrLookup(github_api, REPO))
    assert decision.state is PrState.MISSING
    assert decision.orphan, "PR 99 does not exist: its stack is an orphan"


def test_stacks_not_named_pr_number_are_never_looked_up(
    fake_github: FakeGitHub, github_api: GitHubApi
) -> None:
    fake_github.pulls = {1: "open"}
    decisions = classify(["dev", "staging", "pr-x", "feature-1"], GitHubPrLookup(github_api, REPO))
    assert decisions == []
    looked_up = [r.url.path for r in fake_github.requests if "/pulls/" in r.url.path]
    assert looked_up == [], f"non-PR stacks were looked up: {looked_up}"


def test_each_pr_is_looked_up_once_for_several_stacks(
    fake_github: FakeGitHub, github_api: GitHubApi
) -> None:
    fake_github.pulls = {5: "closed"}
    decisions = classify(["pr-5", "acme/pr-5"], GitHubPrLookup(github_api, REPO))
    assert [d.stack for d in decisions] == ["pr-5", "acme/pr-5"]
    lookups = [r for r in fake_github.requests if r.url.path.endswith("/pulls/5")]
    assert len(lookups) == 1, f"PR 5 was looked up {len(lookups)} times"


@pytest.mark.parametrize("status", [401, 403, 429, 500, 502, 503])
def test_api_error_on_a_pr_lookup_raises(
    fake_github: FakeGitHub, github_api: GitHubApi, status: int
) -> None:
    fake_github.pulls = {1: "closed", 2: "closed"}
    fake_github.faults = {rf"/repos/{REPO}/pulls/2": status}
    with pytest.raises(GitHubApiError, match=str(status)):
        classify(["pr-1", "pr-2"], GitHubPrLookup(github_api, REPO))


def test_connection_error_raises(fake_github: FakeGitHub, github_api: GitHubApi) -> None:
    fake_github.pulls = {1: "closed"}
    fake_github.faults = {rf"/repos/{REPO}/pulls/1": 599}
    with pytest.raises(GitHubApiError, match="no answer from GitHub"):
        classify(["pr-1"], GitHubPrLookup(github_api, REPO))


def test_invisible_repository_raises_instead_of_reading_every_pr_as_missing(
    fake_github: FakeGitHub, github_api: GitHubApi
) -> None:
    # A token without access sees 404 for the repo AND for every PR in it.
    fake_github.repo_visible = False
    with pytest.raises(GitHubApiError, match="cannot read pull requests"):
        classify(["pr-1"], GitHubPrLookup(github_api, REPO))


def test_failing_pr_list_raises_instead_of_meaning_no_pr_is_open(
    fake_github: FakeGitHub, github_api: GitHubApi
) -> None:
    fake_github.pulls = {1: "open"}
    fake_github.faults = {rf"/repos/{REPO}/pulls": 502}
    with pytest.raises(GitHubApiError, match="502"):
        classify(["pr-1"], GitHubPrLookup(github_api, REPO))


def test_unexpected_pr_state_raises(fake_github: FakeGitHub, github_api: GitHubApi) -> None:
    fake_github.pulls = {4: "merged-ish"}
    with pytest.raises(GitHubApiError, match="unexpected state"):
        classify(["pr-4"], GitHubPrLookup(github_api, REPO))


def test_error_messages_never_contain_the_token(
    fake_github: FakeGitHub, github_api: GitHubApi
) -> None:
    fake_github.faults = {rf"/repos/{REPO}/pulls/1": 500}
    with pytest.raises(GitHubApiError) as raised:
        classify(["pr-1"], GitHubPrLookup(github_api, REPO))
    assert TOKEN not in str(raised.value)
    assert TOKEN not in repr(github_api)


def test_lookup_result_that_is_not_a_state_is_refused() -> None:
    with pytest.raises(TypeError, match="not a PrState"):
        classify(["pr-1"], lambda number: "open")  # type: ignore[arg-type,return-value]
