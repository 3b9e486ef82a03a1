"""Run a Pulumi command that takes a stack's lock; recover when it is refused for a lock.

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

it looks for the runs that may hold the lock (scripts.lock_holders). While one
is live it waits for it, then runs the command again. With none, the lock is
stale (a job killed by its timeout): it is logged as a warning with Pulumi's
own description, cleared with `pulumi cancel --yes` (DIY: deletes every lock
file, diy/backend.go `CancelCurrentUpdate`; Cloud: cancels the update), and
the command runs once more.
"""

from __future__ import annotations

import io
import subprocess
import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any, TextIO

from scripts.lock_holders import WorkflowRun, wait_for_holders
from scripts.pulumi_cli import STACK_LS, CommandError, Runner, parse_stack_listing

LOCKED_MARKERS = ("currently locked by", "/update-conflicts")
"""How a DIY backend (diy/lock.go) and Pulumi Cloud (backenderr) refuse a locked stack."""
WAIT_ROUNDS = 3
"""Times a command is retried after waiting for live runs that hold its lock."""

CaptureRunner = Callable[[Sequence[str]], tuple[int, str]]
"""Runs a command; returns its exit status and its stdout and stderr together."""


class LockError(RuntimeError):
    pass


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
