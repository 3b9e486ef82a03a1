"""Preview a PR's program against one long-lived stack; post the diff; flag data loss.

    python -m scripts.long_lived_preview --repo owner/name --pr 12 --stack production \\
        --labels-json '["bug"]' [--run-url URL] [--preview-json FILE]

Runs `pulumi preview --stack <stack> --json --non-interactive` (or reads its
output from --preview-json), then posts or edits ONE comment per stack on the
PR (marker `<!-- tims-stack:long-lived-preview:<stack> -->`, found by
scripts/pr_comment.py). A replacement or deletion of a stateful resource
(scripts/preview_digest.py) is flagged at the top of the comment, and the
script exits 1 unless the PR has the label `stateful-replacement-ok`. A failed
preview is reported in the comment and exits 1.

The program gets PREVIEW_GITHUB_TOKEN as its GITHUB_TOKEN (the read-only token
ImageBuild resolves the build ref with), never this run's GITHUB_TOKEN, which
only posts the comment.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from scripts.github_api import GitHubApi, GitHubApiError, check_repository, token_from_env
from scripts.pr_comment import DEFAULT_BOT_LOGIN, upsert_comment
from scripts.preview_digest import (
    DigestError,
    StatefulChange,
    changed_steps,
    parse,
    stateful_changes,
    stateful_lines,
    steps_table,
)
from scripts.stack_names import check_environment

INTENDED_LABEL = "stateful-replacement-ok"
"""The label that says a flagged replacement or deletion is intended."""

PreviewRunner = Callable[[Sequence[str], Mapping[str, str]], tuple[int, str]]
"""Runs a command with an environment; returns (exit status, stdout)."""


def marker(stack: str) -> str:
    return f"<!-- tims-stack:long-lived-preview:{check_environment(stack)} -->"


def preview_command(stack: str) -> list[str]:
    return ["pulumi", "preview", "--stack", stack, "--json", "--non-interactive"]


def program_env(environ: Mapping[str, str]) -> dict[str, str]:
    """The preview's environment: this run's token out, the read-only preview token in."""
    env = {k: v for k, v in environ.items() if k not in ("GITHUB_TOKEN", "PREVIEW_GITHUB_TOKEN")}
    preview_token = environ.get("PREVIEW_GITHUB_TOKEN", "")
    if preview_token:
        env["GITHUB_TOKEN"] = preview_token
    return env


def run_capturing(command: Sequence[str], env: Mapping[str, str]) -> tuple[int, str]:
    # stderr goes to the job log (progress, errors); stdout is the JSON digest, so not
    # scripts/lock_recovery.capture_runner, which merges the two.
    done = subprocess.run(
        list(command), env=dict(env), stdout=subprocess.PIPE, text=True, check=False
    )
    return done.returncode, done.stdout


@dataclass(frozen=True)
class Verdict:
    body: str
    ok: bool
    message: str


def judge(
    stack: str,
    status: int,
    output: str,
    labels: Sequence[str],
    *,
    run_url: str | None = None,
) -> Verdict:
    """The comment and whether the check passes, from the preview's exit status and stdout."""
    head = [marker(stack), f"### Preview of `{stack}` with this PR", ""]
    tail = ["", f"Previewed by [this workflow run]({run_url})."] if run_url else []
    try:
        digest = parse(output) if output.strip() else None
        changes: list[StatefulChange] = stateful_changes(digest) if digest else []
        changed = changed_steps(digest) if digest else []
    except DigestError as exc:
        digest, changes, changed = None, [], []
        problem = str(exc)
    else:
        problem = ""
    if status != 0 or digest is None:
        failure = [
            "> [!WARNING]",
            f"> The preview of `{stack}` failed (exit status {status}). "
            "The workflow run's log says why.",
        ]
        if problem:
            failure.append(f"> {problem}")
        body = "\n".join(head + failure + tail) + "\n"
        return Verdict(body, False, f"the preview of {stack} failed (exit status {status})")
    lines: list[str] = []
    intended = INTENDED_LABEL in labels
    if changes:
        lines += [
            "> [!CAUTION]",
            f"> **This PR would replace or delete stateful resources of `{stack}`.** "
            "A replacement starts empty: their data would be lost.",
            "",
            *stateful_lines(changes),
            "",
            (
                f"The label `{INTENDED_LABEL}` says this is intended."
                if intended
                else f"The check fails until the label `{INTENDED_LABEL}` is added to the PR."
            ),
            "",
        ]
    if changed:
        lines += [f"{len(changed)} resource change(s) against `{stack}`'s state:", ""]
        lines += steps_table(changed)
    else:
        lines.append(f"No changes to `{stack}`.")
    body = "\n".join(head + lines + tail) + "\n"
    if changes and not intended:
        return Verdict(
            body,
            False,
            f"the PR replaces or deletes stateful resources of {stack} "
            f"({', '.join(c.name for c in changes)}); add the label {INTENDED_LABEL} if intended",
        )
    return Verdict(body, True, f"{len(changed)} change(s) to {stack}")


def _labels(text: str) -> list[str]:
    loaded = json.loads(text or "[]")
    if not isinstance(loaded, list) or not all(isinstance(x, str) for x in loaded):
        raise ValueError("--labels-json must be a JSON list of label names")
    return loaded


def main(
    argv: Sequence[str] | None = None,
    *,
    runner: PreviewRunner = run_capturing,
    api: GitHubApi | None = None,
) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--repo", required=True)
    parser.add_argument("--pr", required=True, type=int)
    parser.add_argument("--stack", required=True)
    parser.add_argument("--labels-json", default="[]", help="the PR's label names, JSON")
    parser.add_argument("--run-url")
    parser.add_argument("--preview-json", type=Path, help="read the digest instead of previewing")
    parser.add_argument("--bot-login", default=DEFAULT_BOT_LOGIN)
    args = parser.parse_args(argv)
    try:
        check_repository(args.repo)
        check_environment(args.stack)
        labels = _labels(args.labels_json)
        if args.preview_json is not None:
            status, output = 0, args.preview_json.read_text(encoding="utf-8")
        else:
            status, output = runner(preview_command(args.stack), program_env(os.environ))
        verdict = judge(args.stack, status, output, labels, run_url=args.run_url)
        client = api or GitHubApi(token_from_env("GITHUB_TOKEN"))
        try:
            action, comment_id = upsert_comment(
                client, args.repo, args.pr, verdict.body, args.bot_login, marker(args.stack)
            )
        finally:
            if api is None:
                client.close()
    except (GitHubApiError, ValueError, OSError) as exc:
        print(f"::error title=Preview of {args.stack}::{exc}", file=sys.stderr)
        return 1
    print(f"{action} comment {comment_id} on {args.repo}#{args.pr}")
    if not verdict.ok:
        print(f"::error title=Preview of {args.stack}::{verdict.message}", file=sys.stderr)
        return 1
    print(verdict.message)
    return 0


if __name__ == "__main__":
    sys.exit(main())
