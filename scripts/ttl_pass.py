"""The sweep's time-to-live pass: stop or destroy environments of open PRs idle too long.

What to do is decided by scripts/ttl.py; this module looks each PR up, skips
stacks a live run may hold, comments on the PR and runs the pulumi commands.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TextIO

from scripts.github_api import GitHubApi, GitHubApiError
from scripts.lock_holders import WorkflowRun
from scripts.orphans import GitHubPrLookup, PrState, PullRequest, StackDecision
from scripts.pr_checkout import CheckoutError, NotDeployed, checkout_for
from scripts.pr_comment import DEFAULT_BOT_LOGIN, find_marked, own_login, upsert_comment
from scripts.pulumi_cli import CommandError, Runner, SweepError, destroy_commands
from scripts.stopstart import prepare_stack_file, set_stopped_commands
from scripts.ttl import MARKER as TTL_MARKER
from scripts.ttl import TtlAction, TtlPolicy, comment_body, decide, recorded_state


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


def github_expiry(
    api: GitHubApi,
    repo: str,
    lookup: GitHubPrLookup,
    policy: TtlPolicy,
    busy: Callable[[PullRequest], list[WorkflowRun]],
    *,
    app: bool = False,
) -> Expiry:
    """`app`: PRs of the application repository (`api` holds its token). Their program is
    this checkout's, which their deploy ran too, and their images build from their branch."""
    base = os.environ.get("PR_BASE_CONFIG", "").strip()
    author = own_login(api) if app else DEFAULT_BOT_LOGIN

    def read_comment(number: int) -> str | None:
        found = find_marked(api, repo, number, author, TTL_MARKER)
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
            api, repo, number, body, author, marker=TTL_MARKER
        ),
        busy=busy,
        checkout=(lambda _pr: Path.cwd()) if app else checkout_for(lookup.deployed_head),
        prepare=prepare,
        build_ref="" if app else os.environ.get("PR_BUILD_REF", "").strip(),
    )
