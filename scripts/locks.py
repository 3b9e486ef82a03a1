"""Wait for the runs that may hold a PR stack's lock; clear a lock that no live run holds.

    python -m scripts.locks --repo owner/name --stack pr-12 --pr 12 --head-ref my-branch \\
        [--wait-minutes 50] [--missing-is-warning]

1. Lists this repository's workflow runs that are not completed (GitHub API,
   token in GITHUB_TOKEN) and keeps those that may run Pulumi on the stack:
   pr-environment.yml runs of this PR (by PR number or head branch), and every
   sweep.yml or nightly.yml run. The run this script is part of
   (GITHUB_RUN_ID) is left out. While any remains, it waits, up to
   --wait-minutes; then it fails and clears nothing. With --only-if-locked
   (the deploy job, already alone in its PR's queue) it waits only when
   step 2 finds the stack locked.
2. With no live run left, it asks the backend whether the stack is locked:
   - Pulumi Cloud reports `updateInProgress` in `pulumi stack ls --json`;
   - a self-managed backend does not, so `pulumi destroy --preview-only`
     probes it: it takes the stack lock, and fails listing the lock files
     (`.pulumi/locks/organization/<project>/<stack>/<id>.json`) when one is
     there. It changes nothing.
3. A lock no live run holds is stale (an `up` killed by its job timeout): it
   is logged as a warning with what Pulumi says about it, then cleared with
   `pulumi cancel --yes`, which cancels the update on Pulumi Cloud and deletes
   the lock files on a self-managed backend.

Writes `exists=true|false` to GITHUB_OUTPUT. Any API or command error exits 1
having cleared nothing. A lock taken outside this repository's workflows (a
person running `pulumi up --stack pr-12` by hand) cannot be told apart from a
stale one: PR stacks belong to CI.
"""

from __future__ import annotations

import argparse
import enum
import math
import os
import subprocess
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, TextIO

from tenacity import RetryCallState, Retrying, retry_if_result, stop_after_attempt, wait_fixed

from scripts.github_api import GitHubApi, GitHubApiError, check_repository, token_from_env
from scripts.pulumi_cli import STACK_LS, parse_stack_listing
from scripts.stack_names import pr_number_of

PR_WORKFLOW = "pr-environment.yml"
SCHEDULED_WORKFLOWS = ("sweep.yml", "nightly.yml")
"""Workflows that run Pulumi on any PR stack."""
RUN_LOOKBACK = timedelta(hours=24)
"""GitHub cancels a run that waits longer than this, so older runs are all completed."""
LOCKED_MARKER = "currently locked by"
"""How Pulumi's self-managed backend says a stack has a lock file."""

CaptureRunner = Callable[[Sequence[str]], tuple[int, str]]
"""Runs a command; returns its exit status and its stdout and stderr together."""


class LockError(RuntimeError):
    pass


@dataclass(frozen=True)
class WorkflowRun:
    id: int
    workflow: str
    """File name of the workflow, e.g. pr-environment.yml."""
    event: str
    status: str
    head_branch: str
    pr_numbers: tuple[int, ...]
    url: str

    @classmethod
    def from_api(cls, raw: Mapping[str, Any]) -> WorkflowRun:
        path = str(raw.get("path") or "").split("@", 1)[0]
        return cls(
            id=int(raw["id"]),
            workflow=path.rsplit("/", 1)[-1],
            event=str(raw.get("event") or ""),
            status=str(raw.get("status") or ""),
            head_branch=str(raw.get("head_branch") or ""),
            pr_numbers=tuple(int(p["number"]) for p in raw.get("pull_requests") or []),
            url=str(raw.get("html_url") or ""),
        )

    def describe(self) -> str:
        return f"{self.workflow} run {self.id} ({self.event}, {self.status}) {self.url}".strip()


def live_runs(api: GitHubApi, repo: str, now: datetime) -> list[WorkflowRun]:
    """This repository's runs of the Pulumi workflows that have not completed."""
    since = (now - RUN_LOOKBACK).strftime("%Y-%m-%dT%H:%M:%SZ")
    runs = (
        WorkflowRun.from_api(raw)
        for raw in api.paginate(
            f"/repos/{check_repository(repo)}/actions/runs",
            {"created": f">={since}"},
            key="workflow_runs",
        )
    )
    return [
        r
        for r in runs
        if r.status != "completed" and r.workflow in (PR_WORKFLOW, *SCHEDULED_WORKFLOWS)
    ]


