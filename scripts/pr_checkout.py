"""Check out a pull request's own program for a scheduled `pulumi up` on its stack.

The nightly stop and the TTL's stop run `pulumi up` on `pr-<n>` from a
scheduled workflow, whose checkout is the default branch. That program is not
the one the PR deployed: an `up` of it would delete what the PR adds (with
the data of any volume it added), and revert what the PR changes, until the
PR's next push. So each PR's program is checked out on its own:

- the commit is the PR's head, and only once a deploy job succeeded for it:
  that job ran in the `pr-environments` environment, so the commit passed its
  gate (required reviewers, branch rules). A push still awaiting approval, or
  whose deploy failed, is never run from a scheduled workflow, which would
  bypass that gate (NotDeployed). The deploy ran the merge commit
  `refs/pull/<n>/merge`; the head differs from it only by the base branch's
  own changes;
- it is fetched shallowly by its SHA and added as a detached git worktree in
  `$RUNNER_TEMP/tims-stack-prs/pr-<n>`; the Pulumi commands then run with
  `--cwd` there;
- the worktree's `venv` links to the checkout's venv (`make setup` of the
  default branch): Pulumi.yaml names `venv` relative to the project. A PR that
  changes requirements.txt runs with the default branch's packages.

The checkout keeps no credentials (`persist-credentials: false`), so for a
private repository the fetch is given the run's GITHUB_TOKEN the way
actions/checkout does, as an `http.<server>/.extraheader`, but through git's
GIT_CONFIG_* environment variables: never on a command line, never in a file.
"""

from __future__ import annotations

import base64
import os
import re
import subprocess
import tempfile
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path

from scripts.orphans import PullRequest

WORKTREES = "tims-stack-prs"
GitRunner = Callable[[Sequence[str]], None]
"""Runs a git command; raises CheckoutError when it fails."""


class CheckoutError(RuntimeError):
    pass


class NotDeployed(CheckoutError):
    """The PR's head commit has no successful deploy: its program is not run."""


_SHA = re.compile(r"^[0-9a-f]{40}$")


def git_env(environ: Mapping[str, str]) -> dict[str, str]:
    """`environ` plus, when GITHUB_TOKEN is set, the header that lets git fetch with it."""
    env = dict(environ)
    token = env.get("GITHUB_TOKEN", "")
    if not token:
        return env
    server = (env.get("GITHUB_SERVER_URL") or "https://github.com").rstrip("/")
    basic = base64.b64encode(f"x-access-token:{token}".encode()).decode("ascii")
    index = int(env.get("GIT_CONFIG_COUNT") or 0)
    env[f"GIT_CONFIG_KEY_{index}"] = f"http.{server}/.extraheader"
    env[f"GIT_CONFIG_VALUE_{index}"] = f"AUTHORIZATION: basic {basic}"
    env["GIT_CONFIG_COUNT"] = str(index + 1)
    return env


def git_runner(env: Mapping[str, str]) -> GitRunner:
    def run(command: Sequence[str]) -> None:
        try:
            done = subprocess.run(
                list(command),
                env=dict(env),
                check=False,
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
                text=True,
            )
        except FileNotFoundError as exc:
            raise CheckoutError("git is not installed or not on PATH") from exc
        if done.returncode != 0:
            raise CheckoutError(
                f"`{' '.join(command)}` exited with status {done.returncode}: {done.stdout[-500:]}"
            )

    return run


def worktree_root(environ: Mapping[str, str]) -> Path:
    return Path(environ.get("RUNNER_TEMP") or tempfile.gettempdir()) / WORKTREES


def checkout_pr(number: int, sha: str, repo_dir: Path, into: Path, run: GitRunner) -> Path:
    """Add commit `sha` of PR `number` as a worktree under `into`; returns its directory."""
    if number < 1 or not _SHA.fullmatch(sha):
        raise ValueError(f"not a pull request number and commit: #{number} {sha!r}")
    directory = into / f"pr-{number}"
    git = ["git", "-C", str(repo_dir)]
    try:
        run([*git, "fetch", "--no-tags", "--depth=1", "origin", sha])
    except CheckoutError as exc:
        raise CheckoutError(f"cannot fetch commit {sha} of PR #{number}: {exc}") from exc
    if directory.exists():
        run([*git, "worktree", "remove", "--force", str(directory)])
    into.mkdir(parents=True, exist_ok=True)
    run([*git, "worktree", "add", "--detach", str(directory), sha])
    venv = directory / "venv"
    if not venv.exists() and not venv.is_symlink():
        venv.symlink_to((repo_dir / "venv").absolute())
    return directory


def gated(
    deployed: Callable[[PullRequest], bool], checkout: Callable[[int, str], Path]
) -> Callable[[PullRequest], Path]:
    """`checkout(pr)`, refusing (NotDeployed) a head commit no deploy job succeeded for."""

    def run(pr: PullRequest) -> Path:
        if not deployed(pr):
            raise NotDeployed(
                f"PR #{pr.number}'s newest commit {pr.head_sha[:12]} has no successful deploy "
                "(awaiting approval, failed, or not run yet), so its program is not run here"
            )
        return checkout(pr.number, pr.head_sha)

    return run


def checkout_for(
    deployed: Callable[[PullRequest], bool], environ: Mapping[str, str] | None = None
) -> Callable[[PullRequest], Path]:
    """`checkout(pr)` for the scheduled workflows: this checkout, the run's token."""
    env = dict(os.environ if environ is None else environ)
    git = git_runner(git_env(env))
    into = worktree_root(env)
    return gated(deployed, lambda number, sha: checkout_pr(number, sha, Path.cwd(), into, git))
