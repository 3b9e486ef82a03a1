"""TTL: stop after N days without a push, destroy after M, a PR comment before each step."""

from __future__ import annotations

import dataclasses
import io
import json
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from scripts.github_api import GitHubApi, GitHubApiError
from scripts.lock_holders import WorkflowRun
from scripts.orphans import GitHubPrLookup, PrState, PullRequest
from scripts.pr_checkout import CheckoutError, NotDeployed
from scripts.pr_comment import DEFAULT_BOT_LOGIN, find_marked, upsert_comment
from scripts.sweep import Expiry, SweepError, sweep
from scripts.ttl import (
    MARKER,
    TtlAction,
    TtlConfigError,
    TtlPolicy,
    TtlState,
    comment_body,
    decide,
    recorded_state,
)
from scripts.ttl_pass import github_expiry
from tests.ci.conftest import REPO, FakeGitHub

NOW = datetime(2026, 12, 2, 3, 17, tzinfo=UTC)
POLICY = TtlPolicy(stop_after_days=7, destroy_after_days=21)
SHA = "a" * 40


def ttl(
    idle_days: float,
    *,
    labels: Sequence[str] = (),
    recorded: TtlState | None = None,
    policy: TtlPolicy = POLICY,
) -> TtlAction:
    return decide(
        policy,
        last_push=NOW - timedelta(days=idle_days),
        now=NOW,
        labels=frozenset(labels),
        head_sha=SHA,
        recorded=recorded,
    )


@pytest.mark.parametrize(
    ("idle", "expected"),
    [(0, TtlAction.NONE), (6.9, TtlAction.NONE), (7, TtlAction.STOP), (20.9, TtlAction.STOP)],
)
def test_an_environment_is_stopped_after_n_days_without_a_push(
    idle: float, expected: TtlAction
) -> None:
    assert ttl(idle) is expected


def test_an_environment_is_destroyed_after_m_days_without_a_push() -> None:
    assert ttl(21) is TtlAction.DESTROY


def test_keep_running_prevents_the_stop_but_not_the_destroy() -> None:
    assert ttl(10, labels=["keep-running"]) is TtlAction.NONE
    assert ttl(30, labels=["keep-running"]) is TtlAction.DESTROY


def test_an_environment_already_stopped_at_this_commit_is_not_stopped_again() -> None:
    assert ttl(10, recorded=TtlState(TtlAction.STOP, SHA)) is TtlAction.NONE
    assert ttl(10, recorded=TtlState(TtlAction.STOP, "b" * 40)) is TtlAction.STOP


def test_zero_days_turns_a_step_off() -> None:
    assert ttl(100, policy=TtlPolicy(0, 0)) is TtlAction.NONE
    assert ttl(100, policy=TtlPolicy(7, 0)) is TtlAction.STOP


def test_defaults_are_7_and_21_days() -> None:
    assert TtlPolicy.from_env({}) == TtlPolicy(7, 21)


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"PR_STOP_AFTER_DAYS": "a week"}, "PR_STOP_AFTER_DAYS is 'a week'"),
        ({"PR_DESTROY_AFTER_DAYS": "-3"}, "PR_DESTROY_AFTER_DAYS is '-3'"),
        ({"PR_STOP_AFTER_DAYS": "10", "PR_DESTROY_AFTER_DAYS": "5"}, "must be more than"),
    ],
)
def test_bad_ttl_variables_are_named(env: dict[str, str], message: str) -> None:
    with pytest.raises(TtlConfigError, match=message):
        TtlPolicy.from_env(env)


@pytest.mark.parametrize("action", [TtlAction.STOP, TtlAction.DESTROY])
def test_the_comment_records_the_step_and_the_commit(action: TtlAction) -> None:
    body = comment_body(
        action, stack="pr-4", policy=POLICY, last_push=NOW - timedelta(days=30), head_sha=SHA
    )
    assert body.startswith(MARKER)
    assert recorded_state(body) == TtlState(action, SHA)
    assert "pr-4" in body


# --------------------------------------------------------------------------- in the sweep


