"""Waiting for the runs that may hold a PR stack, and clearing only locks no live run holds."""

from __future__ import annotations

import io
import json
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path

import pytest

from scripts import locks
from scripts.github_api import GitHubApi
from scripts.locks import (
    LockError,
    LockState,
    Probe,
    WorkflowRun,
    clear_if_stale,
    holders,
    live_runs,
    probe,
    report_missing,
    settle,
    wait_for_holders,
)
from tests.ci.conftest import REPO, FakeGitHub

NOW = datetime(2026, 12, 2, 1, 0, tzinfo=UTC)
DIY_LOCK_ERROR = (
    "error: the stack is currently locked by 1 lock(s). Either wait for the other process(es) "
    "to end or delete the lock file with `pulumi cancel`.\n"
    "  s3://bucket/.pulumi/locks/organization/tims-stack/pr-7/1f2e.json: created by "
    "runner@fv-az12 (pid 2301) at 2026-12-01T22:04:11Z\n"
)


def run_of(
    run_id: int,
    workflow: str = "pr-environment.yml",
    *,
    branch: str = "",
    prs: tuple[int, ...] = (),
    event: str = "pull_request",
) -> WorkflowRun:
    return WorkflowRun(run_id, workflow, event, "in_progress", branch, prs, "")


class FakePulumi:
    """`pulumi stack ls --json`, the destroy-preview lock probe and `pulumi cancel`."""

    def __init__(self, entries: list[dict[str, object]], locked: bool = False) -> None:
        self.entries = entries
        self.locked = locked
        self.commands: list[list[str]] = []
        self.probe_fails_with = ""

    def __call__(self, command: Sequence[str]) -> tuple[int, str]:
        command = list(command)
        self.commands.append(command)
        if command[1:3] == ["stack", "ls"]:
            return 0, json.dumps(self.entries)
        if command[1] == "destroy":
            if self.probe_fails_with:
                return 255, self.probe_fails_with
            return (255, DIY_LOCK_ERROR) if self.locked else (0, "Resources: 12 to delete\n")
        if command[1] == "cancel":
            self.locked = False
            for entry in self.entries:
                if "updateInProgress" in entry:
                    entry["updateInProgress"] = False
            return 0, "The currently running update for 'pr-7' has been canceled!\n"
        raise AssertionError(f"unexpected command {command}")

    def cancels(self) -> list[list[str]]:
        return [c for c in self.commands if c[1] == "cancel"]


# --------------------------------------------------------------------------- who may hold it


def test_an_up_of_the_same_pr_holds_the_stack() -> None:
    found = holders([run_of(1, prs=(7,))], pr=7, head_ref="feat", own_run_id=99)
    assert [r.id for r in found] == [1]


def test_a_closed_prs_up_is_found_by_its_head_branch() -> None:
    # GitHub lists a run's pull requests only while they are open.
    found = holders([run_of(1, branch="feat")], pr=7, head_ref="feat", own_run_id=99)
    assert [r.id for r in found] == [1]


def test_runs_of_other_prs_do_not_hold_the_stack() -> None:
    runs = [run_of(1, prs=(8,), branch="other"), run_of(2, "ci.yml", prs=(7,))]
    assert holders(runs, pr=7, head_ref="feat", own_run_id=99) == []


@pytest.mark.parametrize("workflow", ["sweep.yml", "nightly.yml"])
def test_scheduled_pulumi_runs_may_hold_any_pr_stack(workflow: str) -> None:
    found = holders([run_of(1, workflow, event="schedule")], pr=7, head_ref="f", own_run_id=99)
    assert [r.id for r in found] == [1]


@pytest.mark.parametrize(
    ("own", "other"), [("nightly.yml", "sweep.yml"), ("sweep.yml", "nightly.yml")]
)
def test_a_scheduled_workflow_ignores_its_own_other_runs_but_not_the_other_workflow(
    own: str, other: str
) -> None:
    # Its Pulumi job is in one fixed concurrency group: another run of it (the next
    # hourly schedule check) cannot be running Pulumi meanwhile.
    runs = [run_of(1, own, event="schedule"), run_of(2, other, event="schedule")]
    found = holders(runs, pr=7, head_ref="f", own_run_id=99, own_workflow=own)
    assert [r.id for r in found] == [2]


def test_the_run_itself_is_not_a_holder() -> None:
    assert holders([run_of(99, prs=(7,))], pr=7, head_ref="feat", own_run_id=99) == []


def test_without_a_head_branch_unattributed_pr_runs_count_as_holders() -> None:
    runs = [run_of(1, branch="x"), run_of(2, prs=(8,))]
    assert [r.id for r in holders(runs, pr=7, head_ref=None, own_run_id=None)] == [1]