def holders(
    runs: Sequence[WorkflowRun],
    *,
    pr: int,
    head_ref: str | None,
    own_run_id: int | None,
    own_workflow: str | None = None,
) -> list[WorkflowRun]:
    """The runs that may be running Pulumi on the PR's stack right now.

    GitHub lists a run's pull requests only while they are open, so a closed
    PR's runs are found by head branch. Without a head branch (a PR GitHub no
    longer knows), any PR run that names no pull request may be one of them.

    `own_workflow` (sweep.yml or nightly.yml, asking for itself): other runs of
    it are not holders. Its Pulumi job is in one fixed concurrency group, so
    while this run works no other run of it can; counting them would make a
    long stop skip every stack while the next hourly run checks its schedule.
    """
    return [
        run
        for run in runs
        if run.id != own_run_id and run.workflow != own_workflow and _may_touch(run, pr, head_ref)
    ]


def _may_touch(run: WorkflowRun, pr: int, head_ref: str | None) -> bool:
    if run.workflow in SCHEDULED_WORKFLOWS:
        return True
    if run.workflow != PR_WORKFLOW:
        return False
    if pr in run.pr_numbers:
        return True
    return run.head_branch == head_ref if head_ref else not run.pr_numbers


def wait_for_holders(
    current: Callable[[], list[WorkflowRun]],
    *,
    timeout_seconds: float,
    poll_seconds: float,
    out: TextIO,
    sleep: Callable[[float], None] = time.sleep,
) -> list[WorkflowRun]:
    """Poll `current` until it is empty or the time is up; returns what still holds the stack."""

    def report(state: RetryCallState) -> None:
        assert state.outcome is not None
        for run in state.outcome.result():
            print(f"waiting for {run.describe()}", file=out, flush=True)

    attempts = max(1, math.ceil(timeout_seconds / poll_seconds) + 1)
    retrying = Retrying(
        stop=stop_after_attempt(attempts),
        wait=wait_fixed(poll_seconds),
        retry=retry_if_result(bool),
        after=report,
        sleep=sleep,
        retry_error_callback=lambda state: state.outcome.result() if state.outcome else [],
        reraise=True,
    )
    remaining: list[WorkflowRun] = retrying(current)
    return remaining


class LockState(enum.Enum):
    FREE = "free"
    HELD = "held"
    MISSING = "missing"


@dataclass(frozen=True)
class Probe:
    state: LockState
    details: tuple[str, ...] = ()


def _short(stack: str) -> str:
    return stack.rsplit("/", 1)[-1]


def stack_entry(run: CaptureRunner, stack: str) -> dict[str, Any] | None:
    """The stack's entry in `pulumi stack ls --json`, or None when the backend has no such stack."""
    command = list(STACK_LS)
    status, output = run(command)
    if status != 0:
        raise LockError(f"`{' '.join(command)}` exited with status {status}: {output[-500:]}")
    for entry in parse_stack_listing(output, LockError):
        if isinstance(entry, dict) and _short(str(entry.get("name", ""))) == _short(stack):
            return entry
    return None


def probe(run: CaptureRunner, stack: str) -> Probe:
    """Is the stack locked? Raises LockError when the backend's answer is unclear."""
    entry = stack_entry(run, stack)
    if entry is None:
        return Probe(LockState.MISSING)
    if "updateInProgress" in entry:
        if entry["updateInProgress"] is True:
            return Probe(LockState.HELD, ("Pulumi Cloud reports an update in progress",))
        return Probe(LockState.FREE)
    command = ["pulumi", "destroy", "--preview-only", "--stack", stack, "--non-interactive"]
    status, output = run(command)
    if status == 0:
        return Probe(LockState.FREE)
    if LOCKED_MARKER in output:
        lines = output[output.index(LOCKED_MARKER) :].splitlines()
        return Probe(LockState.HELD, tuple(line.strip() for line in lines[1:] if line.strip()))
    raise LockError(
        f"could not tell whether {stack} is locked: `{' '.join(command)}` exited with "
        f"status {status}: {output[-500:]}"
    )


def cancel_command(stack: str) -> list[str]:
    return ["pulumi", "cancel", "--stack", stack, "--yes", "--non-interactive"]


def clear_if_stale(
    run: CaptureRunner, stack: str, live: Callable[[], list[WorkflowRun]], out: TextIO
) -> Probe:
    """Probe the stack; clear its lock only if no live run may hold it. Returns the probe."""
    found = probe(run, stack)
    if found.state is not LockState.HELD:
        return found
    # Looked up again right before clearing: a run may have started since the wait.
    still = live()
    if still:
        raise LockError(
            f"{stack} is locked and {still[0].describe()} may hold the lock: not clearing it"
        )
    details = "; ".join(found.details) or "no details"
    print(
        f"::warning title=Stale lock on {stack}::No run of this repository holds the lock "
        f"of {stack} ({details}). Clearing it with `pulumi cancel`.",
        file=out,
        flush=True,
    )
    command = cancel_command(stack)
    print(f"+ {' '.join(command)}", file=out, flush=True)
    status, output = run(command)
    if status != 0:
        raise LockError(f"`{' '.join(command)}` exited with status {status}: {output[-500:]}")
    after = probe(run, stack)
    if after.state is LockState.HELD:
        raise LockError(f"{stack} is still locked after `pulumi cancel`: {after.details}")
    return found


