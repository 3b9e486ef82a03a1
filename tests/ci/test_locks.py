"""Running Pulumi commands on a PR stack: waiting for a live run's lock, clearing a dead run's.

The `pulumi` here is tests/ci/fake_pulumi.py, which behaves as pulumi/pulumi's
DIY backend does (diy/backend.go, diy/lock.go).
"""

from __future__ import annotations

import io
import os
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from pathlib import Path

import pytest

from scripts import locks
from scripts.github_api import GitHubApi
from scripts.lock_holders import WorkflowRun, holders, live_runs, wait_for_holders
from scripts.lock_recovery import (
    LockError,
    is_locked,
    recovering_runner,
    run_recovering,
    stack_entry,
    stack_of,
)
from scripts.locks import report_missing
from scripts.pulumi_cli import CommandError
from tests.ci.conftest import REPO, FakeGitHub
from tests.ci.fake_pulumi import FakeDiyPulumi, install_fake_pulumi

NOW = datetime(2026, 12, 2, 1, 0, tzinfo=UTC)
UP = ["pulumi", "up", "--stack", "pr-7", "--yes", "--non-interactive"]
CLOUD_CONFLICT = (
    "error: [409] Conflict: Another update is currently in progress.\nTo learn more about "
    "possible reasons and resolution, visit "
    "https://www.pulumi.com/docs/support/troubleshooting/common-issues/update-conflicts/\n"
)


def run_of(
    run_id: int,
    workflow: str = "pr-environment.yml",
    *,
    stack: str = "pr-7",
    created: str = "2026-12-02T00:00:00Z",
    event: str = "pull_request",
) -> WorkflowRun:
    return WorkflowRun(run_id, workflow, event, "in_progress", f"PR environment {stack}", created)


@pytest.fixture
def pulumi(tmp_path: Path) -> FakeDiyPulumi:
    fake = FakeDiyPulumi(tmp_path / "bucket")
    assert fake(["pulumi", "stack", "select", "--create", "--stack", "pr-7"])[0] == 0
    return fake


def recover(
    pulumi: FakeDiyPulumi,
    current: Callable[[], list[WorkflowRun]],
    sleep: Callable[[float], None] = lambda _: None,
) -> str:
    out = io.StringIO()
    run_recovering(
        pulumi, UP, "pr-7", current, wait_seconds=600, poll_seconds=30, out=out, sleep=sleep
    )
    return out.getvalue()


def cancels(pulumi: FakeDiyPulumi) -> list[list[str]]:
    return [c for c in pulumi.commands if c[1] == "cancel"]


# --------------------------------------------------------------------------- the double


def test_the_fake_takes_no_lock_for_a_destroy_preview_as_diy_does(pulumi: FakeDiyPulumi) -> None:
    # diy/backend.go, Destroy: the preview-only branch returns before b.Lock, so such a
    # probe always answers "free"; this is why the old probe could not work.
    pulumi.add_lock("pr-7", "dead-run")
    status, _ = pulumi(["pulumi", "destroy", "--preview-only", "--stack", "pr-7"])
    assert status == 0


def test_the_fake_refuses_an_up_on_a_locked_stack_naming_the_lock_file(
    pulumi: FakeDiyPulumi,
) -> None:
    pulumi.add_lock("pr-7", "dead-run")
    status, output = pulumi(UP)
    assert status != 0
    assert is_locked(output)
    assert ".pulumi/locks/organization/tims-stack/pr-7/dead-run.json" in output


def test_the_fake_lists_no_update_in_progress_on_diy(pulumi: FakeDiyPulumi) -> None:
    pulumi.add_lock("pr-7", "dead-run")
    assert "updateInProgress" not in (stack_entry(pulumi, "pr-7") or {})


# --------------------------------------------------------------------------- who may hold it


def test_an_older_run_of_the_same_stack_holds_it() -> None:
    own = run_of(9, created="2026-12-02T00:10:00Z")
    found = holders([run_of(1), own], stack="pr-7", own_run_id=9)
    assert [r.id for r in found] == [1]


def test_a_run_queued_behind_this_one_is_never_waited_for() -> None:
    own = run_of(9, created="2026-12-02T00:10:00Z")
    newer = run_of(10, created="2026-12-02T00:11:00Z")
    assert holders([own, newer], stack="pr-7", own_run_id=9) == []


def test_runs_of_other_stacks_do_not_hold_the_stack() -> None:
    runs = [run_of(1, stack="pr-8"), run_of(2, stack="app-pr-7"), run_of(3, "ci.yml")]
    assert holders(runs, stack="pr-7", own_run_id=99) == []