class FakePulumi:
    def __init__(self, stacks: Sequence[str], github: FakeGitHub) -> None:
        self.stacks = stacks
        self.github = github
        self.log: list[str] = []
        self.commands: list[list[str]] = []

    def __call__(self, command: Sequence[str]) -> str:
        command = list(command)
        if command[1:3] == ["stack", "ls"]:
            return json.dumps([{"name": s} for s in self.stacks])
        self.commands.append(command)
        # What the PR's comments looked like when the command ran.
        self.log.append(f"{' '.join(command[:3])} after {len(self.github.comments)} comments")
        return ""


PR_CHECKOUTS = Path("/runner/temp/tims-stack-prs")


def expiry_for(
    fake: FakeGitHub,
    api: GitHubApi,
    prepared: list[tuple[str, str, Path]],
    busy: dict[int, list[WorkflowRun]] | None = None,
) -> Expiry:
    lookup = GitHubPrLookup(api, REPO)

    def read(number: int) -> str | None:
        found = find_marked(api, REPO, number, DEFAULT_BOT_LOGIN, MARKER)
        return None if found is None else found[1]

    return Expiry(
        policy=POLICY,
        now=NOW,
        pull=lookup.pull,
        last_push=lookup.last_push,
        read_comment=read,
        post_comment=lambda n, body: upsert_comment(api, REPO, n, body, marker=MARKER),
        busy=lambda pr: (busy or {}).get(pr.number, []),
        checkout=lambda pull: PR_CHECKOUTS / f"pr-{pull.number}",
        prepare=lambda stack, ref, directory: prepared.append((stack, ref, directory)),
        build_ref="",
    )


def idle_pr(fake: FakeGitHub, number: int, days: int, sha: str = SHA) -> None:
    fake.pulls[number] = "open"
    fake.heads[number] = (f"feat-{number}", sha, [])
    fake.commit_dates[sha] = (NOW - timedelta(days=days)).strftime("%Y-%m-%dT%H:%M:%SZ")


def run(
    fake: FakeGitHub,
    api: GitHubApi,
    stacks: Sequence[str],
    *,
    dry_run: bool = False,
    expiry: Expiry | None = None,
) -> tuple[FakePulumi, str]:
    """One sweep with the TTL pass (`expiry_for`'s unless given); its commands and output."""
    pulumi = FakePulumi(stacks, fake)
    out = io.StringIO()
    lookup = GitHubPrLookup(api, REPO)
    expiry = expiry or expiry_for(fake, api, [])
    sweep(lookup, pulumi, dry_run=dry_run, out=out, expiry=expiry)
    return pulumi, out.getvalue()


def test_the_sweep_comments_then_stops_an_idle_environment(
    fake_github: FakeGitHub, github_api: GitHubApi
) -> None:
    idle_pr(fake_github, 4, days=9)
    pulumi, out = run(fake_github, github_api, ["pr-4"])
    assert pulumi.log == [
        "pulumi config set after 1 comments",
        "pulumi up --stack after 1 comments",
    ], "the comment must come before the stop"
    assert "being **stopped**" in fake_github.comments[0]["body"]
    assert "pr-4: last push 2026-11-23 -> TTL stop" in out


def test_the_next_sweep_does_not_stop_it_again(
    fake_github: FakeGitHub, github_api: GitHubApi
) -> None:
    idle_pr(fake_github, 4, days=9)
    run(fake_github, github_api, ["pr-4"])
    pulumi, _ = run(fake_github, github_api, ["pr-4"])
    assert pulumi.commands == []
    assert len(fake_github.comments) == 1


def test_the_sweep_comments_then_destroys_a_long_idle_environment(
    fake_github: FakeGitHub, github_api: GitHubApi
) -> None:
    idle_pr(fake_github, 4, days=25)
    pulumi, _ = run(fake_github, github_api, ["pr-4"])
    assert [c[1] for c in pulumi.commands] == ["destroy", "stack"]
    assert pulumi.log[0].endswith("after 1 comments")
    assert "being **destroyed**" in fake_github.comments[0]["body"]


