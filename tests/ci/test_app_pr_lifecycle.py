"""An application PR's environment from open to close, run from pr-environment.yml itself.

Each job's `run:` steps come from the workflow file and run with bash
(tests/ci/workflow_runner.py evaluates their `if:`, `env:` and the jobs'
outputs), so editing a step changes what is tested. GitHub is the emulator
(tests/github), checked against GitHub's OpenAPI description, holding both
repositories: the application repository `acme/app` with its pull request and
its comments, and this repository with its runs. The app's workflow dispatches
pr-environment.yml exactly as templates/github/app-pr-environment.yml does; the
runs get their titles from the run-name and the lock handling lists them.
`pulumi` is tests/ci/fake_pulumi.py installed as an executable, which behaves
as pulumi/pulumi's DIY backend does (diy/backend.go, diy/lock.go). `Queue` is
GitHub's concurrency group: one running job, one pending, a newer pending job
replaces (cancels) the older one. The scripts' sleeps last at most 0.2 s here
(a sitecustomize on their PYTHONPATH), so a 30-second poll takes no time.
"""

from __future__ import annotations

import io
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from scripts.github_api import GitHubApi
from scripts.lock_holders import holders, live_runs
from scripts.orphans import PrState, PullRequest
from scripts.pr_comment import MARKER
from scripts.stack_names import stack_name_for_pr
from tests.ci.conftest import WORKFLOW_DIR, load_workflow
from tests.ci.fake_pulumi import FakeDiyPulumi, install_fake_pulumi
from tests.ci.workflow_runner import JobResult, os_path_with, run_job
from tests.conftest import REPO_ROOT
from tests.github.emulator import GitHubEmulator, RunPlan
from tests.github.fixtures import APP_REPO, github_openapi, real_emulator  # noqa: F401

APP = APP_REPO
OWN = "acme/tims-stack"
STACK = "app-pr-12"
TOKEN_USER = "acme"
"""The emulator's token belongs to acme: the IMAGE_BUILD_TOKEN user on the app repository."""
FAST_SLEEP = "import time\n_sleep = time.sleep\ntime.sleep = lambda s: _sleep(min(s, 0.2))\n"


@dataclass
class World:
    emulator: GitHubEmulator
    pulumi: FakeDiyPulumi
    tmp: Path
    workdir: Path
    fake_bin: Path
    site: Path
    pr: int
    jobs: dict[str, Any]
    log: list[str] = field(default_factory=list)

    def push(self, sha: str) -> None:
        self.emulator.push_pull(APP, self.pr, sha)

    def dispatch(self, workflow: str = "pr-environment.yml") -> int:
        """What templates/github/app-pr-environment.yml sends: a dispatch on the default
        branch with the input pr. The run waits, queued, until a job starts it."""
        self.emulator.plan_next_run(OWN, workflow, RunPlan(queued_for=10**7, duration=2 * 10**7))
        inputs = {"pr": str(self.pr)} if workflow == "pr-environment.yml" else {}
        with GitHubApi(self.emulator.token, self.emulator.base_url) as api:
            api.request(
                "POST",
                f"/repos/{OWN}/actions/workflows/{workflow}/dispatches",
                json={"ref": "main", "inputs": inputs},
                expected=(204,),
            )
        newest: int = self.emulator.runs(OWN)[0]["id"]
        return newest

    def context(self, run_id: int) -> dict[str, Any]:
        token = self.emulator.token
        temp = self.tmp / f"runner-{run_id}-{time.monotonic_ns()}"
        temp.mkdir()
        return {
            "github": {
                "event_name": "workflow_dispatch",
                "ref_name": "main",
                "repository": OWN,
                "event": {"repository": {"default_branch": "main"}},
                "token": token,
                "workflow_sha": "7" * 40,
            },
            "inputs": {"pr": str(self.pr)},
            "vars": {
                "APP_REPOSITORY": APP,
                "PR_ENVIRONMENTS": "",
                "PR_BASE_CONFIG": "Pulumi.example.yaml",
                "PULUMI_BACKEND_URL": "s3://tims-stack-state",
            },
            "secrets": {
                "IMAGE_BUILD_TOKEN": token,
                "PULUMI_CONFIG_PASSPHRASE": "correct horse battery staple",
                "PULUMI_ACCESS_TOKEN": "",
                "KUBE_CONFIG": "apiVersion: v1",
            },
            "runner": {"temp": str(temp)},
        }

    def env(self, run_id: int) -> dict[str, str]:
        return {
            "PATH": os_path_with(self.fake_bin),
            "PYTHONPATH": str(self.site),
            "GITHUB_API_URL": self.emulator.base_url,
            "GITHUB_REPOSITORY": OWN,
            "GITHUB_RUN_ID": str(run_id),
            "GITHUB_SERVER_URL": "https://github.com",
            "HOME": str(self.tmp),
        }

    def run(
        self,
        name: str,
        run_id: int,
        needs: dict[str, Any] | None = None,
        step_env: dict[str, dict[str, str]] | None = None,
    ) -> JobResult:
        """One job of `run_id`: in progress while it runs, its run completed after."""
        self.emulator.set_run_status(OWN, run_id, "in_progress")
        context = {**self.context(run_id), "needs": needs or {}}
        updates = (self.pulumi.state(STACK) or {}).get("updates", 0)
        try:
            result = run_job(
                self.jobs[name],
                context,
                cwd=self.workdir,
                base_env=self.env(run_id),
                step_env=step_env,
            )
        finally:
            self.emulator.set_run_status(OWN, run_id, "completed")
        if (self.pulumi.state(STACK) or {}).get("updates", 0) > updates and name == "up":
            self.log.append(f"run {run_id} deployed")
        return result

    def rules(self, run_id: int) -> dict[str, Any]:
        """app-rules, then the `needs` the up and destroy jobs see."""
        result = run_job(
            self.jobs["app-rules"],
            {**self.context(run_id), "needs": {}},
            cwd=self.workdir,
            base_env=self.env(run_id),
        )
        assert result.status == "success", result.log
        return {
            "rules": {"result": "skipped", "outputs": {}},
            "app-rules": {"result": "success", "outputs": result.outputs},
        }

    def deploy(self, run_id: int, **step_env: dict[str, str]) -> JobResult:
        needs = self.rules(run_id)
        assert needs["app-rules"]["outputs"]["deploy"] == "true", needs
        return self.run("up", run_id, needs, step_env)

    def env_comments(self) -> list[str]:
        return [body for body in self.emulator.comments(APP, self.pr) if MARKER in body]

    def listed_runs(self) -> int:
        return sum(1 for r in self.emulator.requests if r.path == f"/repos/{OWN}/actions/runs")


