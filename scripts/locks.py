"""Run a Pulumi command on a PR stack; wait for a live run's lock, clear a dead run's.

    python -m scripts.locks --repo owner/name --stack pr-12 [--wait-minutes 30] \\
        -- pulumi up --stack pr-12 --yes --non-interactive
    python -m scripts.locks --repo owner/name --stack pr-12 --wait-first --find \\
        [--missing-is-warning] [--wait-minutes 120]

No command can tell whether a stack on a self-managed ("DIY") backend is
locked without taking the lock (pulumi/pulumi, pkg/backend/diy/backend.go:
`Preview` and the `--preview-only` branches of `Destroy`/`Refresh` return
before `b.Lock`; `Update`, `Destroy`, `RemoveStack` and `ImportDeployment`
take it). And a Pulumi Cloud stack with no completed update reports no
`updateInProgress` at all (pkg/cmd/pulumi/stack/stack_list.go,
`formatStackSummariesJSON` sets it only when `LastUpdate()` is non-nil). So
the command itself is the test: it runs, and when it fails because the stack
is locked

- DIY: "the stack is currently locked by N lock(s)", then one line per lock
  file `.pulumi/locks/<org>/<project>/<stack>/<id>.json` with its user, host,
  pid and time (diy/lock.go, `checkForLock`);
- Pulumi Cloud: a 409 from starting the update, shown with a link to
  `.../update-conflicts/` (pkg/backend/backenderr, `ConflictingUpdateError`),

it looks for the runs of this repository that may hold the lock (`holders`).
While one is live it waits for it, then runs the command again. With none, the
lock is stale (a job killed by its timeout): it is logged as a warning with
Pulumi's own description, cleared with `pulumi cancel --yes` (DIY: deletes
every lock file, diy/backend.go `CancelCurrentUpdate`; Cloud: cancels the
update), and the command runs once more.

A run never waits for a run queued behind it: runs of pr-environment.yml for
the same stack created after this one are in its queue (or are a destroy that
waits for this run), so they cannot hold the lock now.

`--wait-first` (the destroy job) waits for every older run that may touch
the stack before anything else, since a running deploy may not have taken the
lock yet; `--find` writes `exists=true|false` (from `pulumi stack ls`) to
GITHUB_OUTPUT. A lock taken outside this repository's workflows (someone
running `pulumi up --stack pr-12` by hand) looks stale: PR stacks belong to CI.
"""

from __future__ import annotations

import argparse
import io
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
from scripts.pulumi_cli import STACK_LS, CommandError, Runner, parse_stack_listing, pulumi_env

PR_WORKFLOW = "pr-environment.yml"
SCHEDULED_WORKFLOWS = ("sweep.yml", "nightly.yml")
"""Workflows that run Pulumi on any PR stack."""
RUN_TITLE = "PR environment {stack}"
"""The run-name of pr-environment.yml: how a run of it names the stack it works on."""
RUN_LOOKBACK = timedelta(hours=24)
"""GitHub cancels a run that waits longer than this, so older runs are all completed."""
LOCKED_MARKERS = ("currently locked by", "/update-conflicts")
"""How a DIY backend (diy/lock.go) and Pulumi Cloud (backenderr) refuse a locked stack."""
WAIT_ROUNDS = 3
"""Times a command is retried after waiting for live runs that hold its lock."""

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
    title: str
    """The run's display title; pr-environment.yml puts its stack there (RUN_TITLE)."""
    created_at: str
    url: str = ""

    @classmethod
    def from_api(cls, raw: Mapping[str, Any]) -> WorkflowRun:
        path = str(raw.get("path") or "").split("@", 1)[0]
        return cls(
            id=int(raw["id"]),
            workflow=path.rsplit("/", 1)[-1],
            event=str(raw.get("event") or ""),
            status=str(raw.get("status") or ""),
            title=str(raw.get("display_title") or ""),
            created_at=str(raw.get("created_at") or ""),
            url=str(raw.get("html_url") or ""),
        )

    def describe(self) -> str:
        return f"{self.workflow} run {self.id} ({self.event}, {self.status}) {self.url}".strip()

    def names_stack(self, stack: str) -> bool:
        return stack.rsplit("/", 1)[-1] in self.title.split()


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
    stack: str,
    own_run_id: int | None,
    own_workflow: str | None = None,
) -> list[WorkflowRun]:
    """The runs that may be running Pulumi on `stack` right now.

    Runs of pr-environment.yml count when their title names the stack and they
    were created before this run (`own_run_id`, found in `runs`): a newer one
    is queued behind this run, or is a destroy that waits for it. Every run of
    sweep.yml and nightly.yml counts, except other runs of `own_workflow` (the
    one asking): its Pulumi job is in one fixed concurrency group, so while
    this run works no other run of it can.
    """
    own = next((r for r in runs if r.id == own_run_id), None)
    return [
        run
        for run in runs
        if run.id != own_run_id
        and run.workflow != own_workflow
        and (
            run.workflow in SCHEDULED_WORKFLOWS
            or (run.workflow == PR_WORKFLOW and run.names_stack(stack) and _older(run, own))
        )
    ]


