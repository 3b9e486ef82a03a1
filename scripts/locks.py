"""Run a Pulumi command on a PR stack; wait for a live run's lock, clear a dead run's.

    python -m scripts.locks --repo owner/name --stack pr-12 [--wait-minutes 30] \\
        -- pulumi up --stack pr-12 --yes --non-interactive
    python -m scripts.locks --repo owner/name --stack pr-12 --wait-first --find \\
        [--missing-is-warning] [--wait-minutes 120]

The command runs through scripts.lock_recovery.run_recovering, which finds the
runs that may hold the lock with scripts.lock_holders. `--wait-first` (the
destroy job) waits for every older run that may touch the stack before
anything else, since a running deploy may not have taken the lock yet;
`--find` writes `exists=true|false` (from `pulumi stack ls`) to GITHUB_OUTPUT.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import TextIO

from scripts.github_api import GitHubApi, GitHubApiError, token_from_env
from scripts.lock_holders import run_holders, wait_for_holders
from scripts.lock_recovery import (
    LockError,
    capture_runner,
    run_recovering,
    stack_entry,
    stack_of,
    streaming_runner,
)
from scripts.pulumi_cli import CommandError, pulumi_env


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
