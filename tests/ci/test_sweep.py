"""The sweep driver: destroys only orphans, deletes nothing on API errors, dry-run only prints."""

from __future__ import annotations

import io
import json
from collections.abc import Callable, Sequence
from datetime import UTC, datetime

import httpx
import pytest

from scripts.github_api import GitHubApi, GitHubApiError
from scripts.orphans import AppPrLookup, GitHubPrLookup, PrState, PullRequest
from scripts.sweep import CommandError, SweepError, list_stacks, main, pulumi_env, sweep
from tests.ci.conftest import REPO, TOKEN, FakeGitHub


class FakePulumi:
    """Answers `pulumi stack ls --json` and records every other command."""

    def __init__(
        self,
        stacks: Sequence[str],
        fail_on: str | None = None,
        on_destroy: Callable[[str], None] | None = None,
    ) -> None:
        self.stacks = list(stacks)
        self.fail_on = fail_on
        self.on_destroy = on_destroy
        self.listings: list[list[str]] = []
        self.commands: list[list[str]] = []

    def __call__(self, command: Sequence[str]) -> str:
        command = list(command)
        if command[:3] == ["pulumi", "stack", "ls"]:
            self.listings.append(command)
            return json.dumps([{"name": s, "current": False} for s in self.stacks])
        self.commands.append(command)
        if self.on_destroy and command[1] == "destroy":
            self.on_destroy(command[command.index("--stack") + 1])
        if self.fail_on and self.fail_on in command:
            raise CommandError(f"`{' '.join(command)}` exited with status 255")
        return ""

    def destructive(self) -> list[list[str]]:
        return [c for c in self.commands if c[1] == "destroy" or c[1:3] == ["stack", "rm"]]


def run_sweep(
    fake_github: FakeGitHub, api: GitHubApi, pulumi: FakePulumi, dry_run: bool = False
) -> str:
    out = io.StringIO()
    sweep(GitHubPrLookup(api, REPO), pulumi, dry_run=dry_run, out=out)
    return out.getvalue()


def test_orphans_are_destroyed_then_removed(fake_github: FakeGitHub, github_api: GitHubApi) -> None:
    fake_github.pulls = {1: "closed"}
    pulumi = FakePulumi(["pr-1"])
    run_sweep(fake_github, github_api, pulumi)
    assert [c[:3] for c in pulumi.commands] == [
        ["pulumi", "destroy", "--stack"],
        ["pulumi", "stack", "rm"],
    ]
    assert all("pr-1" in c for c in pulumi.commands), pulumi.commands


def test_stack_of_open_pr_is_never_touched(fake_github: FakeGitHub, github_api: GitHubApi) -> None:
    fake_github.pulls = {1: "open", 2: "closed"}
    pulumi = FakePulumi(["pr-1", "pr-2", "pr-3"])
    run_sweep(fake_github, github_api, pulumi)
    touched = {c[c.index("--stack") + 1] if "--stack" in c else c[3] for c in pulumi.destructive()}
    assert touched == {"pr-2", "pr-3"}, f"touched {touched}; pr-1's PR is open"


def test_stacks_not_named_pr_number_are_never_touched(
    fake_github: FakeGitHub, github_api: GitHubApi
) -> None:
    fake_github.pulls = {9: "open"}
    pulumi = FakePulumi(["dev", "staging", "pr-9"])
    run_sweep(fake_github, github_api, pulumi)
    assert pulumi.destructive() == []


def test_pr_reopened_during_an_earlier_destroy_keeps_its_stack(
    fake_github: FakeGitHub, github_api: GitHubApi
) -> None:
    fake_github.pulls = {1: "closed", 2: "closed"}

    def reopen_pr_2(stack: str) -> None:
        fake_github.pulls[2] = "open"

    pulumi = FakePulumi(["pr-1", "pr-2"], on_destroy=reopen_pr_2)
    output = run_sweep(fake_github, github_api, pulumi)
    touched = {c[c.index("--stack") + 1] if "--stack" in c else c[3] for c in pulumi.destructive()}
    assert touched == {"pr-1"}, f"touched {touched}; PR #2 was reopened before its destroy"
    assert "pr-2: PR #2 was reopened since the lookup -> keep" in output


