"""Check out a pull request's own program for a scheduled `pulumi up` on its stack.

The nightly stop and the TTL's stop run `pulumi up` on `pr-<n>` from a
scheduled workflow, whose checkout is the default branch. That program is not
the one the PR deployed: an `up` of it would delete what the PR adds (with
the data of any volume it added), and revert what the PR changes, until the
PR's next push. So each PR's program is checked out on its own:

- the ref is `refs/pull/<n>/merge`, the commit the PR's deploy job checks out
  (actions/checkout's default for a pull_request event);
- it is fetched shallowly and added as a detached git worktree in
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
import subprocess
import tempfile
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path

WORKTREES = "tims-stack-prs"
GitRunner = Callable[[Sequence[str]], None]
"""Runs a git command; raises CheckoutError when it fails."""


class CheckoutError(RuntimeError):
    pass


def merge_ref(number: int) -> str:
    if number < 1:
        raise ValueError(f"not a pull request number: {number}")
    return f"refs/pull/{number}/merge"


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


def checkout_pr(number: int, repo_dir: Path, into: Path, run: GitRunner) -> Path:
    """Add PR `number`'s merge commit as a worktree under `into`; returns its directory."""
    ref = merge_ref(number)
    local = f"refs/remotes/pr/{number}"
    directory = into / f"pr-{number}"
    git = ["git", "-C", str(repo_dir)]
    try:
        run([*git, "fetch", "--no-tags", "--depth=1", "origin", f"+{ref}:{local}"])
    except CheckoutError as exc:
        raise CheckoutError(
            f"cannot fetch {ref} (a PR with merge conflicts has none): {exc}"
        ) from exc
    if directory.exists():
        run([*git, "worktree", "remove", "--force", str(directory)])
    into.mkdir(parents=True, exist_ok=True)
    run([*git, "worktree", "add", "--detach", str(directory), local])
    venv = directory / "venv"
    if not venv.exists() and not venv.is_symlink():
        venv.symlink_to((repo_dir / "venv").absolute())
    return directory


def checkout_for(environ: Mapping[str, str] | None = None) -> Callable[[int], Path]:
    """`checkout(number)` for the scheduled workflows: this checkout, the run's token."""
    env = dict(os.environ if environ is None else environ)
    run = git_runner(git_env(env))
    into = worktree_root(env)
    return lambda number: checkout_pr(number, Path.cwd(), into, run)
