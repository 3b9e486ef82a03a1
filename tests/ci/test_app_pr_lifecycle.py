"""An application PR's environment from open to close, driven through the jobs' scripts.

Each job function below calls the scripts in the order, and with the inputs,
that its job in pr-environment.yml runs them (test_workflows.py checks those
steps' command lines). This repository's side of GitHub is the emulator
(tests/github), checked against GitHub's OpenAPI description: the app's
workflow dispatches pr-environment.yml there exactly as
templates/github/app-pr-environment.yml does, the runs get their titles from
its run-name, and the lock handling lists them. The application repository's
pull requests and comments are the FakeGitHub of tests/ci/conftest.py: the
OpenAPI excerpt the emulator is checked against has no pull request or
comment operation. `pulumi` is tests/ci/fake_pulumi.py, which behaves as
pulumi/pulumi's DIY backend does (diy/backend.go, diy/lock.go). `Queue` is
GitHub's concurrency group: one running job, one pending, a newer pending job
replaces (cancels) the older one.
"""

from __future__ import annotations

import io
import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest

from scripts.github_api import GitHubApi
from scripts.lock_holders import holders, live_runs, wait_for_holders
from scripts.lock_recovery import run_recovering, stack_entry
from scripts.orphans import GitHubPrLookup, PrState, PullRequest
from scripts.pr_comment import (
    MARKER,
    EnvironmentOutputs,
    own_login,
    render_body,
    upsert_comment,
)
from scripts.pr_open import check_pr_open, decide_app_pr
from scripts.stack_names import stack_name_for_pr
from tests.ci.conftest import TOKEN, FakeGitHub
from tests.ci.fake_pulumi import FakeDiyPulumi
from tests.github.clock import FakeClock
from tests.github.emulator import GitHubEmulator, RunPlan
from tests.github.fixtures import emulator, fake_clock, github_openapi  # noqa: F401

APP = "acme/app"
OWN = "acme/tims-stack"
PR = 12
STACK = "app-pr-12"


@dataclass
class World:
    app: FakeGitHub
    emulator: GitHubEmulator
    clock: FakeClock
    app_api: GitHubApi
    own_api: GitHubApi
    pulumi: FakeDiyPulumi
    log: list[str] = field(default_factory=list)

    def push(self, sha: str) -> None:
        self.app.heads[PR] = ("feat/login", sha, [])

    def dispatch(self, workflow: str = "pr-environment.yml") -> int:
        """What templates/github/app-pr-environment.yml sends: a dispatch on the default
        branch with the input pr. The run waits, queued, until a job function starts it."""
        self.clock.advance(60)
        self.emulator.plan_next_run(OWN, workflow, RunPlan(queued_for=10**7, duration=2 * 10**7))
        inputs = {"pr": str(PR)} if workflow == "pr-environment.yml" else {}
        answer = self.own_api.request(
            "POST",
            f"/repos/{OWN}/actions/workflows/{workflow}/dispatches",
            json={"ref": "main", "inputs": inputs},
            expected=(204,),
        )
        assert answer.status_code == 204
        newest: int = self.emulator.runs(OWN)[0]["id"]
        return newest

    def status(self, run_id: int, status: str) -> None:
        if status != "queued":
            conclusion = "cancelled" if status == "cancelled" else "success"
            done = "completed" if status == "cancelled" else status
            self.emulator.set_run_status(OWN, run_id, done, conclusion)

    def titles(self) -> dict[int, str]:
        return {run["id"]: run["display_title"] for run in self.emulator.runs(OWN)}

    def env_comments(self) -> list[dict[str, Any]]:
        return [c for c in self.app.comments if MARKER in c["body"]]


@pytest.fixture
def world(
    tmp_path: Path,
    emulator: GitHubEmulator,  # noqa: F811
    fake_clock: FakeClock,  # noqa: F811
) -> Iterator[World]:
    emulator.add_repo(OWN, {"main": "7" * 40})
    emulator.add_workflow(
        OWN,
        "pr-environment.yml",
        ["pr"],
        name="PR environment",
        # The workflow's run-name, as GitHub renders it for a dispatch.
        run_name="PR environment app-pr-${{ inputs.pr }}",
    )
    emulator.add_workflow(OWN, "nightly.yml", [], name="Nightly stop of PR environments")
    app = FakeGitHub(repo=APP, pulls={PR: "open"}, comment_author="deploy-bot")
    app.heads[PR] = ("feat/login", "a" * 40, [])
    transport = httpx.MockTransport(app.handler)
    with (
        GitHubApi(TOKEN, "https://api.github.test", transport=transport) as app_api,
        GitHubApi(emulator.token, emulator.base_url) as own_api,
    ):
        pulumi = FakeDiyPulumi(tmp_path / "bucket")
        yield World(app, emulator, fake_clock, app_api, own_api, pulumi)