def test_an_app_pr_run_holds_only_the_app_stack() -> None:
    runs = [run_of(1, stack="app-pr-12", event="workflow_dispatch")]
    assert [r.id for r in holders(runs, stack="app-pr-12", own_run_id=99)] == [1]
    assert holders(runs, stack="pr-12", own_run_id=99) == []


@pytest.mark.parametrize("workflow", ["sweep.yml", "nightly.yml"])
def test_scheduled_pulumi_runs_may_hold_any_pr_stack_even_when_newer(workflow: str) -> None:
    own = run_of(9, created="2026-12-02T00:10:00Z")
    scheduled = run_of(10, workflow, created="2026-12-02T00:11:00Z", event="schedule")
    assert [r.id for r in holders([own, scheduled], stack="pr-7", own_run_id=9)] == [10]


@pytest.mark.parametrize(
    ("own", "other"), [("nightly.yml", "sweep.yml"), ("sweep.yml", "nightly.yml")]
)
def test_a_scheduled_workflow_ignores_its_own_other_runs_but_not_the_other_workflow(
    own: str, other: str
) -> None:
    runs = [run_of(1, own, event="schedule"), run_of(2, other, event="schedule")]
    found = holders(runs, stack="pr-7", own_run_id=99, own_workflow=own)
    assert [r.id for r in found] == [2]


def test_live_runs_keeps_unfinished_runs_of_the_pulumi_workflows(
    fake_github: FakeGitHub, github_api: GitHubApi
) -> None:
    fake_github.add_run(1, "pr-environment.yml", status="in_progress", prs=(7,))
    fake_github.add_run(2, "pr-environment.yml", status="completed", prs=(7,))
    fake_github.add_run(3, "pr-environment.yml", status="queued", prs=(7,))
    fake_github.add_run(4, "ci.yml", status="in_progress", prs=(7,))
    runs = live_runs(github_api, REPO, NOW)
    assert [(r.id, r.title) for r in runs] == [
        (1, "PR environment pr-7"),
        (3, "PR environment pr-7"),
    ]
    [request] = [r for r in fake_github.requests if r.url.path.endswith("/actions/runs")]
    assert request.url.params["created"] == ">=2026-12-01T01:00:00Z"


# --------------------------------------------------------------------------- waiting


def test_waits_until_the_running_up_ends() -> None:
    answers = [[run_of(1)], [run_of(1)], []]
    slept: list[float] = []
    out = io.StringIO()
    left = wait_for_holders(
        lambda: answers.pop(0), timeout_seconds=600, poll_seconds=30, out=out, sleep=slept.append
    )
    assert (left, slept) == ([], [30, 30])
    assert "waiting for pr-environment.yml run 1" in out.getvalue()


def test_gives_up_after_the_wait_and_returns_who_still_holds_it() -> None:
    slept: list[float] = []
    left = wait_for_holders(
        lambda: [run_of(1)],
        timeout_seconds=90,
        poll_seconds=30,
        out=io.StringIO(),
        sleep=slept.append,
    )
    assert [r.id for r in left] == [1]
    assert sum(slept) == 90


# --------------------------------------------------------------------------- recovering


def test_a_free_stack_runs_the_command_once(pulumi: FakeDiyPulumi) -> None:
    recover(pulumi, lambda: [])
    assert [c[1] for c in pulumi.commands[1:]] == ["up"]


def test_a_dead_runs_lock_is_logged_cleared_and_the_command_run_again(
    pulumi: FakeDiyPulumi,
) -> None:
    pulumi.die_during_up = True
    pulumi.lock_id = "killed-job"
    pulumi(UP)  # the job killed by its timeout leaves its lock file
    pulumi.lock_id = "me"
    out = recover(pulumi, lambda: [])
    assert "::warning title=Stale lock on pr-7::" in out
    assert "killed-job.json: created by me@this-runner" in out
    assert cancels(pulumi) == [
        ["pulumi", "cancel", "--stack", "pr-7", "--yes", "--non-interactive"]
    ]
    assert (pulumi.state("pr-7") or {}).get("resources") == 12, "the up ran after the clearing"
    assert pulumi.locks("pr-7") == []


