"""Find drift on one long-lived stack; keep one GitHub issue per drifted stack.

    python -m scripts.drift --repo owner/name --stack production [--run-url URL]

Two read-only Pulumi commands, both with `--expect-no-changes --json`:

1. `pulumi refresh --preview-only`: the cluster against the state (someone
   changed or deleted a resource by hand);
2. `pulumi preview`: the program and config of this commit against the state
   (main holds changes that were never deployed).

Neither writes: on a self-managed backend both run with `DryRun` and without
a snapshot manager or the stack lock (pulumi/pulumi `pkg/backend/diy/backend.go`,
`(*diyBackend).Refresh` with `PreviewOnly` and `apply`). A command
exiting with Pulumi's "changes found" status (7) is drift; any other failure
fails the job and leaves the issues alone.

Drift opens an issue (title `Drift on <stack>`, label `drift`, a hidden
marker per stack) or edits the open one; no drift closes it. The issue is
found among the open issues by its marker and its author (GITHUB_TOKEN needs
`issues: write`).
"""

from __future__ import annotations

import argparse
import enum
import os
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from scripts.github_api import GitHubApi, GitHubApiError, check_repository, token_from_env
from scripts.long_lived_preview import PreviewRunner, program_env, run_capturing
from scripts.pr_comment import DEFAULT_BOT_LOGIN
from scripts.preview_digest import DigestError, changed_steps, parse, steps_table
from scripts.stack_names import check_environment

LABEL = "drift"
EXIT_NO_CHANGES = 7
"""Pulumi's exit status when --expect-no-changes finds changes (`ExitNoChanges`,
pulumi/pulumi pkg/cmd/pulumi/cmd/exit_codes.go, chosen by `ExitCodeFor` for the
`NoChangesExpectedError` of preview.go and refresh.go)."""


class Drift(enum.Enum):
    NONE = "none"
    FOUND = "found"


class DriftError(RuntimeError):
    pass


@dataclass(frozen=True)
class Check:
    what: str
    """What the command compares, for the issue."""
    command: tuple[str, ...]


def checks(stack: str) -> list[Check]:
    common = ("--stack", stack, "--expect-no-changes", "--json", "--non-interactive")
    return [
        Check(
            "the cluster differs from the state", ("pulumi", "refresh", "--preview-only", *common)
        ),
        Check("the program on main differs from the state", ("pulumi", "preview", *common)),
    ]


def marker(stack: str) -> str:
    return f"<!-- tims-stack:drift:{check_environment(stack)} -->"


def title(stack: str) -> str:
    return f"Drift on {stack}"


def classify(check: Check, status: int, output: str) -> tuple[Drift, list[str]]:
    """(drift or not, table lines of what changed); DriftError when the command failed.

    With --expect-no-changes, changes exit with EXIT_NO_CHANGES and any other failure
    with another code (`ExitCodeFor`, pulumi/pulumi pkg/cmd/pulumi/cmd/exit_codes.go,
    since v3.226.0); the digest is still printed first.
    """
    if status == 0:
        return Drift.NONE, []
    shown = " ".join(check.command)
    if status != EXIT_NO_CHANGES:
        raise DriftError(f"`{shown}` failed (exit status {status}); the log above says why")
    try:
        table = steps_table(changed_steps(parse(output)))
    except DigestError as exc:
        table = [f"(the changes could not be listed: {exc})"]
    return Drift.FOUND, table


def detect(
    stack: str, runner: PreviewRunner, env: Mapping[str, str]
) -> list[tuple[Check, list[str]]]:
    """The checks that found drift, each with its table; raises DriftError on a failure."""
    found = []
    for check in checks(stack):
        status, output = runner(check.command, env)
        drift, table = classify(check, status, output)
        if drift is Drift.FOUND:
            found.append((check, table))
    return found


def issue_body(stack: str, found: list[tuple[Check, list[str]]], run_url: str | None) -> str:
    lines = [marker(stack), f"Pulumi sees drift on the long-lived stack `{stack}`.", ""]
    for check, table in found:
        lines += [f"#### {check.what}", "", f"`{' '.join(check.command)}`", "", *table, ""]
    lines += [
        "Deploy main again (re-run the last deploy of `long-lived.yml`) to put the cluster "
        "back as the program says, or change the program to match. This issue is closed "
        "by the first drift check that finds no drift.",
    ]
    if run_url:
        lines += ["", f"Last seen by [this workflow run]({run_url})."]
    return "\n".join(lines) + "\n"


def find_issue(api: GitHubApi, repo: str, stack: str, bot_login: str) -> dict[str, Any] | None:
    """The open drift issue of `stack` written by `bot_login`, if any."""
    for issue in api.paginate(f"/repos/{repo}/issues", {"state": "open"}):
        if "pull_request" in issue:
            continue
        author = (issue.get("user") or {}).get("login")
        if author == bot_login and marker(stack) in (issue.get("body") or ""):
            return dict(issue)
    return None


def reconcile(
    api: GitHubApi,
    repo: str,
    stack: str,
    found: list[tuple[Check, list[str]]],
    *,
    run_url: str | None = None,
    bot_login: str = DEFAULT_BOT_LOGIN,
) -> str:
    """Open, edit or close the stack's issue; returns what was done."""
    check_repository(repo)
    existing = find_issue(api, repo, stack, bot_login)
    if found:
        body = issue_body(stack, found, run_url)
        if existing is None:
            created = api.request(
                "POST",
                f"/repos/{repo}/issues",
                json={"title": title(stack), "body": body, "labels": [LABEL]},
                expected=(201,),
            ).json()
            return f"opened issue #{created['number']}"
        api.request("PATCH", f"/repos/{repo}/issues/{existing['number']}", json={"body": body})
        return f"updated issue #{existing['number']}"
    if existing is None:
        return "no drift, no open issue"
    closed_note = "\n**No drift any more**" + (f": [checked here]({run_url})." if run_url else ".")
    api.request(
        "PATCH",
        f"/repos/{repo}/issues/{existing['number']}",
        json={
            "state": "closed",
            "state_reason": "completed",
            "body": str(existing.get("body") or "") + closed_note + "\n",
        },
    )
    return f"closed issue #{existing['number']}"


def main(
    argv: Sequence[str] | None = None,
    *,
    runner: PreviewRunner = run_capturing,
    api: GitHubApi | None = None,
) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--repo", required=True)
    parser.add_argument("--stack", required=True)
    parser.add_argument("--run-url")
    parser.add_argument("--bot-login", default=DEFAULT_BOT_LOGIN)
    args = parser.parse_args(argv)
    try:
        check_repository(args.repo)
        check_environment(args.stack)
        found = detect(args.stack, runner, program_env(os.environ))
        client = api or GitHubApi(token_from_env("GITHUB_TOKEN"))
        try:
            done = reconcile(
                client, args.repo, args.stack, found, run_url=args.run_url, bot_login=args.bot_login
            )
        finally:
            if api is None:
                client.close()
    except (DriftError, GitHubApiError, ValueError, OSError) as exc:
        print(f"::error title=Drift check of {args.stack}::{exc}", file=sys.stderr)
        return 1
    if found:
        print(f"::warning title=Drift on {args.stack}::{done}", file=sys.stderr)
    print(f"{args.stack}: {done}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