# --------------------------------------------------------------------------- the jobs


def app_rules(world: World) -> dict[str, str]:
    """app-rules: `scripts.pr_open --decide` on the application repository."""
    pull = GitHubPrLookup(world.app_api, APP).pull(PR)
    return decide_app_pr(pull, PR, APP, "", io.StringIO())


def current(world: World, run_id: int) -> Callable[[], list[Any]]:
    """The holders scripts.locks finds for this run (GITHUB_RUN_ID)."""
    return lambda: holders(
        live_runs(world.own_api, OWN, _now(world)), stack=STACK, own_run_id=run_id
    )


def _now(world: World) -> datetime:
    return datetime.fromtimestamp(world.clock.time(), UTC)


def comment(world: World, body: str) -> None:
    """scripts.pr_comment with --bot-login token-user (a personal token on the app repo)."""
    upsert_comment(world.app_api, APP, PR, body, own_login(world.app_api))


def up_job(world: World, run_id: int, sleep: Callable[[float], None] = lambda _: None) -> str:
    """The `up` job from "Is the PR still open?" to the environment comment."""
    world.status(run_id, "in_progress")
    out = io.StringIO()
    try:
        lookup = GitHubPrLookup(world.app_api, APP)
        if not check_pr_open(lookup, PR, None, out):
            return out.getvalue()
        head = world.app.heads[PR][1]
        comment(world, render_body(STACK, None, building=True, commit=head))
        world.pulumi(["pulumi", "stack", "select", "--create", "--stack", STACK])
        command = ["pulumi", "up", "--stack", STACK, "--yes", "--non-interactive"]
        run_recovering(
            world.pulumi,
            command,
            STACK,
            current(world, run_id),
            wait_seconds=1800,
            poll_seconds=30,
            out=out,
            sleep=sleep,
        )
        world.log.append(f"run {run_id} deployed {head[:1]}")
        outputs = json.loads(world.pulumi(["pulumi", "stack", "output", "--stack", STACK])[1])
        comment(world, render_body(STACK, EnvironmentOutputs.from_stack_outputs(outputs)))
    finally:
        world.status(run_id, "completed")
    return out.getvalue()


def destroy_job(world: World, run_id: int, sleep: Callable[[float], None]) -> str:
    """The `destroy` job: wait for older runs, find the stack, re-check the PR, destroy."""
    world.status(run_id, "in_progress")
    out = io.StringIO()
    try:
        still = wait_for_holders(
            current(world, run_id), timeout_seconds=7200, poll_seconds=30, out=out, sleep=sleep
        )
        assert still == []
        if stack_entry(world.pulumi, STACK) is None:
            return out.getvalue()
        if check_pr_open(GitHubPrLookup(world.app_api, APP), PR, None, out, before="destroy"):
            return out.getvalue()
        for command in (
            ["pulumi", "destroy", "--stack", STACK, "--yes", "--non-interactive"],
            ["pulumi", "stack", "rm", STACK, "--yes", "--non-interactive"],
        ):
            run_recovering(
                world.pulumi,
                command,
                STACK,
                current(world, run_id),
                wait_seconds=7200,
                poll_seconds=30,
                out=out,
                sleep=sleep,
            )
        comment(world, render_body(STACK, None, destroyed=True))
    finally:
        world.status(run_id, "completed")
    return out.getvalue()


@dataclass
class Queue:
    """One GitHub concurrency group: a running job, at most one pending."""

    world: World
    running: int | None = None
    pending: int | None = None

    def arrive(self, run_id: int) -> None:
        if self.running is None:
            self.running = run_id
            return
        if self.pending is not None:
            self.world.status(self.pending, "cancelled")  # by the newer one
            self.world.log.append(f"run {self.pending} cancelled")
        self.pending = run_id

    def finish(self) -> int | None:
        self.running, self.pending = self.pending, None
        return self.running


# --------------------------------------------------------------------------- scenarios


def test_open_two_quick_pushes_and_close(world: World) -> None:
    queue = Queue(world)
    assert app_rules(world)["deploy"] == "true"
    opened = world.dispatch()
    queue.arrive(opened)
    world.push("b" * 40)
    replaced = world.dispatch()
    queue.arrive(replaced)
    world.push("c" * 40)
    newest = world.dispatch()
    queue.arrive(newest)  # the first push's job, still pending, is replaced
    up_job(world, opened)  # never waits for the jobs queued behind it
    assert queue.finish() == newest
    # The PR closes while the newest deploy runs: the destroy waits for it.
    world.app.pulls[PR] = "closed"
    assert app_rules(world)["destroy"] == "true"
    destroy = world.dispatch()

    def newest_runs_then_ends(_: float) -> None:
        if any(r["id"] == newest and r["status"] != "completed" for r in world.emulator.runs(OWN)):
            world.app.pulls[PR] = "open"  # as GitHub saw it when the job started
            up_job(world, newest)
            world.app.pulls[PR] = "closed"

    world.status(newest, "in_progress")
    destroy_job(world, destroy, newest_runs_then_ends)
    # Each deploy builds the head of the PR branch as it is when it runs.
    assert world.log == [
        f"run {replaced} cancelled",
        f"run {opened} deployed c",
        f"run {newest} deployed c",
    ]
    assert set(world.titles().values()) == {"PR environment app-pr-12"}
    assert world.pulumi.state(STACK) is None, "the stack was destroyed and removed"
    assert world.pulumi.locks(STACK) == []
    [env] = world.env_comments()
    assert "destroyed" in env["body"]
    assert env["user"]["login"] == "deploy-bot"