def test_api_error_on_the_recheck_stops_before_that_destroy(
    fake_github: FakeGitHub, github_api: GitHubApi
) -> None:
    fake_github.pulls = {1: "closed", 2: "closed"}

    def break_pr_2_lookup(stack: str) -> None:
        fake_github.faults = {rf"/repos/{REPO}/pulls/2": 502}

    pulumi = FakePulumi(["pr-1", "pr-2"], on_destroy=break_pr_2_lookup)
    with pytest.raises(SweepError, match=r"re-checking PR #2 .*already destroyed: pr-1"):
        run_sweep(fake_github, github_api, pulumi)
    assert [c for c in pulumi.destructive() if "pr-2" in c] == [], "pr-2 destroyed unchecked"


def test_stack_list_names_the_project_explicitly(
    fake_github: FakeGitHub, github_api: GitHubApi
) -> None:
    pulumi = FakePulumi([])
    run_sweep(fake_github, github_api, pulumi)
    listing = pulumi.listings[0]
    assert listing[listing.index("--project") + 1] == "tims-stack", (
        f"`{' '.join(listing)}` relies on the nearest Pulumi.yaml for the project"
    )


def test_api_error_deletes_nothing(fake_github: FakeGitHub, github_api: GitHubApi) -> None:
    # PR 1 is closed and would be swept, but PR 2's lookup fails: nothing may go.
    fake_github.pulls = {1: "closed", 2: "open"}
    fake_github.faults = {rf"/repos/{REPO}/pulls/2": 503}
    pulumi = FakePulumi(["pr-1", "pr-2"])
    with pytest.raises(GitHubApiError):
        run_sweep(fake_github, github_api, pulumi)
    assert pulumi.destructive() == [], f"deleted despite an API error: {pulumi.destructive()}"


def test_rate_limited_pr_list_deletes_nothing(
    fake_github: FakeGitHub, github_api: GitHubApi
) -> None:
    fake_github.pulls = {1: "closed"}
    fake_github.faults = {rf"/repos/{REPO}/pulls": 403}
    pulumi = FakePulumi(["pr-1"])
    with pytest.raises(GitHubApiError):
        run_sweep(fake_github, github_api, pulumi)
    assert pulumi.destructive() == []


def test_dry_run_prints_the_commands_and_runs_none(
    fake_github: FakeGitHub, github_api: GitHubApi
) -> None:
    fake_github.pulls = {4: "closed"}
    pulumi = FakePulumi(["pr-4"])
    output = run_sweep(fake_github, github_api, pulumi, dry_run=True)
    assert pulumi.commands == []
    assert "would run: pulumi destroy --stack pr-4" in output
    assert "would run: pulumi stack rm pr-4" in output


def test_each_decision_and_action_is_printed(
    fake_github: FakeGitHub, github_api: GitHubApi
) -> None:
    fake_github.pulls = {1: "open", 2: "closed"}
    output = run_sweep(fake_github, github_api, FakePulumi(["pr-1", "pr-2", "pr-3"]))
    assert "pr-1: PR #1 is open -> keep" in output
    assert "pr-2: PR #2 is closed -> orphan" in output
    assert "pr-3: PR #3 is missing -> orphan" in output
    assert "+ pulumi destroy --stack pr-2" in output


def test_failed_destroy_skips_stack_rm_and_continues_with_the_next_orphan(
    fake_github: FakeGitHub, github_api: GitHubApi
) -> None:
    fake_github.pulls = {1: "closed", 2: "closed"}
    pulumi = FakePulumi(["pr-1", "pr-2"], fail_on="pr-1")
    with pytest.raises(SweepError, match="pr-1"):
        run_sweep(fake_github, github_api, pulumi)
    assert ["pulumi", "stack", "rm", "pr-1"] not in [c[:4] for c in pulumi.commands]
    assert ["pulumi", "stack", "rm", "pr-2"] in [c[:4] for c in pulumi.commands]


@pytest.mark.parametrize("printed", ["not json", '{"name": "pr-1"}', '[{"current": true}]', "[42]"])
def test_unreadable_stack_list_raises(printed: str) -> None:
    with pytest.raises(SweepError, match="pulumi stack ls"):
        list_stacks(lambda command: printed)


