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
4. Time to live (scripts/ttl.py): each stack whose pull request is open is
   stopped after PR_STOP_AFTER_DAYS without a push and destroyed after
   PR_DESTROY_AFTER_DAYS, with a PR comment right before each step. The pull
   request is looked up again just before, and an API error stops the sweep.

The Pulumi program's own GitHub token (for deleting the environment's images)
may differ from the one that reads pull requests: when IMAGE_BUILD_TOKEN is
set, the pulumi commands get it as their GITHUB_TOKEN.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from typing import TextIO

from scripts.github_api import GitHubApi, GitHubApiError, token_from_env
from scripts.locks import WorkflowRun, capture_runner, clear_if_stale, holders, live_runs
from scripts.orphans import GitHubPrLookup, PrLookup, PrState, PullRequest, StackDecision, classify
from scripts.pulumi_cli import (
    CommandError,
    Runner,
    SweepError,
    destroy_commands,
    list_stacks,
    pulumi_env,
    subprocess_runner,
)
from scripts.ttl import TtlPolicy
from scripts.ttl_pass import Expiry, expire, github_expiry

__all__ = [
    "CommandError",
    "Expiry",
    "Runner",
    "SweepError",
    "destroy_commands",
    "expire",
    "list_stacks",
    "main",
    "pulumi_env",
    "subprocess_runner",
    "sweep",
]


def sweep(
    lookup: PrLookup,
    run: Runner,
    *,
    dry_run: bool,
    out: TextIO,
    expiry: Expiry | None = None,
    unlock: Callable[[str, int], bool] | None = None,
) -> list[StackDecision]:
    """Run the sweep; returns the decisions. Raises SweepError if any destroy failed.

    `unlock(stack, pr)` runs before an orphan's destroy: it clears a stale lock
    and returns False when a live run may hold the stack (then it is skipped).
    """
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
        if not dry_run and unlock is not None:
            go = _unlocked(decision, unlock, out)
            if go is None:
                failed.append(decision.stack)
            if not go:
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
    if expiry is not None:
        failed += expire(decisions, expiry, run, dry_run=dry_run, out=out)
    if failed:
        raise SweepError(f"could not destroy, remove, stop or unlock: {', '.join(failed)}")
    return decisions


def _unlocked(
    decision: StackDecision, unlock: Callable[[str, int], bool], out: TextIO
) -> bool | None:
    """True: go on; False: a live run may hold the stack (next sweep); None: the check failed."""
    try:
        if unlock(decision.stack, decision.pr_number):
            return True
    except (GitHubApiError, RuntimeError) as exc:
        print(f"{decision.stack}: lock check failed: {exc}", file=out)
        return None
    print(f"{decision.stack}: another run is working on it -> next sweep", file=out)
    return False


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


def _lock_checks(
    api: GitHubApi, repo: str, lookup: GitHubPrLookup
) -> tuple[Callable[[PullRequest], list[WorkflowRun]], Callable[[str, int], bool]]:
    """Which live runs may hold a PR's stack, and the stale-lock clearing the sweep uses."""
    own_id = os.environ.get("GITHUB_RUN_ID", "")
    own = int(own_id) if own_id else None

    def live(pr: int, head_ref: str | None) -> list[WorkflowRun]:
        runs = live_runs(api, repo, datetime.now(UTC))
        return holders(runs, pr=pr, head_ref=head_ref, own_run_id=own, own_workflow="sweep.yml")

    def unlock(stack: str, pr: int) -> bool:
        # A closed PR's runs are found by its head branch (GitHub lists only open PRs on runs).
        pull = lookup.pull(pr)
        head_ref = pull.head_ref if pull is not None else None
        if live(pr, head_ref):
            return False
        run = capture_runner(pulumi_env(os.environ))
        clear_if_stale(run, stack, lambda: live(pr, head_ref), sys.stdout)
        return True

    return (lambda pr: live(pr.number, pr.head_ref)), unlock


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
        policy = TtlPolicy.from_env(os.environ)
        token = token_from_env("GITHUB_TOKEN")
        with GitHubApi(token) as api:
            lookup = GitHubPrLookup(api, args.repo)
            lookup.preflight()
            busy, unlock = _lock_checks(api, args.repo, lookup)
            sweep(
                lookup,
                subprocess_runner(pulumi_env(os.environ)),
                dry_run=args.dry_run,
                out=sys.stdout,
                expiry=github_expiry(api, args.repo, lookup, policy, busy),
                unlock=unlock,
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
