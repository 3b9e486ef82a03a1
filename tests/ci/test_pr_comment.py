"""The PR environment comment: one comment, edited in place, showing URL and images."""

from __future__ import annotations

import json

import pytest

from scripts.github_api import GitHubApi, GitHubApiError
from scripts.pr_comment import (
    MARKER,
    EnvironmentOutputs,
    edit_existing,
    failed_steps,
    main,
    own_login,
    render_body,
    upsert_comment,
)
from tests.ci.conftest import REPO, FakeGitHub

OUTPUTS = EnvironmentOutputs(
    url="https://backend-pr-12.example.com",
    backend_image="ghcr.io/acme/tims-stack-backend-image-prod:pr-12-0123456789ab",
    frontend_image="ghcr.io/acme/tims-stack-frontend-image-prod:pr-12-0123456789ab",
)


def test_body_shows_url_and_both_image_references() -> None:
    body = render_body("pr-12", OUTPUTS)
    assert "https://backend-pr-12.example.com" in body
    assert "`ghcr.io/acme/tims-stack-backend-image-prod:pr-12-0123456789ab`" in body
    assert "`ghcr.io/acme/tims-stack-frontend-image-prod:pr-12-0123456789ab`" in body


def test_body_carries_the_marker_that_finds_it_again() -> None:
    assert render_body("pr-12", OUTPUTS).startswith(MARKER)


def test_missing_outputs_are_shown_as_not_set() -> None:
    body = render_body(
        "pr-12", EnvironmentOutputs(url=None, backend_image=None, frontend_image=None)
    )
    assert body.count("_not set_") == 3, body


def test_output_values_cannot_break_the_table() -> None:
    outputs = EnvironmentOutputs(url="javascript:x|y", backend_image="a`b\nc", frontend_image=None)
    body = render_body("pr-12", outputs)
    url_row = next(line for line in body.splitlines() if line.startswith("| URL"))
    assert url_row == "| URL | `javascript:x\\|y` |", url_row
    assert "`a'b c`" in body


def test_destroyed_body_says_so_and_shows_no_url() -> None:
    body = render_body("pr-12", OUTPUTS, destroyed=True)
    assert "destroyed" in body
    assert "https://backend-pr-12.example.com" not in body


def test_stack_outputs_must_be_strings() -> None:
    with pytest.raises(ValueError, match="'url' is a int"):
        EnvironmentOutputs.from_stack_outputs({"url": 3})


def test_first_update_posts_a_comment(fake_github: FakeGitHub, github_api: GitHubApi) -> None:
    action, _ = upsert_comment(github_api, REPO, 12, render_body("pr-12", OUTPUTS))
    assert action == "created"
    assert len(fake_github.comments) == 1


def test_later_updates_edit_the_same_comment(
    fake_github: FakeGitHub, github_api: GitHubApi
) -> None:
    upsert_comment(github_api, REPO, 12, render_body("pr-12", OUTPUTS))
    action, _ = upsert_comment(github_api, REPO, 12, render_body("pr-12", OUTPUTS, destroyed=True))
    assert action == "edited"
    assert len(fake_github.comments) == 1, "a second comment was posted instead of an edit"
    assert "destroyed" in fake_github.comments[0]["body"]


def test_marked_comment_is_found_beyond_the_first_page(
    fake_github: FakeGitHub, github_api: GitHubApi
) -> None:
    fake_github.page_size = 2
    for i in range(5):
        fake_github.add_comment(f"review note {i}", login="someone")
    ours = fake_github.add_comment(MARKER + "\nold")
    action, comment_id = upsert_comment(github_api, REPO, 12, render_body("pr-12", OUTPUTS))
    assert (action, comment_id) == ("edited", ours)


def test_someone_elses_comment_quoting_the_marker_is_not_edited(
    fake_github: FakeGitHub, github_api: GitHubApi
) -> None:
    theirs = fake_github.add_comment(f"> {MARKER}\n> quoted", login="reviewer")
    action, comment_id = upsert_comment(github_api, REPO, 12, render_body("pr-12", OUTPUTS))
    assert action == "created"
    assert comment_id != theirs


