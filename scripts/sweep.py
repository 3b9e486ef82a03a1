"""Destroy and remove `pr-<number>` stacks whose pull request is closed or gone.

    python -m scripts.sweep --repo owner/name [--dry-run]

1. `pulumi stack ls --json --project tims-stack` lists this project's stacks,
   named explicitly rather than taken from whatever Pulumi.yaml is nearest.
2. Every `pr-<number>` stack's pull request is looked up on GitHub (token in
   GITHUB_TOKEN). Any API error stops the sweep here, before anything is
   deleted. Stacks whose pull request is open are never touched; stacks not
   named `pr-<number>` are not even looked up.
3. For each orphan, its pull request is looked up once more right before the
   destroy: one reopened since step 2 keeps its stack. Then `pulumi destroy`,
   then `pulumi stack rm` (which refuses to remove a stack that still has
   resources). Each command is printed
   before it runs; with --dry-run it is only printed.

The Pulumi program's own GitHub token (for deleting the environment's images)
may differ from the one that reads pull requests: when IMAGE_BUILD_TOKEN is
set, the pulumi commands get it as their GITHUB_TOKEN.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from collections.abc import Callable, Mapping, Sequence
from typing import TextIO

from scripts.github_api import GitHubApi, GitHubApiError, token_from_env
from scripts.orphans import GitHubPrLookup, PrLookup, PrState, StackDecision, classify
from stack.naming import PROJECT

Runner = Callable[[Sequence[str]], str]
"""Runs a command and returns its stdout; raises CommandError when it fails."""


class CommandError(RuntimeError):
    pass


class SweepError(RuntimeError):
    pass


def subprocess_runner(env: Mapping[str, str] | None = None) -> Runner:
    def run(command: Sequence[str]) -> str:
        try:
            done = subprocess.run(
                list(command),
                env=None if env is None else dict(env),
                check=False,
                stdout=subprocess.PIPE,
                text=True,
            )
        except FileNotFoundError as exc:
            raise CommandError(f"{command[0]} is not installed or not on PATH") from exc
        if done.returncode != 0:
            raise CommandError(f"`{' '.join(command)}` exited with status {done.returncode}")
        return done.stdout

    return run


def pulumi_env(environ: Mapping[str, str]) -> dict[str, str]:
    """The environment for pulumi commands: IMAGE_BUILD_TOKEN, if set, is their GITHUB_TOKEN."""
    env = dict(environ)
    image_token = env.get("IMAGE_BUILD_TOKEN", "")
    if image_token:
        env["GITHUB_TOKEN"] = image_token
    return env


def list_stacks(run: Runner) -> list[str]:
    """Stack names from `pulumi stack ls --json`; anything unexpected raises."""
    command = ["pulumi", "stack", "ls", "--json", "--project", PROJECT]
    output = run(command)
    try:
        listed = json.loads(output)
    except ValueError as exc:
        raise SweepError(f"`{' '.join(command)}` did not print JSON: {exc}") from exc
    if not isinstance(listed, list):
        raise SweepError(f"`{' '.join(command)}` printed {type(listed).__name__}, not a list")
    names: list[str] = []
    for entry in listed:
        name = entry.get("name") if isinstance(entry, dict) else None
        if not isinstance(name, str) or not name:
            raise SweepError(f"`{' '.join(command)}` listed an entry without a name: {entry!r}")
        names.append(name)
    return names


def destroy_commands(stack: str) -> list[list[str]]:
    return [
        ["pulumi", "destroy", "--stack", stack, "--yes", "--non-interactive", "--skip-preview"],
        ["pulumi", "stack", "rm", stack, "--yes", "--non-interactive"],
    ]


def sweep(
    lookup: PrLookup,
    run: Runner,
    *,
    dry_run: bool,
    out: TextIO,
) -> list[StackDecision]:
    """Run the sweep; returns the decisions. Raises SweepError if any destroy failed."""
    stacks = list_stacks(run)
    decisions = classify(stacks, lookup)
    print(f"{len(stacks)} stacks, {len(decisions)} named pr-<number>", file=out)
    for decision in decisions:
        verdict = "orphan" if decision.orphan else "keep"
        print(
            f"{decision.stack}: PR #{decision.pr_number} is {decision.state.value} -> {verdict}",
            file=out,
        )
    failed: list[str] = []
    destroyed: list[str] = []
    for decision in (d for d in decisions if d.orphan):
        if not dry_run and _reopened(decision, lookup, destroyed, out):
            continue
        for command in destroy_commands(decision.stack):
            shown = " ".join(command)
            if dry_run:
                print(f"dry run, would run: {shown}", file=out)
                continue
            print(f"+ {shown}", file=out, flush=True)
            try:
                run(command)
            except CommandError as exc:
                # One stuck stack must not shield the others from the sweep.
                print(f"failed: {exc}", file=out)
                failed.append(decision.stack)
                break
        else:
            destroyed.append(decision.stack)
    if failed:
        raise SweepError(f"could not destroy or remove: {', '.join(failed)}")
    return decisions


def _reopened(
    decision: StackDecision, lookup: PrLookup, destroyed: Sequence[str], out: TextIO
) -> bool:
    """Look the PR up again just before its destroy: earlier destroys take minutes,
    and a PR reopened meanwhile must keep its stack. An API error stops the sweep."""
    try:
        state = lookup(decision.pr_number)
    except GitHubApiError as exc:
        done = ", ".join(destroyed) or "none"
        raise SweepError(
            f"re-checking PR #{decision.pr_number} before destroying {decision.stack} failed, "
            f"so the sweep stopped (already destroyed: {done}): {exc}"
        ) from exc
    if state is PrState.OPEN:
        print(
            f"{decision.stack}: PR #{decision.pr_number} was reopened since the lookup -> keep",
            file=out,
        )
        return True
    return False


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument(
        "--repo", required=True, help="owner/name whose pull requests own pr-* stacks"
    )
    parser.add_argument(
        "--dry-run", action="store_true", help="print what would be done, do nothing"
    )
    args = parser.parse_args(argv)
    try:
        token = token_from_env("GITHUB_TOKEN")
        with GitHubApi(token) as api:
            lookup = GitHubPrLookup(api, args.repo)
            lookup.preflight()
            sweep(
                lookup,
                subprocess_runner(pulumi_env(os.environ)),
                dry_run=args.dry_run,
                out=sys.stdout,
            )
    except (GitHubApiError, ValueError) as exc:
        print(f"error: {exc}\nNothing was deleted.", file=sys.stderr)
        return 1
    except (SweepError, CommandError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