def test_a_recent_push_keeps_the_environment(
    fake_github: FakeGitHub, github_api: GitHubApi
) -> None:
    idle_pr(fake_github, 4, days=2)
    pulumi, _ = run(fake_github, github_api, ["pr-4"])
    assert (pulumi.commands, fake_github.comments) == ([], [])


def test_an_api_error_on_the_ttl_recheck_stops_the_sweep_untouched(
    fake_github: FakeGitHub, github_api: GitHubApi
) -> None:
    idle_pr(fake_github, 4, days=30)
    fake_github.faults = {rf"/repos/{REPO}/commits/{SHA}": 502}
    with pytest.raises(SweepError, match="TTL: looking up PR #4 failed"):
        run(fake_github, github_api, ["pr-4"])
    assert fake_github.comments == []


def test_dry_run_neither_comments_nor_runs(fake_github: FakeGitHub, github_api: GitHubApi) -> None:
    idle_pr(fake_github, 4, days=9)
    pulumi, out = run(fake_github, github_api, ["pr-4"], dry_run=True)
    assert (pulumi.commands, fake_github.comments) == ([], [])
    assert "would comment on PR #4: stop" in out


def _iso(when: datetime) -> str:
    return when.strftime("%Y-%m-%dT%H:%M:%SZ")


def test_an_old_commit_opened_as_a_pr_today_is_not_expired(
    fake_github: FakeGitHub, github_api: GitHubApi
) -> None:
    # Committed 25 days ago, but the PR (and so its environment) was opened an hour ago.
    idle_pr(fake_github, 4, days=25)
    fake_github.add_run(
        7, "pr-environment.yml", head_sha=SHA, created_at=_iso(NOW - timedelta(hours=1))
    )
    pulumi, out = run(fake_github, github_api, ["pr-4"])
    assert (pulumi.commands, fake_github.comments) == ([], []), out
    assert "pr-4: last push 2026-12-02 -> TTL none" in out


def test_last_push_ignores_other_commits_and_workflows(
    fake_github: FakeGitHub, github_api: GitHubApi
) -> None:
    idle_pr(fake_github, 4, days=25)
    recent = _iso(NOW - timedelta(hours=1))
    fake_github.add_run(7, "pr-environment.yml", head_sha="b" * 40, created_at=recent)
    fake_github.add_run(8, "ci.yml", head_sha=SHA, created_at=recent)
    fake_github.add_run(9, "pr-environment.yml", head_sha=SHA, event="push", created_at=recent)
    pulumi, _ = run(fake_github, github_api, ["pr-4"])
    assert [c[1] for c in pulumi.commands] == ["destroy", "stack"]


def test_last_push_is_the_commit_date_when_it_is_newer_than_any_run(
    fake_github: FakeGitHub, github_api: GitHubApi
) -> None:
    idle_pr(fake_github, 4, days=2)
    fake_github.add_run(
        7, "pr-environment.yml", head_sha=SHA, created_at=_iso(NOW - timedelta(days=30))
    )
    pr = GitHubPrLookup(github_api, REPO).pull(4)
    assert pr is not None
    assert GitHubPrLookup(github_api, REPO).last_push(pr) == NOW.replace(
        second=0, microsecond=0
    ) - timedelta(days=2)


def test_an_api_error_listing_runs_stops_the_sweep_untouched(
    fake_github: FakeGitHub, github_api: GitHubApi
) -> None:
    idle_pr(fake_github, 4, days=30)
    fake_github.faults = {rf"/repos/{REPO}/actions/runs": 502}
    with pytest.raises(SweepError, match="TTL: looking up PR #4 failed"):
        run(fake_github, github_api, ["pr-4"])
    assert fake_github.comments == []


def test_the_ttl_stop_runs_the_prs_own_program(
    fake_github: FakeGitHub, github_api: GitHubApi
) -> None:
    idle_pr(fake_github, 4, days=9)
    pulumi, _ = run(fake_github, github_api, ["pr-4"])
    assert [c[-2:] for c in pulumi.commands] == [["--cwd", str(PR_CHECKOUTS / "pr-4")]] * 2