def test_a_live_runs_lock_is_waited_for_then_the_command_runs(pulumi: FakeDiyPulumi) -> None:
    pulumi.add_lock("pr-7", "nightly")
    nightly = run_of(3, "nightly.yml", event="schedule")

    def nightly_ends(_: float) -> None:
        (pulumi.lock_dir("pr-7") / "nightly.json").unlink()

    out = recover(pulumi, lambda: [nightly] if pulumi.locks("pr-7") else [], nightly_ends)
    assert cancels(pulumi) == [], "a live run's lock must never be cancelled"
    assert "pr-7 is locked; nightly.yml run 3" in out
    assert [c[1] for c in pulumi.commands[1:]] == ["up", "up"]


def test_a_live_run_that_outlasts_the_wait_fails_and_clears_nothing(pulumi: FakeDiyPulumi) -> None:
    pulumi.add_lock("pr-7", "nightly")
    with pytest.raises(LockError, match="still runs on pr-7; its lock was left alone"):
        recover(pulumi, lambda: [run_of(3, "nightly.yml")])
    assert cancels(pulumi) == []


def test_a_failure_that_is_not_a_lock_is_not_retried_or_cleared(tmp_path: Path) -> None:
    pulumi = FakeDiyPulumi(tmp_path / "bucket")  # no such stack
    with pytest.raises(CommandError, match="exited with status 255"):
        recover(pulumi, lambda: [])
    assert cancels(pulumi) == []


def test_a_lock_still_there_after_cancel_is_an_error(pulumi: FakeDiyPulumi) -> None:
    pulumi.add_lock("pr-7", "dead")

    def refusing(command: Sequence[str]) -> tuple[int, str]:
        status, output = pulumi(command)
        if command[1] == "cancel":
            pulumi.add_lock("pr-7", "dead")  # the bucket refused the delete
        return status, output

    with pytest.raises(LockError, match="still locked after `pulumi cancel`"):
        run_recovering(
            refusing, UP, "pr-7", lambda: [], wait_seconds=0, poll_seconds=30, out=io.StringIO()
        )
    assert len(cancels(pulumi)) == 1


def test_a_pulumi_cloud_conflict_is_recovered_like_a_diy_lock() -> None:
    # A Cloud stack with no completed update lists no updateInProgress (stack_list.go);
    # the refusal of the command itself is what tells.
    answers = [(255, CLOUD_CONFLICT), (0, "cancelled"), (0, "done")]
    commands: list[list[str]] = []

    def cloud(command: Sequence[str]) -> tuple[int, str]:
        commands.append(list(command))
        return answers.pop(0)

    out = io.StringIO()
    run_recovering(cloud, UP, "pr-7", lambda: [], wait_seconds=0, poll_seconds=30, out=out)
    assert [c[1] for c in commands] == ["up", "cancel", "up"]
    assert "Stale lock on pr-7" in out.getvalue()


def test_the_scheduled_runner_clears_a_stale_lock_and_skips_the_stackless_listing(
    pulumi: FakeDiyPulumi,
) -> None:
    pulumi.add_lock("pr-7", "dead")
    run = recovering_runner(pulumi, lambda stack: [], io.StringIO())
    run(["pulumi", "stack", "ls", "--json"])
    run(UP)
    assert len(cancels(pulumi)) == 1


def test_the_scheduled_runner_never_waits_for_a_live_holder(pulumi: FakeDiyPulumi) -> None:
    pulumi.add_lock("pr-7", "up-of-the-pr")
    run = recovering_runner(pulumi, lambda stack: [run_of(1)], io.StringIO())
    with pytest.raises(CommandError, match="its lock was left alone"):
        run(UP)
    assert cancels(pulumi) == []


@pytest.mark.parametrize(
    ("command", "stack"),
    [
        (UP, "pr-7"),
        (["pulumi", "stack", "rm", "app-pr-3", "--yes"], "app-pr-3"),
        (["pulumi", "stack", "ls", "--json"], None),
    ],
)
def test_the_stack_of_a_command_is_read_from_its_arguments(
    command: list[str], stack: str | None
) -> None:
    assert stack_of(command) == stack


# --------------------------------------------------------------------------- the command line