def test_api_error_while_listing_comments_posts_nothing(
    fake_github: FakeGitHub, github_api: GitHubApi
) -> None:
    fake_github.faults = {rf"/repos/{REPO}/issues/12/comments": 500}
    with pytest.raises(GitHubApiError, match="500"):
        upsert_comment(github_api, REPO, 12, render_body("pr-12", OUTPUTS))
    assert fake_github.mutations() == []


def test_cli_without_token_fails_clearly(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.delenv("GITHUB_TOKEN", raising=False)
    code = main(["--repo", REPO, "--pr", "12", "--environment", "pr-12", "--destroyed"])
    assert code == 1
    assert "GITHUB_TOKEN is empty or unset" in capsys.readouterr().err


def test_cli_refuses_outputs_and_destroyed_together(tmp_path, capsys) -> None:
    outputs = tmp_path / "outputs.json"
    outputs.write_text(json.dumps({"url": "https://x.example.com"}))
    with pytest.raises(SystemExit):
        main(
            [
                "--repo",
                REPO,
                "--pr",
                "1",
                "--environment",
                "pr-1",
                "--destroyed",
                "--outputs-json",
                str(outputs),
            ]
        )
    assert "exactly one of" in capsys.readouterr().err


def test_not_found_comment_says_nothing_was_destroyed() -> None:
    from scripts.pr_comment import render_body

    body = render_body("pr-12", None, not_found=True)
    assert "no stack `pr-12`" in body
    assert "nothing was destroyed" in body
    assert "was destroyed and its stack removed" not in body


def test_a_started_deploy_says_so_with_its_commit() -> None:
    body = render_body("app-pr-12", OUTPUTS, building=True, commit="0123456789abcdef")
    assert "**Deploying** of commit `0123456789ab`" in body
    assert "https://backend-pr-12" not in body


def test_a_failed_deploy_names_the_failed_job_and_step() -> None:
    body = render_body("app-pr-12", None, failed=["pulumi up app-pr-12 > pulumi up"])
    assert "**The deploy failed** in `pulumi up app-pr-12 > pulumi up`" in body


def test_the_failed_steps_of_the_run_are_read_from_its_jobs(
    fake_github: FakeGitHub, github_api: GitHubApi
) -> None:
    fake_github.add_run(5, "pr-environment.yml", stack="app-pr-12")
    fake_github.runs[-1]["jobs"][1]["steps"] = [
        {"name": "make setup", "conclusion": "success"},
        {"name": "pulumi up", "conclusion": "failure"},
    ]
    assert failed_steps(github_api, REPO, 5) == ["pulumi up app-pr-12 > pulumi up"]


def test_a_comment_by_the_tokens_own_user_is_found_and_edited(
    fake_github: FakeGitHub, github_api: GitHubApi
) -> None:
    # On the application repository the comment is written with a personal token.
    comment_id = fake_github.add_comment(f"{MARKER}\nold", login="deploy-bot")
    assert own_login(github_api) == "deploy-bot"
    assert upsert_comment(github_api, REPO, 12, "new", "deploy-bot") == ("edited", comment_id)


def test_a_stopped_environment_says_so_and_keeps_its_url() -> None:
    body = render_body("app-pr-12", OUTPUTS, stopped=True)
    assert "**Stopped** outside working hours" in body
    assert "https://backend-pr-12.example.com" in body


def test_editing_an_existing_comment_never_posts_one(
    fake_github: FakeGitHub, github_api: GitHubApi
) -> None:
    assert edit_existing(github_api, REPO, 12, "x", bot_login="github-actions[bot]") is False
    assert fake_github.mutations() == []
    comment_id = fake_github.add_comment(f"{MARKER}\nup")
    assert edit_existing(github_api, REPO, 12, "stopped", bot_login="github-actions[bot]")
    assert [c["body"] for c in fake_github.comments if c["id"] == comment_id] == ["stopped"]