def test_live_runs_keeps_unfinished_runs_of_the_pulumi_workflows(
    fake_github: FakeGitHub, github_api: GitHubApi
) -> None:
    fake_github.add_run(1, "pr-environment.yml", status="in_progress", prs=(7,))
    fake_github.add_run(2, "pr-environment.yml", status="completed", prs=(7,))
    fake_github.add_run(3, "pr-environment.yml", status="queued", prs=(7,))
    fake_github.add_run(4, "ci.yml", status="in_progress", prs=(7,))
    runs = live_runs(github_api, REPO, NOW)
    assert [r.id for r in runs] == [1, 3]
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
    assert left == []
    assert slept == [30, 30]
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


def test_an_api_error_while_waiting_propagates() -> None:
    def broken() -> list[WorkflowRun]:
        raise RuntimeError("GitHub answered 502")

    with pytest.raises(RuntimeError, match="502"):
        wait_for_holders(broken, timeout_seconds=60, poll_seconds=30, out=io.StringIO())


# --------------------------------------------------------------------------- probing


def test_a_stack_the_backend_does_not_list_is_missing() -> None:
    pulumi = FakePulumi([{"name": "pr-8"}])
    assert probe(pulumi, "pr-7").state is LockState.MISSING


@pytest.mark.parametrize(("in_progress", "state"), [(True, "held"), (False, "free")])
def test_pulumi_cloud_lock_comes_from_update_in_progress(in_progress: bool, state: str) -> None:
    pulumi = FakePulumi([{"name": "acme/tims-stack/pr-7", "updateInProgress": in_progress}])
    assert probe(pulumi, "pr-7").state.value == state
    assert [c for c in pulumi.commands if c[1] == "destroy"] == [], "Cloud needs no probe"


def test_self_managed_lock_is_probed_with_a_destroy_preview_and_its_file_named() -> None:
    pulumi = FakePulumi([{"name": "pr-7"}], locked=True)
    found = probe(pulumi, "pr-7")
    assert found.state is LockState.HELD
    assert "--preview-only" in pulumi.commands[-1]
    assert any(".pulumi/locks/organization/tims-stack/pr-7/" in d for d in found.details)


def test_self_managed_stack_without_a_lock_is_free() -> None:
    assert probe(FakePulumi([{"name": "pr-7"}]), "pr-7").state is LockState.FREE


def test_a_probe_failing_for_another_reason_is_an_error_not_a_free_stack() -> None:
    pulumi = FakePulumi([{"name": "pr-7"}])
    pulumi.probe_fails_with = "error: incorrect passphrase"
    with pytest.raises(LockError, match="could not tell whether pr-7 is locked"):
        probe(pulumi, "pr-7")


# --------------------------------------------------------------------------- clearing


def test_a_lock_no_live_run_holds_is_logged_and_cleared() -> None:
    pulumi = FakePulumi([{"name": "pr-7"}], locked=True)
    out = io.StringIO()
    found = clear_if_stale(pulumi, "pr-7", lambda: [], out)
    assert found.state is LockState.HELD
    assert pulumi.cancels() == [
        ["pulumi", "cancel", "--stack", "pr-7", "--yes", "--non-interactive"]
    ]
    assert out.getvalue().startswith("::warning title=Stale lock on pr-7::")
    assert "runner@fv-az12 (pid 2301)" in out.getvalue()


def test_the_lock_of_a_live_run_is_never_cleared() -> None:
    pulumi = FakePulumi([{"name": "pr-7", "updateInProgress": True}])
    with pytest.raises(LockError, match="may hold the lock: not clearing it"):
        clear_if_stale(pulumi, "pr-7", lambda: [run_of(5, prs=(7,))], io.StringIO())
    assert pulumi.cancels() == []


class StuckLock(FakePulumi):
    """`pulumi cancel` exits 0 but the lock file stays (e.g. the bucket refused the delete)."""

    def __call__(self, command: Sequence[str]) -> tuple[int, str]:
        status, output = super().__call__(command)
        if command[1] == "cancel":
            self.locked = True
        return status, output


def test_a_lock_still_there_after_cancel_is_an_error() -> None:
    pulumi = StuckLock([{"name": "pr-7"}], locked=True)
    with pytest.raises(LockError, match="pr-7 is still locked after `pulumi cancel`"):
        clear_if_stale(pulumi, "pr-7", lambda: [], io.StringIO())
    assert len(pulumi.cancels()) == 1


@pytest.mark.parametrize("entries", [[{"name": "pr-7"}], []], ids=["free", "missing"])
def test_nothing_is_cancelled_without_a_lock(entries: list[dict[str, object]]) -> None:
    pulumi = FakePulumi(entries)
    clear_if_stale(pulumi, "pr-7", lambda: [], io.StringIO())
    assert pulumi.cancels() == []


