"""Stop or start the environments of open PRs on the nightly schedule (rules: schedule.py).

    python -m scripts.nightly --repo owner/name --action auto|stop|start [--dry-run]

Every PR is looked up right before its stack is touched, and any GitHub API
error stops the run there, as in the sweep: an unknown answer never reads as
"this PR is open". With APP_REPOSITORY set, the `app-pr-<number>` stacks of the
application repository's PRs are switched too (read with IMAGE_BUILD_TOKEN),
with this checkout's program, the one their deploy ran.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from functools import partial
from pathlib import Path
from typing import TextIO

from scripts.github_api import GitHubApi, GitHubApiError, token_from_env
from scripts.labels import KEEP_RUNNING_LABEL
from scripts.lock_holders import WorkflowRun, run_holders
from scripts.lock_recovery import recovering_runner, streaming_runner
from scripts.orphans import AppPrLookup, GitHubPrLookup, PrState, PullRequest
from scripts.pr_checkout import CheckoutError, NotDeployed, checkout_for
from scripts.pr_comment import (
    DEFAULT_BOT_LOGIN,
    EnvironmentOutputs,
    edit_existing,
    find_marked,
    own_login,
    render_body,
)
from scripts.pulumi_cli import CommandError, Runner, list_stacks, pulumi_env, subprocess_runner
from scripts.schedule import ScheduleError, Switch, resolve
from scripts.stack_names import pr_number_of, stack_name_for_pr
from scripts.stopstart import prepare_stack_file, set_stopped_commands
from scripts.ttl import MARKER as TTL_MARKER
from scripts.ttl import stopped_by_ttl


class NightlyError(RuntimeError):
    pass


def switch_environments(
    stacks: Sequence[str],
    switch: Switch,
    *,
    pull: Callable[[int], PullRequest | None],
    ttl_comment: Callable[[int], str | None],
    busy: Callable[[PullRequest], list[WorkflowRun]],
    run: Runner,
    checkout: Callable[[PullRequest], Path],
    prepare: Callable[[str, str, Path], object],
    build_ref: str,
    dry_run: bool,
    out: TextIO,
    app: bool = False,
) -> list[str]:
    """Stop or start each `pr-<n>` stack that qualifies; returns the stacks switched.

    `checkout(pr)` checks out the PR's own program and returns its directory;
    `prepare(stack, ref, directory)` writes the stack file there; the Pulumi
    commands run in it. A failed checkout or command is reported and the others
    still run; NightlyError at the end names the failures. `app`: the
    `app-pr-<number>` stacks (`pull` then reads the application repository).
    """
    switched: list[str] = []
    failed: list[str] = []
    for stack in stacks:
        number = pr_number_of(stack, app=app)
        if number is None:
            continue
        reason = _skip_reason(number, switch, pull, ttl_comment, busy)
        if isinstance(reason, str):
            print(f"{stack}: {reason} -> skip", file=out)
            continue
        if dry_run:
            for command in set_stopped_commands(stack, switch is Switch.STOP):
                print(f"dry run, would run: {' '.join(command)}", file=out)
            continue
        try:
            directory = checkout(reason)
        except NotDeployed as exc:
            print(f"{stack}: {exc} -> skip", file=out)
            continue
        except CheckoutError as exc:
            print(f"{stack}: cannot check out the PR's program: {exc}", file=out)
            failed.append(stack)
            continue
        prepare(stack, build_ref or reason.head_ref, directory)
        commands = set_stopped_commands(stack, switch is Switch.STOP, directory)
        for command in commands:
            print(f"+ {' '.join(command)}", file=out, flush=True)
            try:
                run(command)
            except CommandError as exc:
                print(f"failed: {exc}", file=out)
                failed.append(stack)
                break
        else:
            switched.append(stack)
    if failed:
        raise NightlyError(f"could not {switch.value}: {', '.join(failed)}")
    return switched


def _skip_reason(
    number: int,
    switch: Switch,
    pull: Callable[[int], PullRequest | None],
    ttl_comment: Callable[[int], str | None],
    busy: Callable[[PullRequest], list[WorkflowRun]],
) -> str | PullRequest:
    """Why PR `number`'s stack is left alone, or the PR when it is switched."""
    pr = pull(number)
    if pr is None or pr.state is not PrState.OPEN:
        return f"PR #{number} is not open (the sweep removes its stack)"
    if KEEP_RUNNING_LABEL in pr.labels:
        return f"PR #{number} is labelled {KEEP_RUNNING_LABEL}"
    if stopped_by_ttl(ttl_comment(number), pr.head_sha):
        return f"PR #{number} had no push for too long: the TTL stopped it"
    runs = busy(pr)
    if runs:
        return f"{runs[0].describe()} is working on it"
    return pr