def test_the_comment_stays_one_comment_on_a_busy_pr(world: World) -> None:
    world.app.page_size = 5
    run_id = world.dispatch()
    up_job(world, run_id)
    for n in range(12):
        world.app.add_comment(f"review comment {n}", login="reviewer")
    up_job(world, world.dispatch())
    [env] = world.env_comments()
    assert "https://backend-app-pr-12.example.com" in env["body"]


def test_a_fork_pr_gets_a_notice_and_no_environment(world: World) -> None:
    world.app.head_repos[PR] = "mallory/app"
    pull = GitHubPrLookup(world.app_api, APP).pull(PR)
    out = io.StringIO()
    outputs = decide_app_pr(pull, PR, APP, "", out)
    assert (outputs["deploy"], outputs["destroy"]) == ("false", "false")
    assert "::notice title=No PR environment (fork)::" in out.getvalue()
    assert world.pulumi.commands == []
    assert world.app.comments == []


def test_a_stale_lock_from_a_dead_run_is_cleared_by_the_next_push(world: World) -> None:
    killed = world.dispatch()
    world.pulumi.die_during_up = True
    world.pulumi.lock_id = f"run-{killed}"
    with pytest.raises(Exception, match="exited with status 137"):
        up_job(world, killed)  # the job's timeout kills `pulumi up`: its lock file stays
    assert [p.stem for p in world.pulumi.locks(STACK)] == [f"run-{killed}"]
    world.pulumi.lock_id = "next-run"
    world.push("b" * 40)
    after = world.dispatch()
    out = up_job(world, after)
    assert "::warning title=Stale lock on app-pr-12::" in out
    assert f"run-{killed}.json" in out
    assert world.log == [f"run {after} deployed b"]
    assert world.pulumi.locks(STACK) == []


def test_a_push_during_a_nightly_stop_waits_for_it_and_never_clears_its_lock(
    world: World,
) -> None:
    up_job(world, world.dispatch())
    nightly = world.dispatch("nightly.yml")
    world.status(nightly, "in_progress")
    world.pulumi.add_lock(STACK, "nightly")  # the nightly `pulumi up` is running
    slept: list[float] = []

    def nightly_ends(seconds: float) -> None:
        slept.append(seconds)
        (world.pulumi.lock_dir(STACK) / "nightly.json").unlink()
        world.status(nightly, "completed")

    world.push("b" * 40)
    out = up_job(world, world.dispatch(), nightly_ends)
    assert f"app-pr-12 is locked; nightly.yml run {nightly}" in out
    assert slept == [30]
    assert not [c for c in world.pulumi.commands if c[1] == "cancel"]
    assert world.log[-1].endswith("deployed b")


def test_the_nightly_stop_skips_a_stack_whose_pr_run_is_live(world: World) -> None:
    from scripts.nightly import busy_check, switch_environments
    from scripts.schedule import Switch

    up_job(world, world.dispatch())
    live = world.dispatch()
    world.status(live, "in_progress")

    def pull(number: int) -> PullRequest | None:
        return PullRequest(number, PrState.OPEN, "feat/login", "a" * 40, frozenset(), APP)

    out = io.StringIO()
    switched = switch_environments(
        [STACK, "pr-12"],
        Switch.STOP,
        pull=pull,
        ttl_comment=lambda _: None,
        busy=busy_check(
            lambda stack: holders(
                live_runs(world.own_api, OWN, _now(world)),
                stack=stack,
                own_run_id=None,
                own_workflow="nightly.yml",
            ),
            app=True,
        ),
        run=lambda command: "",
        checkout=lambda pr: Path.cwd(),
        prepare=lambda *a: None,
        build_ref="",
        dry_run=False,
        out=out,
        app=True,
    )
    assert switched == []
    assert f"{STACK}: pr-environment.yml run {live}" in out.getvalue()
    lines = out.getvalue().splitlines()
    assert not [x for x in lines if x.startswith("pr-12")], "this repository's PR 12 is not app"


def test_both_repositories_pr_12_never_share_a_stack() -> None:
    assert stack_name_for_pr(PR) != stack_name_for_pr(PR, app=True) == STACK