def _workdir(tmp: Path) -> Path:
    """This checkout as the job sees it: its files (links) and a place for stack files."""
    workdir = tmp / "checkout"
    workdir.mkdir()
    for entry in REPO_ROOT.iterdir():
        if entry.name not in (".git",) and not entry.name.startswith("Pulumi.app-pr-"):
            (workdir / entry.name).symlink_to(entry)
    return workdir


@pytest.fixture
def world(tmp_path: Path, real_emulator: GitHubEmulator) -> World:  # noqa: F811
    emulator = real_emulator
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
    for n in range(11):  # PR 12, as in the docs' examples
        emulator.add_issue(APP, f"issue {n}")
    pr = emulator.add_pull(APP, "feat/login", "a" * 40)
    assert pr == 12
    site = tmp_path / "site"
    site.mkdir()
    (site / "sitecustomize.py").write_text(FAST_SLEEP)
    bucket = tmp_path / "bucket"
    install_fake_pulumi(tmp_path / "bin", bucket)
    jobs = load_workflow(WORKFLOW_DIR / "pr-environment.yml")["jobs"]
    return World(
        emulator,
        FakeDiyPulumi(bucket),
        tmp_path,
        _workdir(tmp_path),
        tmp_path / "bin",
        site,
        pr,
        jobs,
    )