def _older(run: WorkflowRun, own: WorkflowRun | None) -> bool:
    if own is None:
        return True
    return (run.created_at, run.id) < (own.created_at, own.id)


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


def is_locked(output: str) -> bool:
    """Whether a failed Pulumi command failed because another process holds the stack."""
    return any(marker in output for marker in LOCKED_MARKERS)


def _lock_details(output: str) -> str:
    for marker in LOCKED_MARKERS:
        if marker in output:
            lines = output[output.index(marker) :].splitlines()
            return "; ".join(line.strip() for line in lines[1:] if line.strip()) or "no details"
    return "no details"


def cancel_command(stack: str) -> list[str]:
    return ["pulumi", "cancel", "--stack", stack, "--yes", "--non-interactive"]


def run_recovering(
    run: CaptureRunner,
    command: Sequence[str],
    stack: str,
    current: Callable[[], list[WorkflowRun]],
    *,
    wait_seconds: float,
    poll_seconds: float,
    out: TextIO,
    sleep: Callable[[float], None] = time.sleep,
) -> str:
    """Run `command` (which takes `stack`'s lock) until it is not refused for a lock.

    Returns its output. A refusal while a live run may hold the lock waits for
    that run (up to `wait_seconds`) and retries; with no live run the lock is
    cleared once with `pulumi cancel`. Raises CommandError for any other failure
    and LockError when the lock cannot be had.
    """
    shown = " ".join(command)
    cancelled = False
    for _ in range(WAIT_ROUNDS + 2):
        print(f"+ {shown}", file=out, flush=True)
        status, output = run(command)
        if status == 0:
            return output
        if not is_locked(output):
            raise CommandError(f"`{shown}` exited with status {status}")
        live = current()
        if live:
            print(f"{stack} is locked; {live[0].describe()} may hold it", file=out, flush=True)
            still = wait_for_holders(
                current,
                timeout_seconds=wait_seconds,
                poll_seconds=poll_seconds,
                out=out,
                sleep=sleep,
            )
            if still:
                raise LockError(
                    f"after {wait_seconds / 60:g} minutes {still[0].describe()} still runs on "
                    f"{stack}; its lock was left alone"
                )
            continue
        if cancelled:
            details = _lock_details(output)
            raise LockError(f"{stack} is still locked after `pulumi cancel`: {details}")
        print(
            f"::warning title=Stale lock on {stack}::No run of this repository holds the lock "
            f"of {stack} ({_lock_details(output)}). Clearing it with `pulumi cancel`.",
            file=out,
            flush=True,
        )
        cancel = cancel_command(stack)
        print(f"+ {' '.join(cancel)}", file=out, flush=True)
        status, cancel_output = run(cancel)
        if status != 0:
            shown_cancel = " ".join(cancel)
            raise LockError(f"`{shown_cancel}` exited with status {status}: {cancel_output[-500:]}")
        cancelled = True
    raise LockError(f"{stack} stayed locked by live runs through {WAIT_ROUNDS} waits")


def stack_of(command: Sequence[str]) -> str | None:
    """The stack a pulumi command works on: `--stack S`, `-s S` or `stack rm S`."""
    args = list(command)
    for flag in ("--stack", "-s"):
        if flag in args[:-1]:
            return args[args.index(flag) + 1]
    if args[1:3] == ["stack", "rm"] and len(args) > 3 and not args[3].startswith("-"):
        return args[3]
    return None


def recovering_runner(
    run: CaptureRunner,
    current: Callable[[str], list[WorkflowRun]],
    out: TextIO,
    *,
    wait_seconds: float = 0.0,
    poll_seconds: float = 30.0,
) -> Runner:
    """A scripts.pulumi_cli Runner whose commands on a stack recover from a stale lock.

    For the scheduled workflows, which skip a stack a live run may hold: by
    default they do not wait (`wait_seconds=0`), a live holder is a LockError.
    """

    def runner(command: Sequence[str]) -> str:
        stack = stack_of(command)
        if stack is None:
            status, output = run(command)
            if status != 0:
                raise CommandError(f"`{' '.join(command)}` exited with status {status}")
            return output
        try:
            return run_recovering(
                run,
                command,
                stack,
                lambda: current(stack),
                wait_seconds=wait_seconds,
                poll_seconds=poll_seconds,
                out=out,
            )
        except LockError as exc:
            raise CommandError(str(exc)) from exc

    return runner


