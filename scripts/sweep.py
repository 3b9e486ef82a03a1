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
import json
import os
import subprocess
import sys
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TextIO

from scripts.github_api import GitHubApi, GitHubApiError, token_from_env
from scripts.locks import WorkflowRun, capture_runner, clear_if_stale, holders, live_runs
from scripts.orphans import (
    GitHubPrLookup,
    PrLookup,
    PrState,
    PullRequest,
    StackDecision,
    classify,
)
from scripts.pr_checkout import CheckoutError, NotDeployed, checkout_for
from scripts.pr_comment import DEFAULT_BOT_LOGIN, find_marked, upsert_comment
from scripts.stopstart import prepare_stack_file, set_stopped_commands
from scripts.ttl import MARKER as TTL_MARKER
from scripts.ttl import TtlAction, TtlPolicy, comment_body, decide, recorded_state
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


@dataclass(frozen=True)
class Expiry:
    """What the TTL pass needs; functions so tests can hand in fakes."""

    policy: TtlPolicy
    now: datetime
    pull: Callable[[int], PullRequest | None]
    last_push: Callable[[PullRequest], datetime]
    read_comment: Callable[[int], str | None]
    post_comment: Callable[[int, str], object]
    busy: Callable[[PullRequest], list[WorkflowRun]]
    checkout: Callable[[PullRequest], Path]
    """Checks out the PR's own program (scripts/pr_checkout.py); returns its directory."""
    prepare: Callable[[str, str, Path], object]
    """Writes Pulumi.<stack>.yaml for (stack, build ref) in that directory, as the deploy does."""
    build_ref: str
    """PR_BUILD_REF; empty means the PR's head branch."""


def expire(
    decisions: Sequence[StackDecision], expiry: Expiry, run: Runner, *, dry_run: bool, out: TextIO
) -> list[str]:
    """Stop or destroy environments of open PRs idle too long; returns the stacks that failed."""
    failed: list[str] = []
    for decision in (d for d in decisions if not d.orphan):
        try:
            pr = expiry.pull(decision.pr_number)
            if pr is None or pr.state is not PrState.OPEN:
                print(
                    f"{decision.stack}: PR #{decision.pr_number} closed since -> next sweep",
                    file=out,
                )
                continue
            last_push = expiry.last_push(pr)
            recorded = recorded_state(expiry.read_comment(pr.number) or "")
        except GitHubApiError as exc:
            raise SweepError(
                f"TTL: looking up PR #{decision.pr_number} failed, so the sweep stopped "
                f"before touching {decision.stack}: {exc}"
            ) from exc
        action = decide(
            expiry.policy,
            last_push=last_push,
            now=expiry.now,
            labels=pr.labels,
            head_sha=pr.head_sha,
            recorded=recorded,
        )
        print(f"{decision.stack}: last push {last_push:%Y-%m-%d} -> TTL {action.value}", file=out)
        if action is TtlAction.NONE:
            continue
        try:
            busy = expiry.busy(pr)
        except GitHubApiError as exc:
            raise SweepError(
                f"TTL: listing the runs that may hold {decision.stack} failed, so the sweep "
                f"stopped before touching it: {exc}"
            ) from exc
        if busy:
            print(f"{decision.stack}: {busy[0].describe()} is working on it -> skip", file=out)
            continue
        if not _expire_one(decision.stack, pr, action, last_push, expiry, run, dry_run, out):
            failed.append(decision.stack)
    return failed


def _expire_one(
    stack: str,
    pr: PullRequest,
    action: TtlAction,
    last_push: datetime,
    expiry: Expiry,
    run: Runner,
    dry_run: bool,
    out: TextIO,
) -> bool:
    body = comment_body(
        action, stack=stack, policy=expiry.policy, last_push=last_push, head_sha=pr.head_sha
    )
    stopping = action is TtlAction.STOP
    if dry_run:
        commands = set_stopped_commands(stack, True) if stopping else destroy_commands(stack)
        print(f"dry run, would comment on PR #{pr.number}: {action.value}", file=out)
        for command in commands:
            print(f"dry run, would run: {' '.join(command)}", file=out)
        return True
    try:
        commands = destroy_commands(stack)
        if stopping:
            # The PR's own program: the default branch's would undo what the PR deployed.
            # Checked out before the comment, which must not announce a stop that cannot run.
            directory = expiry.checkout(pr)
            expiry.prepare(stack, expiry.build_ref or pr.head_ref, directory)
            commands = set_stopped_commands(stack, True, directory)
        expiry.post_comment(pr.number, body)
        for command in commands:
            print(f"+ {' '.join(command)}", file=out, flush=True)
            run(command)
    except NotDeployed as exc:
        print(f"{stack}: {exc} -> not stopped", file=out)
        return True
    except (CommandError, CheckoutError, GitHubApiError, ValueError) as exc:
        print(f"failed: {exc}", file=out)
        return False
    return True


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


def _expiry(
    api: GitHubApi,
    repo: str,
    lookup: GitHubPrLookup,
    policy: TtlPolicy,
    busy: Callable[[PullRequest], list[WorkflowRun]],
) -> Expiry:
    base = os.environ.get("PR_BASE_CONFIG", "").strip()

    def read_comment(number: int) -> str | None:
        found = find_marked(api, repo, number, DEFAULT_BOT_LOGIN, TTL_MARKER)
        return None if found is None else found[1]

    def prepare(stack: str, ref: str, directory: Path) -> Path:
        if not base:
            raise ValueError("repository variable PR_BASE_CONFIG is not set: cannot stop")
        return prepare_stack_file(base, stack, ref, directory)

    return Expiry(
        policy=policy,
        now=datetime.now(UTC),
        pull=lookup.pull,
        last_push=lookup.last_push,
        read_comment=read_comment,
        post_comment=lambda number, body: upsert_comment(
            api, repo, number, body, marker=TTL_MARKER
        ),
        busy=busy,
        checkout=checkout_for(lookup.deployed_head),
        prepare=prepare,
        build_ref=os.environ.get("PR_BUILD_REF", "").strip(),
    )


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
                expiry=_expiry(api, args.repo, lookup, policy, busy),
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