def test_a_missing_stack_is_a_warning_in_the_log_and_the_job_summary(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    summary = tmp_path / "summary.md"
    monkeypatch.setenv("GITHUB_STEP_SUMMARY", str(summary))
    out = io.StringIO()
    report_missing("pr-7", out)
    assert out.getvalue().startswith("::warning title=No stack pr-7::")
    assert "No stack `pr-7`" in summary.read_text()


@pytest.mark.parametrize("warn", [True, False], ids=["destroy", "deploy"])
def test_find_writes_whether_the_stack_exists(
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    tmp_path: Path,
    github_api: GitHubApi,
    warn: bool,
) -> None:
    monkeypatch.setattr(locks, "GitHubApi", lambda token: github_api)
    monkeypatch.setattr(locks, "capture_runner", lambda env: FakeDiyPulumi(tmp_path / "b"))
    monkeypatch.setenv("GITHUB_TOKEN", "t")
    monkeypatch.setenv("GITHUB_OUTPUT", str(tmp_path / "output"))
    monkeypatch.setenv("GITHUB_STEP_SUMMARY", str(tmp_path / "summary"))
    argv = ["--repo", REPO, "--stack", "pr-7", "--find"]
    assert locks.main(argv + (["--missing-is-warning"] if warn else [])) == 0
    assert (tmp_path / "output").read_text(encoding="utf-8") == "exists=false\n"
    assert ("::warning title=No stack pr-7::" in capsys.readouterr().out) is warn
    assert (tmp_path / "summary").exists() is warn


def test_the_command_line_refuses_a_command_on_another_stack() -> None:
    with pytest.raises(SystemExit):
        locks.main(["--repo", REPO, "--stack", "pr-7", "--", "pulumi", "up", "--stack", "pr-8"])


def test_the_nightly_and_the_sweep_wait_for_each_other_but_not_for_themselves(
    fake_github: FakeGitHub, github_api: GitHubApi, monkeypatch: pytest.MonkeyPatch
) -> None:
    from scripts.lock_holders import run_holders

    monkeypatch.setenv("GITHUB_RUN_ID", "1")
    fake_github.add_run(1, "nightly.yml", event="schedule")
    fake_github.add_run(2, "nightly.yml", event="schedule")
    fake_github.add_run(3, "sweep.yml", event="schedule")
    assert [r.id for r in run_holders(github_api, REPO, "nightly.yml")("pr-7")] == [3]
    monkeypatch.setenv("GITHUB_RUN_ID", "3")
    fake_github.add_run(4, "sweep.yml", event="schedule")
    assert [r.id for r in run_holders(github_api, REPO, "sweep.yml")("pr-7")] == [1, 2]


def test_the_command_line_runs_the_real_executable_and_clears_a_dead_runs_lock(
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    tmp_path: Path,
    github_api: GitHubApi,
) -> None:
    bucket = tmp_path / "bucket"
    install_fake_pulumi(tmp_path / "bin", bucket)
    monkeypatch.setenv("PATH", f"{tmp_path / 'bin'}:{os.environ['PATH']}")
    monkeypatch.setattr(locks, "GitHubApi", lambda token: github_api)
    monkeypatch.setenv("GITHUB_TOKEN", "t")
    backend = FakeDiyPulumi(bucket)
    backend(["pulumi", "stack", "select", "--create", "--stack", "pr-7"])
    backend.add_lock("pr-7", "killed-job")
    argv = ["--repo", REPO, "--stack", "pr-7", "--", *UP]
    assert locks.main(argv) == 0, capsys.readouterr().err
    out = capsys.readouterr().out
    assert "::warning title=Stale lock on pr-7::" in out
    assert "Resources:" in out, "the command's output is shown as it runs"
    assert backend.locks("pr-7") == []
    assert (backend.state("pr-7") or {}).get("resources") == 12


def test_the_wrapped_destroy_deletes_images_with_the_image_build_token(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, github_api: GitHubApi
) -> None:
    """An app PR's images belong to the application repository's owner: this run's own
    token cannot delete them. ImageBuild's provider reads GITHUB_TOKEN, so the wrapped
    pulumi must get IMAGE_BUILD_TOKEN under that name (scripts/pulumi_cli.py, pulumi_env)."""
    seen = tmp_path / "token"
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / "pulumi").write_text(f'#!/bin/sh\nprintf %s "$GITHUB_TOKEN" > {seen}\n')
    (bin_dir / "pulumi").chmod(0o755)
    monkeypatch.setenv("PATH", f"{bin_dir}:{os.environ['PATH']}")
    monkeypatch.setattr(locks, "GitHubApi", lambda token: github_api)
    monkeypatch.setenv("GITHUB_TOKEN", "this-runs-token")
    monkeypatch.setenv("IMAGE_BUILD_TOKEN", "app-owners-token")
    destroy = ["pulumi", "destroy", "--stack", "app-pr-3", "--yes", "--non-interactive"]
    assert locks.main(["--repo", REPO, "--stack", "app-pr-3", "--", *destroy]) == 0
    assert seen.read_text() == "app-owners-token", "the destroy would use this run's token"
