"""A scheduled stop runs the PR's own program: its deployed head commit, checked out with git."""

from __future__ import annotations

import base64
import os
import subprocess
from collections.abc import Callable, Sequence
from pathlib import Path

import pytest

from scripts.orphans import PrState, PullRequest
from scripts.pr_checkout import (
    CheckoutError,
    GitRunner,
    NotDeployed,
    checkout_pr,
    gated,
    git_env,
    git_runner,
)
from scripts.stopstart import prepare_stack_file

GIT_IDENTITY = {
    "GIT_AUTHOR_NAME": "t",
    "GIT_AUTHOR_EMAIL": "t@example.test",
    "GIT_COMMITTER_NAME": "t",
    "GIT_COMMITTER_EMAIL": "t@example.test",
    "GIT_CONFIG_GLOBAL": os.devnull,
    "GIT_CONFIG_NOSYSTEM": "1",
}


def git(*args: str, cwd: Path) -> str:
    done = subprocess.run(
        ["git", *args],
        cwd=cwd,
        env={"PATH": os.environ["PATH"], **GIT_IDENTITY},
        capture_output=True,
        text=True,
        check=True,
    )
    return done.stdout.strip()


@pytest.fixture
def pr_head(scheduled_checkout: Path) -> str:
    return (scheduled_checkout.parent / "pr-7-head").read_text(encoding="utf-8")


@pytest.fixture
def scheduled_checkout(tmp_path: Path) -> Path:
    """A shallow clone of the default branch, as the scheduled workflows have, whose
    origin also has PR #7's head commit under refs/pull/7/head."""
    work = tmp_path / "work"
    work.mkdir()
    git("init", "-q", "-b", "main", cwd=work)
    (work / "__main__.py").write_text("main's program\n", encoding="utf-8")
    git("add", ".", cwd=work)
    git("commit", "-qm", "main", cwd=work)
    git("checkout", "-qb", "feature", cwd=work)
    (work / "__main__.py").write_text("PR #7's program\n", encoding="utf-8")
    (work / "Pulumi.pr-base.yaml").write_text("config: {}\n", encoding="utf-8")
    git("add", ".", cwd=work)
    git("commit", "-qm", "pr", cwd=work)
    origin = tmp_path / "origin.git"
    git("init", "-q", "--bare", str(origin), cwd=tmp_path)
    # GitHub serves any commit reachable from a ref by its SHA (actions/checkout fetches so).
    git("config", "uploadpack.allowReachableSHA1InWant", "true", cwd=origin)
    git("push", "-q", str(origin), "main:main", "feature:refs/pull/7/head", cwd=work)
    (tmp_path / "pr-7-head").write_text(git("rev-parse", "feature", cwd=work), encoding="utf-8")
    checkout = tmp_path / "checkout"
    git("clone", "-q", "-b", "main", "--depth=1", f"file://{origin}", str(checkout), cwd=tmp_path)
    (checkout / "venv").mkdir()
    return checkout


def runner() -> GitRunner:
    return git_runner({"PATH": os.environ["PATH"], **GIT_IDENTITY})


def test_the_prs_head_commit_is_checked_out_next_to_the_default_branch(
    scheduled_checkout: Path, pr_head: str, tmp_path: Path
) -> None:
    directory = checkout_pr(7, pr_head, scheduled_checkout, tmp_path / "prs", runner())
    assert directory == tmp_path / "prs" / "pr-7"
    assert (directory / "__main__.py").read_text(encoding="utf-8") == "PR #7's program\n"
    main_program = scheduled_checkout / "__main__.py"
    assert main_program.read_text(encoding="utf-8") == "main's program\n"
    # Pulumi.yaml's `virtualenv: venv` is relative to the project: the PR's uses this venv.
    assert (directory / "venv").resolve() == (scheduled_checkout / "venv").resolve()


def test_a_second_run_checks_the_pr_out_again(
    scheduled_checkout: Path, pr_head: str, tmp_path: Path
) -> None:
    run = runner()
    checkout_pr(7, pr_head, scheduled_checkout, tmp_path / "prs", run)
    directory = checkout_pr(7, pr_head, scheduled_checkout, tmp_path / "prs", run)
    assert (directory / "__main__.py").read_text(encoding="utf-8") == "PR #7's program\n"