def wait_until(check: Callable[[], bool], what: str, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, f"timed out waiting until {what}"
        time.sleep(0.02)


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
        if self.pending is not None:  # cancelled by the newer one
            self.world.emulator.set_run_status(OWN, self.pending, "completed", "cancelled")
            self.world.log.append(f"run {self.pending} cancelled")
        self.pending = run_id

    def finish(self) -> int | None:
        self.running, self.pending = self.pending, None
        return self.running


class Background(threading.Thread):
    def __init__(self, job: Callable[[], JobResult]) -> None:
        super().__init__(daemon=True)
        self.job = job
        self.result: JobResult | None = None

    def run(self) -> None:
        self.result = self.job()

    def outcome(self) -> JobResult:
        self.join(timeout=120)
        assert self.result is not None, "the background job did not finish"
        return self.result


# --------------------------------------------------------------------------- scenarios


def test_open_two_quick_pushes_and_close(world: World) -> None:
    queue = Queue(world)
    opened = world.dispatch()
    queue.arrive(opened)
    world.push("b" * 40)
    replaced = world.dispatch()
    queue.arrive(replaced)
    world.push("c" * 40)
    newest = world.dispatch()
    queue.arrive(newest)  # the first push's job, still pending, is replaced
    first = world.deploy(opened)  # never waits for the jobs queued behind it
    assert first.status == "success", first.log
    assert "waiting for" not in first.log
    assert queue.finish() == newest
    # The newest deploy runs, not holding the lock yet, when the PR closes: the destroy
    # waits for it.
    release = world.tmp / "release"
    running = Background(lambda: world.deploy(newest, **{"pulumi up": hold(release)}))
    running.start()
    wait_until(Path(f"{release}.held").exists, "the newest up reaches `pulumi`")
    world.emulator.set_pull_state(APP, world.pr, "closed")
    destroy = world.dispatch()
    needs = world.rules(destroy)
    assert needs["app-rules"]["outputs"]["destroy"] == "true"
    listed = world.listed_runs()
    closing = Background(lambda: world.run("destroy", destroy, needs))
    closing.start()
    wait_until(
        lambda: world.listed_runs() > listed + 1 or not closing.is_alive(),
        "the destroy waits for older runs, or ends",
    )
    release.touch()
    assert running.outcome().status == "success", running.outcome().log
    destroyed = closing.outcome()
    assert destroyed.status == "success", destroyed.log
    assert f"waiting for pr-environment.yml run {newest}" in destroyed.log
    assert world.log == [
        f"run {replaced} cancelled",
        f"run {opened} deployed",
        f"run {newest} deployed",
    ]
    titles = {run["display_title"] for run in world.emulator.runs(OWN)}
    assert titles == {"PR environment app-pr-12"}
    assert world.pulumi.state(STACK) is None, "the stack was destroyed and removed"
    assert world.pulumi.locks(STACK) == []
    [env] = world.env_comments()
    assert "destroyed" in env


def hold(release: Path) -> dict[str, str]:
    return {"FAKE_PULUMI_HOLD_UNTIL": str(release)}


def test_the_comment_stays_one_comment_past_the_first_page(world: World) -> None:
    # 100 is the most GitHub lists on one page: the environment comment is on the second.
    for n in range(101):
        world.emulator.add_comment(APP, world.pr, f"review comment {n}")
    assert world.deploy(world.dispatch()).status == "success"
    world.push("b" * 40)
    assert world.deploy(world.dispatch()).status == "success"
    [env] = world.env_comments()
    assert "https://backend-app-pr-12.example.com" in env
    assert len(world.emulator.comments(APP, world.pr)) == 102


def test_a_fork_pr_gets_a_notice_and_no_environment(world: World) -> None:
    world.emulator.add_account("mallory")
    world.emulator.add_repo("mallory/app")
    fork_pr = world.emulator.add_pull(APP, "patch-1", "d" * 40, head_repo="mallory/app")
    world.pr = fork_pr
    run_id = world.dispatch()
    result = run_job(
        world.jobs["app-rules"],
        {**world.context(run_id), "needs": {}},
        cwd=world.workdir,
        base_env=world.env(run_id),
    )
    assert "::notice title=No PR environment (fork)::" in result.log
    assert (result.outputs["deploy"], result.outputs["destroy"]) == ("false", "false")
    needs = {"rules": {"outputs": {}}, "app-rules": {"outputs": result.outputs}}
    assert not world.run("up", run_id, needs).ran
    assert not world.run("destroy", run_id, needs).ran
    assert world.emulator.comments(APP, fork_pr) == []


def test_a_stale_lock_from_a_dead_run_is_cleared_by_the_next_push(world: World) -> None:
    killed = world.deploy(world.dispatch(), **{"pulumi up": {"FAKE_PULUMI_DIE_DURING_UP": "1"}})
    assert killed.status == "failure", killed.log
    assert "exited with status 137" in killed.log
    [stale] = world.pulumi.locks(STACK)  # the job's timeout killed `pulumi up`: its lock stays
    [env] = world.env_comments()
    assert "failed" in env.lower()
    world.push("b" * 40)
    after = world.dispatch()
    result = world.deploy(after)
    assert result.status == "success", result.log
    assert "::warning title=Stale lock on app-pr-12::" in result.log
    assert stale.name in result.log
    assert world.log == [f"run {after} deployed"]
    assert world.pulumi.locks(STACK) == []


def test_a_push_during_a_nightly_stop_waits_for_it_and_never_clears_its_lock(
    world: World,
) -> None:
    assert world.deploy(world.dispatch()).status == "success"
    nightly = world.dispatch("nightly.yml")
    world.emulator.set_run_status(OWN, nightly, "in_progress")
    world.pulumi.add_lock(STACK, "nightly")  # the nightly `pulumi up` is running
    world.push("b" * 40)
    listed = world.listed_runs()
    push = Background(lambda: world.deploy(world.dispatch()))
    push.start()
    wait_until(lambda: world.listed_runs() > listed + 1, "the push's up waits")
    (world.pulumi.lock_dir(STACK) / "nightly.json").unlink()
    world.emulator.set_run_status(OWN, nightly, "completed")
    result = push.outcome()
    assert result.status == "success", result.log
    assert f"app-pr-12 is locked; nightly.yml run {nightly}" in result.log
    assert "+ pulumi cancel" not in result.log
    assert len(world.log) == 2


def test_the_nightly_stop_skips_a_stack_whose_pr_run_is_live(world: World) -> None:
    from scripts.nightly import busy_check, switch_environments
    from scripts.schedule import Switch

    live = world.dispatch()
    world.emulator.set_run_status(OWN, live, "in_progress")

    def pull(number: int) -> PullRequest | None:
        return PullRequest(number, PrState.OPEN, "feat/login", "a" * 40, frozenset(), APP)

    out = io.StringIO()
    with GitHubApi(world.emulator.token, world.emulator.base_url) as api:
        switched = switch_environments(
            [STACK, "pr-12"],
            Switch.STOP,
            pull=pull,
            ttl_comment=lambda _: None,
            busy=busy_check(
                lambda stack: holders(
                    live_runs(api, OWN, datetime.now(UTC)),
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
    assert stack_name_for_pr(12) != stack_name_for_pr(12, app=True) == STACK