def test_an_environment_another_run_works_on_is_left_to_the_next_sweep(
    fake_github: FakeGitHub, github_api: GitHubApi
) -> None:
    idle_pr(fake_github, 4, days=25)
    live = WorkflowRun(
        5, "pr-environment.yml", "pull_request", "in_progress", "PR environment pr-4", ""
    )
    expiry = expiry_for(fake_github, github_api, [], busy={4: [live]})
    pulumi, out = run(fake_github, github_api, ["pr-4"], expiry=expiry)
    assert (pulumi.commands, fake_github.comments) == ([], [])
    assert "pr-4: pr-environment.yml run 5" in out


def test_a_label_added_since_does_not_reset_the_time_to_live(
    fake_github: FakeGitHub, github_api: GitHubApi
) -> None:
    # Adding keep-running (or any label but `preview`) runs the workflow, but not its
    # deploy job: it prevents the stop, and must not postpone the destroy.
    idle_pr(fake_github, 4, days=25)
    recent = _iso(NOW - timedelta(hours=1))
    fake_github.add_run(7, "pr-environment.yml", head_sha=SHA, created_at=recent, deployed=False)
    pulumi, _ = run(fake_github, github_api, ["pr-4"])
    assert [c[1] for c in pulumi.commands] == ["destroy", "stack"]


def test_a_reopen_with_the_same_head_restarts_the_time_to_live(
    fake_github: FakeGitHub, github_api: GitHubApi
) -> None:
    idle_pr(fake_github, 4, days=25)
    fake_github.add_run(
        7, "pr-environment.yml", head_sha=SHA, created_at=_iso(NOW - timedelta(days=24))
    )
    fake_github.add_run(
        8, "pr-environment.yml", head_sha=SHA, created_at=_iso(NOW - timedelta(days=2))
    )
    fake_github.add_run(
        9,
        "pr-environment.yml",
        head_sha=SHA,
        created_at=_iso(NOW - timedelta(hours=3)),
        deployed=False,
    )
    pr = GitHubPrLookup(github_api, REPO).pull(4)
    assert pr is not None
    assert GitHubPrLookup(github_api, REPO).last_push(pr) == NOW.replace(
        second=0, microsecond=0
    ) - timedelta(days=2)


def test_an_api_error_listing_live_runs_stops_the_sweep_untouched(
    fake_github: FakeGitHub, github_api: GitHubApi
) -> None:
    idle_pr(fake_github, 4, days=25)

    def busy(pr: object) -> list[WorkflowRun]:
        raise GitHubApiError("GET /repos/acme/tims-stack/actions/runs: 502")

    pulumi = FakePulumi(["pr-4"], fake_github)
    expiry = dataclasses.replace(expiry_for(fake_github, github_api, []), busy=busy)
    with pytest.raises(SweepError, match="TTL: listing the runs that may hold pr-4 failed"):
        sweep(
            GitHubPrLookup(github_api, REPO),
            pulumi,
            dry_run=False,
            out=io.StringIO(),
            expiry=expiry,
        )
    assert (pulumi.commands, fake_github.comments) == ([], [])


@pytest.mark.parametrize(
    ("error", "fails"),
    [
        (NotDeployed("PR #4's newest commit has no successful deploy"), False),
        (CheckoutError("cannot fetch commit"), True),
    ],
    ids=["not-deployed", "checkout-failed"],
)
def test_a_stop_that_cannot_run_the_prs_program_posts_no_comment(
    fake_github: FakeGitHub, github_api: GitHubApi, error: CheckoutError, fails: bool
) -> None:
    idle_pr(fake_github, 4, days=9)

    def checkout(pull: object) -> Path:
        raise error

    pulumi = FakePulumi(["pr-4"], fake_github)
    out = io.StringIO()
    expiry = dataclasses.replace(expiry_for(fake_github, github_api, []), checkout=checkout)
    lookup = GitHubPrLookup(github_api, REPO)
    if fails:
        with pytest.raises(SweepError, match="pr-4"):
            sweep(lookup, pulumi, dry_run=False, out=out, expiry=expiry)
    else:
        sweep(lookup, pulumi, dry_run=False, out=out, expiry=expiry)
        assert "pr-4: PR #4's newest commit has no successful deploy -> not stopped" in (
            out.getvalue()
        )
    assert (pulumi.commands, fake_github.comments) == ([], [])