def test_a_commit_the_repository_does_not_have_fails_naming_it(
    scheduled_checkout: Path, tmp_path: Path
) -> None:
    with pytest.raises(CheckoutError, match=f"cannot fetch commit {'b' * 40} of PR #8"):
        checkout_pr(8, "b" * 40, scheduled_checkout, tmp_path / "prs", runner())
    assert not (tmp_path / "prs" / "pr-8").exists()


def pr(sha: str) -> PullRequest:
    return PullRequest(7, PrState.OPEN, "feature", sha, frozenset())


def recording(calls: list[tuple[int, str]]) -> Callable[[int, str], Path]:
    def checkout(number: int, sha: str) -> Path:
        calls.append((number, sha))
        return Path(sha)

    return checkout


def test_a_head_without_a_successful_deploy_is_never_checked_out() -> None:
    # A push awaiting the environment's reviewers must not run from a scheduled workflow.
    calls: list[tuple[int, str]] = []
    checkout = gated(lambda p: False, recording(calls))
    with pytest.raises(NotDeployed, match="no successful deploy"):
        checkout(pr("c" * 40))
    assert calls == []


def test_a_deployed_head_is_checked_out_at_exactly_that_commit() -> None:
    calls: list[tuple[int, str]] = []
    checkout = gated(lambda p: True, recording(calls))
    checkout(pr("c" * 40))
    assert calls == [(7, "c" * 40)]


def test_the_stack_file_is_written_from_the_prs_own_base(
    scheduled_checkout: Path, pr_head: str, tmp_path: Path
) -> None:
    directory = checkout_pr(7, pr_head, scheduled_checkout, tmp_path / "prs", runner())
    # Only the PR's checkout has this base: it must be read from there, not the cwd.
    written = prepare_stack_file("Pulumi.pr-base.yaml", "pr-7", "feature", directory)
    assert written == directory / "Pulumi.pr-7.yaml"
    assert "tims-stack:environment: pr-7" in written.read_text(encoding="utf-8")


def test_the_token_reaches_git_only_through_its_environment() -> None:
    token = "ghs_secret-token-0123"
    env = git_env(
        {
            "GITHUB_TOKEN": token,
            "GITHUB_SERVER_URL": "https://ghe.example/",
            "GIT_CONFIG_COUNT": "1",
        }
    )
    assert env["GIT_CONFIG_COUNT"] == "2"
    assert env["GIT_CONFIG_KEY_1"] == "http.https://ghe.example/.extraheader"
    header = env["GIT_CONFIG_VALUE_1"]
    assert header.startswith("AUTHORIZATION: basic ")
    assert base64.b64decode(header.split()[-1]).decode() == f"x-access-token:{token}"
    assert token not in header, "the token is sent base64-encoded, as actions/checkout does"


def test_without_a_token_git_gets_no_header() -> None:
    assert git_env({"PATH": "/bin"}) == {"PATH": "/bin"}


def test_a_failed_git_command_is_a_checkout_error_without_the_token(tmp_path: Path) -> None:
    token = "ghs_secret-token-0123"
    run = git_runner(git_env({"PATH": os.environ["PATH"], "GITHUB_TOKEN": token}))
    with pytest.raises(CheckoutError) as caught:
        run(["git", "-C", str(tmp_path), "fetch", "origin", "refs/pull/1/merge"])
    assert token not in str(caught.value)


def test_a_checkout_with_the_token_leaves_it_in_no_command_config_or_file(
    scheduled_checkout: Path, pr_head: str, tmp_path: Path
) -> None:
    token = "ghs_secret-token-0123"
    env = git_env({"PATH": os.environ["PATH"], **GIT_IDENTITY, "GITHUB_TOKEN": token})
    header = base64.b64encode(f"x-access-token:{token}".encode()).decode()
    commands: list[list[str]] = []
    real = git_runner(env)

    def recording(command: Sequence[str]) -> None:
        commands.append(list(command))
        real(command)

    directory = checkout_pr(7, pr_head, scheduled_checkout, tmp_path / "prs", recording)
    shown = [" ".join(c) for c in commands]
    for place in (scheduled_checkout, directory):
        shown.append(git("remote", "-v", cwd=place))
        shown.append(git("config", "--list", "--show-origin", cwd=place))
    for path in [*scheduled_checkout.rglob("*"), *directory.rglob("*")]:
        if path.is_file() and not path.is_symlink():
            shown.append(path.read_bytes().decode("utf-8", "replace"))
    assert commands, "no git command ran"
    leaked = [text[:80] for text in shown if token in text or header in text]
    assert leaked == [], f"the token is visible after the checkout: {leaked}"