def test_a_missing_stack_is_a_warning_in_the_log_and_the_job_summary(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    summary = tmp_path / "summary.md"
    monkeypatch.setenv("GITHUB_STEP_SUMMARY", str(summary))
    out = io.StringIO()
    report_missing("pr-7", out)
    assert out.getvalue().startswith("::warning title=No stack pr-7::")
    assert "No stack `pr-7`" in summary.read_text()


# --------------------------------------------------------------------------- settle


def settle_with(
    pulumi: FakePulumi, answers: list[list[WorkflowRun]], *, only_if_locked: bool
) -> tuple[LockState, list[float]]:
    slept: list[float] = []
    found = settle(
        pulumi,
        "pr-7",
        lambda: answers.pop(0) if len(answers) > 1 else answers[0],
        wait_seconds=600,
        poll_seconds=30,
        only_if_locked=only_if_locked,
        out=io.StringIO(),
        sleep=slept.append,
    )
    return found.state, slept


def test_a_destroy_waits_for_a_running_up_even_before_it_locks_the_stack() -> None:
    pulumi = FakePulumi([{"name": "pr-7"}])  # the up has not taken the lock yet
    up = run_of(1, branch="feat")
    state, slept = settle_with(pulumi, [[up], [up], []], only_if_locked=False)
    assert (state, slept) == (LockState.FREE, [30, 30])
    assert pulumi.cancels() == []


def test_a_deploy_does_not_wait_for_a_sweep_when_its_stack_is_free() -> None:
    pulumi = FakePulumi([{"name": "pr-7"}])
    sweep_run = run_of(2, "sweep.yml", event="schedule")
    state, slept = settle_with(pulumi, [[sweep_run]], only_if_locked=True)
    assert (state, slept) == (LockState.FREE, [])


def test_a_deploy_waits_while_a_live_run_holds_the_lock_then_goes_on() -> None:
    pulumi = FakePulumi([{"name": "pr-7"}], locked=True)
    nightly = run_of(3, "nightly.yml", event="schedule")

    def finished(_: float) -> None:
        pulumi.locked = False  # the nightly run ends and releases its lock

    found = settle(
        pulumi,
        "pr-7",
        lambda: [] if not pulumi.locked else [nightly],
        wait_seconds=600,
        poll_seconds=30,
        only_if_locked=True,
        out=io.StringIO(),
        sleep=finished,
    )
    assert found.state is LockState.FREE
    assert pulumi.cancels() == [], "the live run's lock must not be cancelled"


def test_a_stale_lock_is_cleared_after_a_deploy_finds_no_live_run() -> None:
    pulumi = FakePulumi([{"name": "pr-7"}], locked=True)
    state, _ = settle_with(pulumi, [[]], only_if_locked=True)
    assert state is LockState.HELD
    assert len(pulumi.cancels()) == 1


def test_waiting_too_long_clears_nothing() -> None:
    pulumi = FakePulumi([{"name": "pr-7"}], locked=True)
    with pytest.raises(LockError, match="still runs on pr-7; nothing was cleared"):
        settle_with(pulumi, [[run_of(1, prs=(7,))]], only_if_locked=False)
    assert pulumi.cancels() == []


# --------------------------------------------------------------------------- the command line


@pytest.mark.parametrize("warn", [True, False], ids=["destroy", "deploy"])
def test_the_destroy_step_reports_a_missing_stack_and_says_it_does_not_exist(
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    tmp_path: Path,
    github_api: GitHubApi,
    warn: bool,
) -> None:
    monkeypatch.setattr(locks, "GitHubApi", lambda token: github_api)
    monkeypatch.setattr(locks, "settle", lambda *a, **k: Probe(LockState.MISSING))
    monkeypatch.setenv("GITHUB_TOKEN", "t")
    monkeypatch.setenv("GITHUB_OUTPUT", str(tmp_path / "output"))
    monkeypatch.setenv("GITHUB_STEP_SUMMARY", str(tmp_path / "summary"))
    argv = ["--repo", REPO, "--stack", "pr-7", "--pr", "7"]
    assert locks.main(argv + (["--missing-is-warning"] if warn else [])) == 0
    assert (tmp_path / "output").read_text(encoding="utf-8") == "exists=false\n"
    out = capsys.readouterr().out
    assert ("::warning title=No stack pr-7::" in out) is warn
    assert (tmp_path / "summary").exists() is warn


def test_the_nightly_and_the_sweep_wait_for_each_other_but_not_for_themselves(
    fake_github: FakeGitHub, github_api: GitHubApi, monkeypatch: pytest.MonkeyPatch
) -> None:
    from scripts.nightly import busy_check
    from scripts.orphans import GitHubPrLookup, PrState, PullRequest
    from scripts.sweep import _lock_checks

    monkeypatch.setenv("GITHUB_RUN_ID", "1")
    fake_github.add_run(1, "nightly.yml", event="schedule")
    fake_github.add_run(2, "nightly.yml", event="schedule")
    fake_github.add_run(3, "sweep.yml", event="schedule")
    pr = PullRequest(7, PrState.OPEN, "feat", "a" * 40, frozenset())
    assert [r.id for r in busy_check(github_api, REPO, 1)(pr)] == [3]
    monkeypatch.setenv("GITHUB_RUN_ID", "3")
    fake_github.add_run(4, "sweep.yml", event="schedule")
    sweep_busy, _ = _lock_checks(github_api, REPO, GitHubPrLookup(github_api, REPO))
    assert [r.id for r in sweep_busy(pr)] == [1, 2]