@pytest.mark.parametrize(
    ("conclusions", "deployed"),
    [
        (["success"], True),
        (["failure", "success"], True),
        (["skipped"], False),
        (["failure"], False),
        ([None], False),
        ([], False),
    ],
    ids=["deployed", "redeployed", "label-only", "failed", "awaiting-approval", "no-run"],
)
def test_only_a_head_with_a_successful_deploy_counts_as_deployed(
    fake_github: FakeGitHub, github_api: GitHubApi, conclusions: list[str | None], deployed: bool
) -> None:
    idle_pr(fake_github, 4, days=1)
    for run_id, conclusion in enumerate(conclusions, start=7):
        fake_github.add_run(run_id, "pr-environment.yml", head_sha=SHA, prs=(4,))
        fake_github.runs[-1]["jobs"][1]["conclusion"] = conclusion
    fake_github.add_run(20, "pr-environment.yml", head_sha="b" * 40, prs=(4,))
    lookup = GitHubPrLookup(github_api, REPO)
    pull = lookup.pull(4)
    assert pull is not None
    assert lookup.deployed_head(pull) is deployed


@pytest.mark.parametrize("days", [9, 25], ids=["stop", "destroy"])
def test_a_comment_that_cannot_be_posted_leaves_the_environment_untouched(
    fake_github: FakeGitHub, github_api: GitHubApi, days: int
) -> None:
    """No step on an open PR without its comment: the PR's author must be told first."""
    idle_pr(fake_github, 4, days=days)

    def refuse(number: int, body: str) -> object:
        raise GitHubApiError(f"POST /repos/{REPO}/issues/{number}/comments: 502")

    expiry = dataclasses.replace(expiry_for(fake_github, github_api, []), post_comment=refuse)
    pulumi, out = FakePulumi(["pr-4"], fake_github), io.StringIO()
    with pytest.raises(SweepError, match="pr-4"):
        sweep(GitHubPrLookup(github_api, REPO), pulumi, dry_run=False, out=out, expiry=expiry)
    assert pulumi.commands == [], f"pr-4 changed without a comment: {out.getvalue()}"


def test_a_pr_closed_since_the_listing_is_left_to_the_orphan_pass(
    fake_github: FakeGitHub, github_api: GitHubApi
) -> None:
    """The TTL's own look-up finds the PR closed: the next sweep destroys it as an orphan."""
    idle_pr(fake_github, 4, days=25)
    lookup = GitHubPrLookup(github_api, REPO)

    def closed(number: int) -> PullRequest | None:
        pull = lookup.pull(number)
        return None if pull is None else dataclasses.replace(pull, state=PrState.CLOSED)

    expiry = dataclasses.replace(expiry_for(fake_github, github_api, []), pull=closed)
    pulumi, out = run(fake_github, github_api, ["pr-4"], expiry=expiry)
    assert (pulumi.commands, fake_github.comments) == ([], []), out
    assert "pr-4: PR #4 closed since -> next sweep" in out


def test_app_prs_ttl_comments_as_the_tokens_user_and_stops_this_checkouts_program(
    fake_github: FakeGitHub, github_api: GitHubApi, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PR_BUILD_REF", "main")  # for this repository's PRs only
    fake_github.comment_author = fake_github.token_user
    expiry = github_expiry(
        github_api,
        REPO,
        GitHubPrLookup(github_api, REPO),
        TtlPolicy(7, 21),
        lambda pr: [],
        app=True,
    )
    pr = PullRequest(12, PrState.OPEN, "feat/login", "a" * 40, frozenset(), REPO)
    assert expiry.checkout(pr) == Path.cwd(), "an app PR's program is the default branch's"
    assert expiry.build_ref == "", "an app PR builds its own branch"
    expiry.post_comment(12, f"{MARKER}\nstopping")
    expiry.post_comment(12, f"{MARKER}\nstopped")
    assert [c["body"] for c in fake_github.comments] == [f"{MARKER}\nstopped"]
