"""The check right before `pulumi up`: only an open PR is deployed; errors deploy nothing."""

from __future__ import annotations

import io
from pathlib import Path

import pytest

from scripts.github_api import GitHubApi, GitHubApiError
from scripts.orphans import GitHubPrLookup, PrState, PullRequest
from scripts.pr_open import check_pr_open, decide_app_pr, main
from tests.ci.conftest import REPO, TOKEN, FakeGitHub


def run_check(api: GitHubApi, number: int, output: Path, before: str = "up") -> tuple[bool, str]:
    out = io.StringIO()
    result = check_pr_open(GitHubPrLookup(api, REPO), number, output, out, before=before)
    return result, out.getvalue()


def test_open_pr_is_deployed(
    fake_github: FakeGitHub, github_api: GitHubApi, tmp_path: Path
) -> None:
    fake_github.pulls = {5: "open"}
    output = tmp_path / "github_output"
    is_open, printed = run_check(github_api, 5, output)
    assert is_open, "PR #5 is open: pr-5 must be deployed"
    assert output.read_text(encoding="utf-8") == "open=true\n"
    assert "deploying pr-5" in printed


def test_pr_closed_while_queued_is_skipped_with_a_notice(
    fake_github: FakeGitHub, github_api: GitHubApi, tmp_path: Path
) -> None:
    fake_github.pulls = {5: "closed"}
    output = tmp_path / "github_output"
    is_open, printed = run_check(github_api, 5, output)
    assert not is_open, "PR #5 is closed: pr-5 must not be deployed"
    assert output.read_text(encoding="utf-8") == "open=false\n"
    assert printed.startswith("::notice title=PR environment skipped::PR #5 is closed now"), printed


def test_missing_pr_is_skipped(
    fake_github: FakeGitHub, github_api: GitHubApi, tmp_path: Path
) -> None:
    output = tmp_path / "github_output"
    is_open, printed = run_check(github_api, 8, output)
    assert not is_open, "PR #8 does not exist: pr-8 must not be deployed"
    assert output.read_text(encoding="utf-8") == "open=false\n"
    assert "PR #8 is missing now" in printed, printed


def test_api_error_raises_and_writes_no_output(
    fake_github: FakeGitHub, github_api: GitHubApi, tmp_path: Path
) -> None:
    fake_github.pulls = {5: "open"}
    fake_github.faults = {rf"/repos/{REPO}/pulls/5": 503}
    output = tmp_path / "github_output"
    with pytest.raises(GitHubApiError) as caught:
        run_check(github_api, 5, output)
    assert not output.exists(), "an output was written although PR #5's state is unknown"
    assert TOKEN not in str(caught.value)


def test_output_is_appended_to_existing_step_outputs(
    fake_github: FakeGitHub, github_api: GitHubApi, tmp_path: Path
) -> None:
    fake_github.pulls = {5: "open"}
    output = tmp_path / "github_output"
    output.write_text("earlier=1\n", encoding="utf-8")
    run_check(github_api, 5, output)
    assert output.read_text(encoding="utf-8") == "earlier=1\nopen=true\n"


def test_cli_without_token_fails_and_deploys_nothing(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    output = tmp_path / "github_output"
    monkeypatch.delenv("GITHUB_TOKEN", raising=False)
    monkeypatch.setenv("GITHUB_OUTPUT", str(output))
    assert main(["--repo", REPO, "--pr", "5"]) == 1
    err = capsys.readouterr().err
    assert "Cannot tell whether PR #5 is open" in err
    assert "GITHUB_TOKEN is empty or unset" in err
    assert not output.exists(), "an output was written without any lookup"


def test_pr_reopened_before_its_destroy_keeps_its_stack_with_a_notice(
    fake_github: FakeGitHub, github_api: GitHubApi, tmp_path: Path
) -> None:
    fake_github.pulls = {5: "open"}
    output = tmp_path / "github_output"
    is_open, printed = run_check(github_api, 5, output, before="destroy")
    assert is_open
    assert output.read_text(encoding="utf-8") == "open=true\n", "pr-5 would be destroyed"
    assert printed.startswith("::notice title=PR environment kept::PR #5 was reopened"), printed


@pytest.mark.parametrize("state", ["closed", "missing"])
def test_pr_still_closed_before_its_destroy_is_destroyed(
    fake_github: FakeGitHub, github_api: GitHubApi, tmp_path: Path, state: str
) -> None:
    if state == "closed":
        fake_github.pulls = {5: "closed"}
    output = tmp_path / "github_output"
    is_open, printed = run_check(github_api, 5, output, before="destroy")
    assert not is_open
    assert output.read_text(encoding="utf-8") == "open=false\n"
    assert printed.strip() == f"PR #5 is {state}: destroying pr-5"


def test_cli_before_destroy_without_token_destroys_nothing(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    output = tmp_path / "github_output"
    monkeypatch.delenv("GITHUB_TOKEN", raising=False)
    monkeypatch.setenv("GITHUB_OUTPUT", str(output))
    assert main(["--repo", REPO, "--pr", "5", "--before", "destroy"]) == 1
    assert "Nothing was destroyed" in capsys.readouterr().err
    assert not output.exists(), "an output was written without any lookup"


# --------------------------------------------------------------------------- app PRs

APP = "acme/app"


def app_pull(
    state: str = "open", head_repo: str = APP, labels: tuple[str, ...] = ()
) -> PullRequest:
    return PullRequest(12, PrState(state), "feat", "b" * 40, frozenset(labels), head_repo)


def decide_for(pull: PullRequest, mode: str = "") -> tuple[dict[str, str], str]:
    out = io.StringIO()
    return decide_app_pr(pull, 12, APP, mode, out), out.getvalue()


def test_an_open_app_pr_deploys_its_head_as_github_reports_it() -> None:
    outputs, _ = decide_for(app_pull())
    assert outputs == {
        "deploy": "true",
        "destroy": "false",
        "head-ref": "feat",
        "head-sha": "b" * 40,
    }


def test_a_closed_app_pr_is_destroyed() -> None:
    outputs, _ = decide_for(app_pull("closed"))
    assert (outputs["deploy"], outputs["destroy"]) == ("false", "true")


def test_a_fork_app_pr_gets_a_notice_and_nothing_else() -> None:
    outputs, out = decide_for(app_pull(head_repo="mallory/app"))
    assert (outputs["deploy"], outputs["destroy"]) == ("false", "false")
    assert out.startswith("::notice title=No PR environment (fork)::")


def test_an_app_pr_follows_the_label_mode() -> None:
    assert decide_for(app_pull(), "label")[0]["deploy"] == "false"
    assert decide_for(app_pull(labels=("preview",)), "label")[0]["deploy"] == "true"