def settle(
    run: CaptureRunner,
    stack: str,
    current: Callable[[], list[WorkflowRun]],
    *,
    wait_seconds: float,
    poll_seconds: float,
    only_if_locked: bool,
    out: TextIO,
    sleep: Callable[[float], None] = time.sleep,
) -> Probe:
    """Wait for the runs that may hold the stack, then clear a stale lock; returns the probe.

    `only_if_locked` (a deploy, already alone in its PR's queue): waits only
    when the stack is locked. Otherwise (a destroy) it waits for every live
    run first, since a running deploy may not have taken the lock yet.
    """
    if only_if_locked:
        first = probe(run, stack)
        if first.state is not LockState.HELD:
            return first
        print(f"{stack} is locked: {'; '.join(first.details)}", file=out, flush=True)
    still = wait_for_holders(
        current, timeout_seconds=wait_seconds, poll_seconds=poll_seconds, out=out, sleep=sleep
    )
    if still:
        raise LockError(
            f"after {wait_seconds / 60:g} minutes {still[0].describe()} still runs on {stack}; "
            "nothing was cleared"
        )
    return clear_if_stale(run, stack, current, out)


def capture_runner(env: Mapping[str, str] | None = None) -> CaptureRunner:
    def run(command: Sequence[str]) -> tuple[int, str]:
        try:
            done = subprocess.run(
                list(command),
                env=None if env is None else dict(env),
                check=False,
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
                text=True,
            )
        except FileNotFoundError as exc:
            raise LockError(f"{command[0]} is not installed or not on PATH") from exc
        return done.returncode, done.stdout

    return run


def _write_output(exists: bool) -> None:
    output = os.environ.get("GITHUB_OUTPUT", "")
    if output:
        with Path(output).open("a", encoding="utf-8") as handle:
            handle.write(f"exists={'true' if exists else 'false'}\n")


def report_missing(stack: str, out: TextIO) -> None:
    """A warning annotation and a job-summary line: a destroy found no stack."""
    text = (
        f"No stack {stack} in the state backend, so nothing was destroyed. If this PR had "
        "an environment, PULUMI_BACKEND_URL or the Pulumi organisation differ from the "
        "ones its `up` used: the environment may still be running."
    )
    print(f"::warning title=No stack {stack}::{text}", file=out)
    summary = os.environ.get("GITHUB_STEP_SUMMARY", "")
    if summary:
        with Path(summary).open("a", encoding="utf-8") as handle:
            handle.write(f"### :warning: No stack `{stack}`\n\n{text}\n")


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--repo", required=True, help="owner/name")
    parser.add_argument("--stack", required=True, help="e.g. pr-12")
    parser.add_argument("--pr", required=True, type=int, help="pull request number")
    parser.add_argument("--head-ref", default="", help="the PR's head branch")
    parser.add_argument("--wait-minutes", type=float, default=50.0)
    parser.add_argument("--poll-seconds", type=float, default=30.0)
    parser.add_argument("--missing-is-warning", action="store_true", help="(destroy) warn")
    parser.add_argument(
        "--only-if-locked", action="store_true", help="(deploy) wait only when the stack is locked"
    )
    args = parser.parse_args(argv)
    if pr_number_of(args.stack) != args.pr:
        parser.error(f"--stack {args.stack} is not the stack of PR #{args.pr}")
    own = os.environ.get("GITHUB_RUN_ID", "")
    out = sys.stdout
    try:
        with GitHubApi(token_from_env("GITHUB_TOKEN")) as api:

            def current() -> list[WorkflowRun]:
                runs = live_runs(api, args.repo, datetime.now(UTC))
                return holders(
                    runs,
                    pr=args.pr,
                    head_ref=args.head_ref or None,
                    own_run_id=int(own) if own else None,
                )

            found = settle(
                capture_runner(),
                args.stack,
                current,
                wait_seconds=args.wait_minutes * 60,
                poll_seconds=args.poll_seconds,
                only_if_locked=args.only_if_locked,
                out=out,
            )
    except (GitHubApiError, LockError, ValueError) as exc:
        print(f"::error title=Lock check of {args.stack}::{exc}", file=sys.stderr)
        return 1
    exists = found.state is not LockState.MISSING
    if not exists and args.missing_is_warning:
        report_missing(args.stack, out)
    print(f"{args.stack}: {'exists' if exists else 'no such stack'}, not locked by a dead run")
    _write_output(exists)
    return 0


if __name__ == "__main__":
    sys.exit(main())