def test_stack_list_failure_deletes_nothing() -> None:
    def failing(command: Sequence[str]) -> str:
        raise CommandError("`pulumi stack ls --json` exited with status 255")

    with pytest.raises(CommandError):
        sweep(lambda n: PrState.CLOSED, failing, dry_run=False, out=io.StringIO())


def test_pulumi_commands_get_the_image_build_token_as_github_token() -> None:
    env = pulumi_env({"GITHUB_TOKEN": "read-prs", "IMAGE_BUILD_TOKEN": "pat", "PATH": "/bin"})
    assert env["GITHUB_TOKEN"] == "pat"
    assert env["PATH"] == "/bin"


def test_pulumi_commands_keep_github_token_without_image_build_token() -> None:
    assert pulumi_env({"GITHUB_TOKEN": "only"})["GITHUB_TOKEN"] == "only"


def test_cli_without_token_stops_before_listing_anything(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.delenv("GITHUB_TOKEN", raising=False)
    monkeypatch.setenv("PATH", "")  # any pulumi call would fail differently
    assert main(["--repo", REPO]) == 1
    err = capsys.readouterr().err
    assert "GITHUB_TOKEN is empty or unset" in err
    assert "Nothing was deleted" in err


def test_an_orphan_whose_stack_another_run_holds_is_left_for_the_next_sweep(
    fake_github: FakeGitHub, github_api: GitHubApi
) -> None:
    fake_github.pulls = {1: "closed", 2: "closed"}
    pulumi = FakePulumi(["pr-1", "pr-2"])
    unlocked: list[str] = []

    def unlock(stack: str, pr: int) -> bool:
        unlocked.append(stack)
        return stack != "pr-1"  # a live run may hold pr-1

    out = io.StringIO()
    sweep(GitHubPrLookup(github_api, REPO), pulumi, dry_run=False, out=out, unlock=unlock)
    assert unlocked == ["pr-1", "pr-2"]
    touched = {c[c.index("--stack") + 1] if "--stack" in c else c[3] for c in pulumi.destructive()}
    assert touched == {"pr-2"}
    assert "pr-1: another run is working on it -> next sweep" in out.getvalue()


def test_a_failed_lock_check_fails_the_sweep_and_spares_that_stack(
    fake_github: FakeGitHub, github_api: GitHubApi
) -> None:
    fake_github.pulls = {1: "closed", 2: "closed"}
    pulumi = FakePulumi(["pr-1", "pr-2"])

    def unlock(stack: str, pr: int) -> bool:
        if stack == "pr-1":
            raise RuntimeError("`pulumi stack ls` exited with status 255")
        return True

    with pytest.raises(SweepError, match="pr-1"):
        sweep(
            GitHubPrLookup(github_api, REPO),
            pulumi,
            dry_run=False,
            out=io.StringIO(),
            unlock=unlock,
        )
    touched = {c[c.index("--stack") + 1] if "--stack" in c else c[3] for c in pulumi.destructive()}
    assert touched == {"pr-2"}


# --------------------------------------------------------------------------- app PRs


def test_the_app_pass_judges_only_app_stacks_by_the_app_repositorys_prs(
    fake_github: FakeGitHub, github_api: GitHubApi
) -> None:
    # fake_github plays the application repository here: its PR 12 is closed, PR 13 open.
    fake_github.pulls = {12: "closed", 13: "open"}
    pulumi = FakePulumi(["pr-12", "app-pr-12", "app-pr-13"])
    out = io.StringIO()
    sweep(GitHubPrLookup(github_api, REPO), pulumi, dry_run=False, out=out, app=True)
    assert pulumi.destructive() == [
        [
            "pulumi",
            "destroy",
            "--stack",
            "app-pr-12",
            "--yes",
            "--non-interactive",
            "--skip-preview",
        ],
        ["pulumi", "stack", "rm", "app-pr-12", "--yes", "--non-interactive"],
    ]
    assert "3 stacks, 2 named app-pr-<number>" in out.getvalue()


def test_the_app_pass_leaves_a_stack_a_live_run_holds(
    fake_github: FakeGitHub, github_api: GitHubApi
) -> None:
    fake_github.pulls = {12: "closed"}
    pulumi = FakePulumi(["app-pr-12"])
    out = io.StringIO()
    sweep(
        GitHubPrLookup(github_api, REPO),
        pulumi,
        dry_run=False,
        out=out,
        app=True,
        unlock=lambda stack, pr: stack != "app-pr-12",
    )
    assert pulumi.destructive() == []
    assert "app-pr-12: another run is working on it -> next sweep" in out.getvalue()


def test_an_app_prs_last_push_is_its_newest_deploying_run_in_this_repository(
    fake_github: FakeGitHub, github_api: GitHubApi
) -> None:
    app = FakeGitHub(repo="acme/app", commit_dates={"b" * 40: "2026-11-01T00:00:00Z"})
    with GitHubApi(
        TOKEN, "https://api.github.test", transport=httpx.MockTransport(app.handler)
    ) as app_api:
        lookup = AppPrLookup(app_api, "acme/app", github_api, REPO)
        fake_github.add_run(
            5, "pr-environment.yml", stack="app-pr-12", event="workflow_dispatch",
            created_at="2026-11-20T00:00:00Z", status="completed",
        )  # fmt: skip
        fake_github.add_run(
            6, "pr-environment.yml", stack="app-pr-13", event="workflow_dispatch",
            created_at="2026-11-25T00:00:00Z", status="completed",
        )  # fmt: skip
        pull = PullRequest(12, PrState.OPEN, "feat", "b" * 40, frozenset(), "acme/app")
        assert lookup.last_push(pull) == datetime(2026, 11, 20, tzinfo=UTC)


def test_app_stacks_without_an_app_repository_fail_the_sweep_by_name(
    fake_github: FakeGitHub, github_api: GitHubApi
) -> None:
    # APP_REPOSITORY unset (say, removed after app PRs had environments): nothing judges the
    # app-pr stacks, and a silent pass would leave them running and billed forever.
    fake_github.pulls = {1: "closed"}
    pulumi = FakePulumi(["pr-1", "app-pr-7"])
    out = io.StringIO()
    with pytest.raises(SweepError, match=r"app-pr-7.*APP_REPOSITORY"):
        sweep(GitHubPrLookup(github_api, REPO), pulumi, dry_run=False, out=out, app_judged=False)
    assert [c[3] for c in pulumi.destructive()] == ["pr-1", "pr-1"], "the own pass still ran"
    assert "app-pr-7: no APP_REPOSITORY" in out.getvalue()


def test_an_app_pass_error_after_the_own_pass_never_claims_nothing_was_deleted(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    # The own pass may have destroyed orphans already: the log must not say otherwise.
    def fake_pass(*_args: object, app: bool, **_kwargs: object) -> None:
        if app:
            raise GitHubApiError("cannot read pull requests of acme/app", status=401)

    monkeypatch.setattr("scripts.sweep._pass", fake_pass)
    monkeypatch.setenv("GITHUB_TOKEN", TOKEN)
    monkeypatch.setenv("IMAGE_BUILD_TOKEN", TOKEN)
    monkeypatch.setenv("APP_REPOSITORY", "acme/app")
    assert main(["--repo", REPO]) == 1
    err = capsys.readouterr().err
    assert "Nothing was deleted" not in err, err
    assert "app-pr-<number> stacks: nothing was deleted" in err, err


def test_a_stuck_own_stack_does_not_keep_the_app_pass_from_running(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    # One pr-<n> stack whose destroy fails every day must not leave app PR orphans for good.
    passes: list[bool] = []

    def fake_pass(*_args: object, app: bool, **_kwargs: object) -> None:
        passes.append(app)
        if not app:
            raise SweepError("could not destroy, remove, stop or unlock: pr-3")

    monkeypatch.setattr("scripts.sweep._pass", fake_pass)
    monkeypatch.setenv("GITHUB_TOKEN", TOKEN)
    monkeypatch.setenv("IMAGE_BUILD_TOKEN", TOKEN)
    monkeypatch.setenv("APP_REPOSITORY", "acme/app")
    assert main(["--repo", REPO]) == 1, "the own pass's failure still fails the run"
    assert passes == [False, True]
    assert "pr-3" in capsys.readouterr().err
