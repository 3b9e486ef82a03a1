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

With APP_REPOSITORY set, the same is done for the `app-pr-<number>` stacks of
the application repository's pull requests, read with IMAGE_BUILD_TOKEN. Their
program is this checkout's: the deploy ran it too (pr-environment.yml, run
from the default branch).

Every Pulumi command that takes a stack's lock goes through
scripts.lock_recovery.recovering_runner: a lock no live run may hold is cleared, and a
stack a live run may hold is left for the next sweep.

The Pulumi program's own GitHub token (for deleting the environment's images)
may differ from the one that reads pull requests: when IMAGE_BUILD_TOKEN is
set, the pulumi commands get it as their GITHUB_TOKEN.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Callable, Sequence
from typing import TextIO

from scripts.github_api import GitHubApi, GitHubApiError, token_from_env
from scripts.lock_holders import WorkflowRun, run_holders
from scripts.lock_recovery import recovering_runner, streaming_runner
from scripts.orphans import (
    AppPrLookup,
    GitHubPrLookup,
    PrLookup,
    PrState,
    PullRequest,
    StackDecision,
    classify,
)
from scripts.pulumi_cli import (
    CommandError,
    Runner,
    SweepError,
    destroy_commands,
    list_stacks,
    pulumi_env,
    subprocess_runner,
)
from scripts.stack_names import pr_number_of, stack_name_for_pr
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
    app: bool = False,
    app_judged: bool = True,
) -> list[StackDecision]:
    """Run the sweep; returns the decisions. Raises SweepError if any destroy failed, or
    (`app_judged` False: APP_REPOSITORY is unset) if app-pr stacks exist, which no pass judges.

    `unlock(stack, pr)` runs before an orphan's destroy: it returns False when
    a live run may hold the stack (then it is skipped). `app`: sweep the
    `app-pr-<number>` stacks (`lookup` then reads the application repository).
    """
    stacks = list_stacks(run)
    decisions = classify(stacks, lookup, app=app)
    unjudged = [] if app or app_judged else [s for s in stacks if pr_number_of(s, app=True)]
    for stack in unjudged:
        print(f"{stack}: no APP_REPOSITORY, so its PR cannot be looked up -> kept", file=out)
    kind = "app-pr-<number>" if app else "pr-<number>"
    print(f"{len(stacks)} stacks, {len(decisions)} named {kind}", file=out)
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
    problems = []
    if failed:
        problems.append(f"could not destroy, remove, stop or unlock: {', '.join(failed)}")
    if unjudged:
        problems.append(
            f"{', '.join(unjudged)}: app PR environments, but the variable APP_REPOSITORY is "
            "not set, so they are never judged: set it, or destroy them by hand (docs/ci.md)"
        )
    if problems:
        raise SweepError("; ".join(problems))
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


def _busy(
    current: Callable[[str], list[WorkflowRun]], app: bool
) -> tuple[Callable[[PullRequest], list[WorkflowRun]], Callable[[str, int], bool]]:
    """Which live runs may hold a PR's stack, and whether an orphan's stack is free of them."""

    def busy(pr: PullRequest) -> list[WorkflowRun]:
        return current(stack_name_for_pr(pr.number, app=app))

    return busy, lambda stack, _pr: not current(stack)


def _pass(
    lookup: GitHubPrLookup,
    comments: tuple[GitHubApi, str],
    current: Callable[[str], list[WorkflowRun]],
    policy: TtlPolicy,
    *,
    app: bool,
    dry_run: bool,
    app_judged: bool = True,
) -> None:
    lookup.preflight()
    busy, unlock = _busy(current, app)
    pulumi = streaming_runner(pulumi_env(os.environ), sys.stdout)
    run = recovering_runner(pulumi, current, sys.stdout)
    expiry = github_expiry(comments[0], comments[1], lookup, policy, busy, app=app)
    sweep(
        lookup,
        _shown(run),
        dry_run=dry_run,
        out=sys.stdout,
        expiry=expiry,
        unlock=unlock,
        app=app,
        app_judged=app_judged,
    )


def _shown(run: Runner) -> Runner:
    """The listing goes through the plain runner: its JSON must not reach the log twice."""
    plain = subprocess_runner(pulumi_env(os.environ))

    def runner(command: Sequence[str]) -> str:
        return plain(command) if list(command[1:3]) == ["stack", "ls"] else run(command)

    return runner


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument(
        "--repo", required=True, help="owner/name whose pull requests own pr-* stacks"
    )
    parser.add_argument(
        "--dry-run", action="store_true", help="print what would be done, do nothing"
    )
    args = parser.parse_args(argv)
    app_repo = os.environ.get("APP_REPOSITORY", "").strip()
    own_done = False
    failed: list[str] = []
    try:
        policy = TtlPolicy.from_env(os.environ)
        token = token_from_env("GITHUB_TOKEN")
        with GitHubApi(token) as api:
            current = run_holders(api, args.repo, own_workflow="sweep.yml")
            own = GitHubPrLookup(api, args.repo)
            failed += _finished(
                lambda: _pass(
                    own,
                    (api, args.repo),
                    current,
                    policy,
                    app=False,
                    dry_run=args.dry_run,
                    app_judged=bool(app_repo),
                )
            )
            own_done = True
            if app_repo:
                with GitHubApi(token_from_env("IMAGE_BUILD_TOKEN")) as app_api:
                    lookup = AppPrLookup(app_api, app_repo, api, args.repo)
                    failed += _finished(
                        lambda: _pass(
                            lookup,
                            (app_api, app_repo),
                            current,
                            policy,
                            app=True,
                            dry_run=args.dry_run,
                        )
                    )
    except (GitHubApiError, ValueError) as exc:
        # The own pass may have destroyed stacks already: say only what is true.
        scope = "app-pr-<number> stacks: nothing was deleted" if own_done else "Nothing was deleted"
        print(f"error: {exc}\n{scope}.", file=sys.stderr)
        return 1
    return 1 if failed else 0


def _finished(sweep_pass: Callable[[], None]) -> list[str]:
    """Run one pass; a failed destroy is reported and the next pass still runs."""
    try:
        sweep_pass()
    except (SweepError, CommandError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return [str(exc)]
    return []


if __name__ == "__main__":
    sys.exit(main())