def stack_entry(run: CaptureRunner, stack: str) -> dict[str, Any] | None:
    """The stack's entry in `pulumi stack ls --json`, or None when the backend has no such stack."""
    command = list(STACK_LS)
    status, output = run(command)
    if status != 0:
        raise LockError(f"`{' '.join(command)}` exited with status {status}: {output[-500:]}")
    short = stack.rsplit("/", 1)[-1]
    for entry in parse_stack_listing(output, LockError):
        if isinstance(entry, dict) and str(entry.get("name", "")).rsplit("/", 1)[-1] == short:
            return entry
    return None


def capture_runner(env: Mapping[str, str] | None = None) -> CaptureRunner:
    """Runs a command and returns (status, output) without showing the output."""
    return lambda command: streaming_runner(env, io.StringIO())(command)


def streaming_runner(env: Mapping[str, str] | None, out: TextIO) -> CaptureRunner:
    """Like capture_runner, but every line also goes to `out` as it comes (a long `up`)."""

    def run(command: Sequence[str]) -> tuple[int, str]:
        lines: list[str] = []
        try:
            with subprocess.Popen(
                list(command),
                env=None if env is None else dict(env),
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
                text=True,
            ) as process:
                assert process.stdout is not None
                for line in process.stdout:
                    out.write(line)
                    out.flush()
                    lines.append(line)
        except FileNotFoundError as exc:
            raise LockError(f"{command[0]} is not installed or not on PATH") from exc
        return process.returncode, "".join(lines)

    return run


def run_holders(
    api: GitHubApi, repo: str, own_workflow: str | None = None
) -> Callable[[str], list[WorkflowRun]]:
    """`current(stack)`: the live runs of `repo` that may hold `stack` (this run left out)."""
    own = os.environ.get("GITHUB_RUN_ID", "")

    def current(stack: str) -> list[WorkflowRun]:
        runs = live_runs(api, repo, datetime.now(UTC))
        return holders(
            runs, stack=stack, own_run_id=int(own) if own else None, own_workflow=own_workflow
        )

    return current


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


def _write_output(exists: bool) -> None:
    output = os.environ.get("GITHUB_OUTPUT", "")
    if output:
        with Path(output).open("a", encoding="utf-8") as handle:
            handle.write(f"exists={'true' if exists else 'false'}\n")


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--repo", required=True, help="owner/name of the repository's runs")
    parser.add_argument("--stack", required=True, help="e.g. pr-12 or app-pr-12")
    parser.add_argument("--wait-minutes", type=float, default=30.0)
    parser.add_argument("--poll-seconds", type=float, default=30.0)
    parser.add_argument("--wait-first", action="store_true", help="(destroy) wait for older runs")
    parser.add_argument("--find", action="store_true", help="write exists=true|false")
    parser.add_argument("--missing-is-warning", action="store_true", help="(destroy) warn")
    parser.add_argument("command", nargs=argparse.REMAINDER, help="-- pulumi ... --stack STACK")
    args = parser.parse_args(argv)
    command = args.command[1:] if args.command[:1] == ["--"] else args.command
    if command and stack_of(command) != args.stack:
        parser.error(f"the command does not name --stack {args.stack}: {' '.join(command)}")
    out = sys.stdout
    wait = args.wait_minutes * 60
    try:
        with GitHubApi(token_from_env("GITHUB_TOKEN")) as api:
            current = run_holders(api, args.repo)
            if args.wait_first:
                still = wait_for_holders(
                    lambda: current(args.stack),
                    timeout_seconds=wait,
                    poll_seconds=args.poll_seconds,
                    out=out,
                )
                if still:
                    raise LockError(
                        f"after {args.wait_minutes:g} minutes {still[0].describe()} still runs "
                        f"on {args.stack}"
                    )
            env = pulumi_env(os.environ)
            if args.find:
                exists = stack_entry(capture_runner(env), args.stack) is not None
                if not exists and args.missing_is_warning:
                    report_missing(args.stack, out)
                print(f"{args.stack}: {'exists' if exists else 'no such stack'}", file=out)
                _write_output(exists)
            if command:
                run_recovering(
                    streaming_runner(env, out),
                    command,
                    args.stack,
                    lambda: current(args.stack),
                    wait_seconds=wait,
                    poll_seconds=args.poll_seconds,
                    out=out,
                )
    except (GitHubApiError, LockError, CommandError, ValueError) as exc:
        print(f"::error title=Pulumi on {args.stack}::{exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