def busy_check(
    current: Callable[[str], list[WorkflowRun]], *, app: bool = False
) -> Callable[[PullRequest], list[WorkflowRun]]:
    """The live runs that may hold a PR's stack, other nightly runs left out (lock_holders)."""
    return lambda pr: current(stack_name_for_pr(pr.number, app=app))


def run_nightly(repo: str, switch: Switch, *, dry_run: bool) -> list[str]:
    base = os.environ.get("PR_BASE_CONFIG", "").strip()
    if not base:
        raise NightlyError(
            "repository variable PR_BASE_CONFIG is not set: the nightly stop writes each "
            "PR's stack file from it, as the deploy does"
        )
    app_repo = os.environ.get("APP_REPOSITORY", "").strip()
    with GitHubApi(token_from_env("GITHUB_TOKEN")) as api:
        current = run_holders(api, repo, own_workflow="nightly.yml")
        run = recovering_runner(
            streaming_runner(pulumi_env(os.environ), sys.stdout), current, sys.stdout
        )
        try:
            stacks = list_stacks(subprocess_runner(pulumi_env(os.environ)))
        except CommandError as exc:
            raise NightlyError(str(exc)) from exc
        own = GitHubPrLookup(api, repo)
        switched = _switch(own, (api, repo), stacks, switch, current, run, base, dry_run, False)
        if app_repo:
            with GitHubApi(token_from_env("IMAGE_BUILD_TOKEN")) as app_api:
                lookup = AppPrLookup(app_api, app_repo, api, repo)
                switched += _switch(
                    lookup, (app_api, app_repo), stacks, switch, current, run, base, dry_run, True
                )
        return switched


def _switch(
    lookup: GitHubPrLookup,
    comments: tuple[GitHubApi, str],
    stacks: Sequence[str],
    switch: Switch,
    current: Callable[[str], list[WorkflowRun]],
    run: Runner,
    base: str,
    dry_run: bool,
    app: bool,
) -> list[str]:
    lookup.preflight()
    api, repo = comments
    author = own_login(api) if app else DEFAULT_BOT_LOGIN

    def ttl_comment(number: int) -> str | None:
        found = find_marked(api, repo, number, author, TTL_MARKER)
        return None if found is None else found[1]

    def prepare(stack: str, ref: str, directory: Path) -> object:
        return prepare_stack_file(base, stack, ref, directory)

    switched = switch_environments(
        stacks,
        switch,
        pull=lookup.pull,
        ttl_comment=ttl_comment,
        busy=busy_check(current, app=app),
        run=run,
        # An app PR's program is this checkout's: its deploy ran the default branch too.
        checkout=(lambda _pr: Path.cwd()) if app else checkout_for(lookup.deployed_head),
        prepare=prepare,
        build_ref="" if app else os.environ.get("PR_BUILD_REF", "").strip(),
        dry_run=dry_run,
        out=sys.stdout,
        app=app,
    )
    for stack in switched:
        number = pr_number_of(stack, app=app)
        if number is not None:
            say_switched(
                stack, switch, run, partial(edit_existing, api, repo, number, bot_login=author)
            )
    return switched


def say_switched(stack: str, switch: Switch, run: Runner, edit: Callable[[str], object]) -> None:
    """Show the stop (or the start) in the PR's environment comment, with its outputs.

    A failure here is reported and changes nothing else: the stack is switched."""
    try:
        outputs = json.loads(run(["pulumi", "stack", "output", "--stack", stack, "--json"]))
        body = render_body(
            stack,
            EnvironmentOutputs.from_stack_outputs(outputs),
            stopped=switch is Switch.STOP,
        )
        edit(body)
    except (CommandError, GitHubApiError, ValueError) as exc:
        print(f"{stack}: switched, but its PR comment was not updated: {exc}", file=sys.stdout)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--repo", required=True, help="owner/name")
    parser.add_argument("--action", choices=("auto", "stop", "start"), required=True)
    parser.add_argument("--dry-run", action="store_true", help="print, change nothing")
    args = parser.parse_args(argv)
    try:
        switch = resolve(args.action, os.environ, datetime.now(UTC), sys.stdout)
        if switch is None:
            return 0
        run_nightly(args.repo, switch, dry_run=args.dry_run)
    except (ScheduleError, NightlyError, GitHubApiError, ValueError) as exc:
        print(f"::error title=Nightly {args.action}::{exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
