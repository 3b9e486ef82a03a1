"""What each repository workflow does: triggers, conditions, Pulumi steps, concurrency."""

from __future__ import annotations

import os
import re
import stat
import subprocess
import sys
from pathlib import Path
from typing import Any, cast

import pytest

from tests.ci.conftest import KUBECONFIG_ACTION_DIR
from tests.conftest import REPO_ROOT

SAME_REPO = "github.event.pull_request.head.repo.full_name == github.repository"
FORK = "github.event.pull_request.head.repo.full_name != github.repository"
KUBECONFIG_ACTION_USE = f"./{KUBECONFIG_ACTION_DIR}"
KUBECONFIG_PATH = "${{ runner.temp }}/kubeconfig"


def step_using(job: dict[str, Any], prefix: str) -> dict[str, Any]:
    steps = [s for s in job["steps"] if str(s.get("uses", "")).startswith(prefix)]
    assert len(steps) == 1, f"expected one {prefix} step, found {len(steps)}"
    return cast(dict[str, Any], steps[0])


def step_running(job: dict[str, Any], text: str) -> dict[str, Any]:
    steps = [s for s in job["steps"] if text in str(s.get("run", ""))]
    assert len(steps) == 1, f"expected one step running {text!r}, found {len(steps)}"
    return cast(dict[str, Any], steps[0])


def pulumi_pin() -> str:
    text = (REPO_ROOT / "requirements.txt").read_text(encoding="utf-8")
    match = re.search(r"^pulumi==([\d.]+)$", text, re.M)
    assert match, "requirements.txt pins no pulumi version"
    return match.group(1)


def run_step_script(
    step: dict[str, Any], cwd: Path, env: dict[str, str]
) -> subprocess.CompletedProcess[str]:
    """Run a step's script as Actions does (bash -e), with only the given environment."""
    return subprocess.run(
        ["bash", "--noprofile", "--norc", "-eo", "pipefail", "-c", step["run"]],
        cwd=cwd,
        env={"PATH": os.environ["PATH"], **env},
        capture_output=True,
        text=True,
        check=False,
        timeout=30,
    )


# --------------------------------------------------------------------------- ci.yml


def test_ci_runs_on_push_and_pull_request(workflows: dict[str, dict[str, Any]]) -> None:
    assert {"push", "pull_request"} <= set(workflows["ci.yml"]["on"])


def test_ci_runs_the_readme_commands(workflows: dict[str, dict[str, Any]]) -> None:
    runs = [s.get("run") for s in workflows["ci.yml"]["jobs"]["test"]["steps"]]
    assert runs.index("make setup") < runs.index("make test"), runs


def test_ci_renders_pr_manifests_and_uploads_them(workflows: dict[str, dict[str, Any]]) -> None:
    render = workflows["ci.yml"]["jobs"]["render"]
    assert render["if"] == "github.event_name == 'pull_request'"
    step = step_running(render, "make render")
    assert step["run"] == 'make render ENV="pr-${PR_NUMBER}" STACK_CONFIG=Pulumi.example.yaml'
    assert step["env"]["PR_NUMBER"] == "${{ github.event.pull_request.number }}"
    upload = step_using(render, "actions/upload-artifact@")
    assert upload["with"]["path"] == "build/manifests"
    assert upload["with"]["if-no-files-found"] == "error"


# --------------------------------------------------------------------------- pr-environment.yml

STACK = "${{ needs.rules.outputs.stack || needs.app-rules.outputs.stack }}"
DISPATCHED = "github.event_name == 'workflow_dispatch'"
OPEN = "steps.pr-open.outputs.open == 'true'"
STILL_CLOSED = "steps.pr-open.outputs.open == 'false'"


def step_named(job: dict[str, Any], name: str) -> dict[str, Any]:
    steps = [s for s in job["steps"] if s.get("name") == name]
    assert len(steps) == 1, f"expected one step named {name!r}, found {len(steps)}"
    return cast(dict[str, Any], steps[0])


@pytest.fixture
def pr_jobs(workflows: dict[str, dict[str, Any]]) -> dict[str, dict[str, Any]]:
    return cast(dict[str, dict[str, Any]], workflows["pr-environment.yml"]["jobs"])


def test_pr_environment_reacts_to_both_kinds_of_pr(workflows: dict[str, dict[str, Any]]) -> None:
    on = workflows["pr-environment.yml"]["on"]
    assert set(on["pull_request"]["types"]) == {
        "opened",
        "reopened",
        "synchronize",
        "labeled",
        "closed",
    }
    assert on["workflow_dispatch"]["inputs"] == {
        "pr": {"description": ANY_TEXT, "required": True, "type": "number"}
    }


class _AnyText(str):
    def __eq__(self, other: object) -> bool:
        return isinstance(other, str) and bool(other.strip())

    __hash__ = str.__hash__


ANY_TEXT = _AnyText()


def test_the_run_title_names_the_stack_as_the_lock_handling_reads_it(
    workflows: dict[str, dict[str, Any]],
) -> None:
    from scripts.lock_holders import RUN_TITLE

    title = " ".join(workflows["pr-environment.yml"]["run-name"].split())
    assert title.startswith(RUN_TITLE.format(stack="${{"))
    assert "format('app-pr-{0}', inputs.pr)" in title
    assert "format('pr-{0}', github.event.pull_request.number)" in title


def test_fork_prs_get_a_visible_notice_instead_of_an_environment(
    pr_jobs: dict[str, dict[str, Any]],
) -> None:
    fork = pr_jobs["fork"]
    assert FORK in fork["if"]
    done = run_step_script(fork["steps"][0], Path.cwd(), {})
    assert done.stdout.startswith("::notice title=No PR environment::"), done.stdout
    assert "secrets." not in str(fork), "the fork job must not reference any secret"


def test_no_workflow_runs_a_preview_outside_the_lock(workflows: dict[str, dict[str, Any]]) -> None:
    # diy/backend.go, Preview: a preview takes no lock, so it could read a state a
    # nightly `up` is writing. `pulumi up` previews under the lock (Update).
    for name, document in workflows.items():
        for job_id, job in document["jobs"].items():
            for step in job["steps"]:
                assert "command" not in step.get("with", {}), f"{name} {job_id}: pulumi/actions"
                assert "pulumi preview" not in str(step.get("run", "")), f"{name} {job_id}"


def test_the_per_stack_queue_never_cancels_a_running_job(
    pr_jobs: dict[str, dict[str, Any]],
) -> None:
    assert pr_jobs["up"]["concurrency"] == {
        "group": f"tims-stack-{STACK}",
        "cancel-in-progress": False,
    }
    assert "concurrency" not in pr_jobs["rules"], "the decision job must not queue"
    assert "concurrency" not in pr_jobs["app-rules"], "the decision job must not queue"


def test_up_and_destroy_run_only_when_a_rules_job_says_so(
    pr_jobs: dict[str, dict[str, Any]],
) -> None:
    assert pr_jobs["rules"]["if"] == f"github.event_name == 'pull_request' && {SAME_REPO}"
    assert pr_jobs["app-rules"]["if"] == DISPATCHED
    for job_id, output in (("up", "deploy"), ("destroy", "destroy")):
        job = pr_jobs[job_id]
        assert job["needs"] == ["rules", "app-rules"]
        assert job["if"] == (
            f"!cancelled() && (needs.rules.outputs.{output} == 'true' "
            f"|| needs.app-rules.outputs.{output} == 'true')"
        )


@pytest.mark.parametrize(
    ("mode", "action", "labels", "expected"),
    [
        ("label", "opened", "[]", "deploy=false\ndestroy=false\n"),
        ("label", "closed", "[]", "deploy=false\ndestroy=false\n"),
        ("label", "closed", '["preview"]', "deploy=false\ndestroy=true\n"),
        ("", "synchronize", "[]", "deploy=true\ndestroy=false\n"),
    ],
)
def test_rules_step_applies_the_label_rules(
    pr_jobs: dict[str, dict[str, Any]],
    tmp_path: Path,
    mode: str,
    action: str,
    labels: str,
    expected: str,
) -> None:
    step = step_running(pr_jobs["rules"], "scripts.labels")
    assert step["env"]["LABELS"] == "${{ toJSON(github.event.pull_request.labels.*.name) }}"
    output = tmp_path / "output"
    env = {"MODE": mode, "ACTION": action, "LABEL": "", "LABELS": labels}
    env["GITHUB_OUTPUT"] = str(output)
    env["PATH"] = f"{Path(sys.executable).parent}:{os.environ['PATH']}"
    done = run_step_script(step, REPO_ROOT, env)
    assert done.returncode == 0, done.stderr
    assert output.read_text() == expected


def test_this_repositorys_prs_build_their_branch_and_app_prs_theirs(
    pr_jobs: dict[str, dict[str, Any]],
) -> None:
    assert pr_jobs["rules"]["outputs"]["build-ref"] == (
        "${{ vars.PR_BUILD_REF || github.event.pull_request.head.ref }}"
    )
    app = pr_jobs["app-rules"]["outputs"]
    assert app["build-ref"] == "${{ steps.rules.outputs.head-ref }}", "never PR_BUILD_REF"
    assert (app["stack"], pr_jobs["rules"]["outputs"]["stack"]) == (
        "app-pr-${{ inputs.pr }}",
        "pr-${{ github.event.pull_request.number }}",
    )
    assert app["repo"] == "${{ vars.APP_REPOSITORY }}"


def test_app_prs_are_read_from_github_not_from_the_dispatch(
    pr_jobs: dict[str, dict[str, Any]], fake_venv: Path
) -> None:
    step = step_running(pr_jobs["app-rules"], "scripts.pr_open")
    assert step["env"]["GITHUB_TOKEN"] == "${{ secrets.IMAGE_BUILD_TOKEN }}"
    env = {"APP_REPOSITORY": "acme/app", "PR": "12", "MODE": ""}
    done = run_step_script(step, fake_venv, env)
    assert done.stdout.strip() == (
        "ARGS: -m scripts.pr_open --repo acme/app --pr 12 --decide --mode"
    )


def test_app_prs_run_only_the_default_branch(pr_jobs: dict[str, dict[str, Any]]) -> None:
    guard = pr_jobs["app-rules"]["steps"][0]
    assert guard["if"] == "github.ref_name != github.event.repository.default_branch"
    done = run_step_script(guard, Path.cwd(), {})
    assert done.returncode == 1
    assert "::error title=Wrong branch::" in done.stdout


ENVIRONMENT = f"${{{{ {DISPATCHED} && 'pr-environments-main' || 'pr-environments' }}}}"


def test_this_repositorys_prs_use_the_reviewed_environment_app_prs_the_main_only_one(
    pr_jobs: dict[str, dict[str, Any]],
) -> None:
    def normal(text: str) -> str:
        return " ".join(text.split())

    assert normal(pr_jobs["up"]["environment"]["name"]) == ENVIRONMENT
    assert normal(pr_jobs["destroy"]["environment"]) == ENVIRONMENT
    assert pr_jobs["app-rules"]["environment"] == "pr-environments-main"


def test_scheduled_jobs_use_the_main_only_environment(
    workflows: dict[str, dict[str, Any]],
) -> None:
    # They run the default branch only; required reviewers would stall every run.
    assert workflows["sweep.yml"]["jobs"]["sweep"]["environment"] == "pr-environments-main"
    assert workflows["nightly.yml"]["jobs"]["switch"]["environment"] == "pr-environments-main"


def test_the_ttl_recognises_the_deploy_job_by_its_name(pr_jobs: dict[str, dict[str, Any]]) -> None:
    # scripts/orphans.py tells a deploy from a skipped label event by this job's name.
    from scripts.orphans import UP_JOB_NAME

    assert pr_jobs["up"]["name"] == f"{UP_JOB_NAME} {STACK}"


def test_up_writes_the_stack_file_for_its_stack_and_build_ref(
    pr_jobs: dict[str, dict[str, Any]], fake_venv: Path
) -> None:
    step = step_running(pr_jobs["up"], "scripts.pr_stack_config")
    env = {"BASE_CONFIG": "Pulumi.base.yaml", "STACK": "app-pr-12", "BUILD_REF": "feat"}
    done = run_step_script(step, fake_venv, env)
    assert done.stdout.strip() == (
        "ARGS: -m scripts.pr_stack_config --base Pulumi.base.yaml --environment app-pr-12 "
        "--build-ref feat"
    )


def test_up_creates_the_stack_and_runs_up_through_the_lock_handling(
    pr_jobs: dict[str, dict[str, Any]], fake_venv: Path
) -> None:
    step = step_named(pr_jobs["up"], "pulumi up")
    assert step["if"] == OPEN
    pulumi = fake_venv / "bin" / "pulumi"
    pulumi.parent.mkdir(exist_ok=True)
    pulumi.write_text('#!/bin/sh\necho "PULUMI: $*"\n', encoding="utf-8")
    pulumi.chmod(0o755)
    env = {"STACK": "pr-7", "GITHUB_REPOSITORY": "a/b", "PATH": f"{pulumi.parent}:/usr/bin:/bin"}
    done = run_step_script(step, fake_venv, env)
    assert done.stdout.splitlines() == [
        "PULUMI: stack select --create --stack pr-7 --non-interactive",
        "ARGS: -m scripts.locks --repo a/b --stack pr-7 --wait-minutes 30 -- pulumi up "
        "--stack pr-7 --yes --non-interactive",
    ]
    assert step["env"]["GITHUB_TOKEN"] == "${{ github.token }}", "lists the runs"
    assert step["env"]["IMAGE_BUILD_TOKEN"] == "${{ secrets.IMAGE_BUILD_TOKEN }}"


def test_every_step_after_the_pr_check_needs_the_pr_open(
    pr_jobs: dict[str, dict[str, Any]],
) -> None:
    steps = pr_jobs["up"]["steps"]
    check = step_running(pr_jobs["up"], "scripts.pr_open")
    assert check["id"] == "pr-open"
    for step in steps[steps.index(check) + 1 :]:
        assert OPEN in step["if"], f"{step['name']!r} runs for a PR closed while queued"


def test_the_comment_says_deploying_then_the_outputs_or_the_failed_step(
    pr_jobs: dict[str, dict[str, Any]],
) -> None:
    job = pr_jobs["up"]
    steps = job["steps"]
    building = step_running(job, "--building")
    up = step_named(job, "pulumi up")
    done = step_running(job, "--outputs-json")
    failed = step_running(job, "--failed")
    assert steps.index(building) < steps.index(up) < steps.index(done) < steps.index(failed)
    assert failed["if"] == f"failure() && {OPEN}"
    assert failed["env"]["RUN_TOKEN"] == "${{ github.token }}"
    assert job["environment"]["url"] == "${{ steps.outputs.outputs.url }}"


def test_comments_on_app_prs_are_written_with_the_app_token(
    pr_jobs: dict[str, dict[str, Any]],
) -> None:
    expected = f"${{{{ {DISPATCHED} && secrets.IMAGE_BUILD_TOKEN || github.token }}}}"
    for job_id in ("up", "destroy"):
        job = pr_jobs[job_id]
        assert " ".join(job["env"]["BOT_LOGIN"].split()) == (
            f"${{{{ {DISPATCHED} && 'token-user' || 'github-actions[bot]' }}}}"
        )
        for step in job["steps"]:
            if re.search(r"scripts\.pr_(comment|open)\b", str(step.get("run", ""))):
                assert " ".join(step["env"]["GITHUB_TOKEN"].split()) == expected, step["name"]


# Defect 2: a destroy never creates a stack, and says when there was none.


def test_destroy_checks_out_the_workflows_own_commit(pr_jobs: dict[str, dict[str, Any]]) -> None:
    checkout = step_using(pr_jobs["destroy"], "actions/checkout@")
    assert checkout["with"]["ref"] == "${{ github.workflow_sha }}"


def test_destroy_never_creates_a_stack(pr_jobs: dict[str, dict[str, Any]]) -> None:
    step = step_named(pr_jobs["destroy"], "pulumi destroy and stack rm")
    assert "--create" not in step["run"]
    assert "select" not in step["run"]
    assert step["if"] == f"steps.lock.outputs.exists == 'true' && {STILL_CLOSED}"


def test_destroy_runs_destroy_then_stack_rm_through_the_lock_handling(
    pr_jobs: dict[str, dict[str, Any]], fake_venv: Path
) -> None:
    step = step_named(pr_jobs["destroy"], "pulumi destroy and stack rm")
    done = run_step_script(step, fake_venv, {"STACK": "app-pr-3", "GITHUB_REPOSITORY": "a/b"})
    prefix = "ARGS: -m scripts.locks --repo a/b --stack app-pr-3 --wait-minutes 120 -- pulumi"
    assert done.stdout.splitlines() == [
        f"{prefix} destroy --stack app-pr-3 --yes --non-interactive --skip-preview",
        f"{prefix} stack rm app-pr-3 --yes --non-interactive",
    ]


def test_destroy_deletes_the_images_with_the_image_build_token(
    pr_jobs: dict[str, dict[str, Any]],
) -> None:
    # scripts.locks hands it to pulumi as GITHUB_TOKEN (tests/ci/test_locks.py): an app PR's
    # images are the application owner's packages, which github.token cannot delete.
    step = step_named(pr_jobs["destroy"], "pulumi destroy and stack rm")
    assert step["env"]["IMAGE_BUILD_TOKEN"] == "${{ secrets.IMAGE_BUILD_TOKEN }}"


def test_destroy_comments_destroyed_only_when_there_was_a_stack(
    pr_jobs: dict[str, dict[str, Any]],
) -> None:
    job = pr_jobs["destroy"]
    destroyed = step_running(job, "--destroyed")
    not_found = step_running(job, "--not-found")
    assert destroyed["if"] == f"steps.lock.outputs.exists == 'true' && {STILL_CLOSED}"
    assert not_found["if"] == f"steps.lock.outputs.exists == 'false' && {STILL_CLOSED}"


def test_destroy_waits_for_older_runs_then_finds_the_stack(
    pr_jobs: dict[str, dict[str, Any]], fake_venv: Path
) -> None:
    lock = step_named(pr_jobs["destroy"], "Wait for older runs; find the stack")
    assert lock["id"] == "lock"
    done = run_step_script(lock, fake_venv, {"GITHUB_REPOSITORY": "a/b", "STACK": "pr-7"})
    assert done.stdout.strip() == (
        "ARGS: -m scripts.locks --repo a/b --stack pr-7 --wait-minutes 120 --wait-first "
        "--find --missing-is-warning"
    )


def test_destroy_rechecks_the_pr_after_waiting_and_before_destroying(
    pr_jobs: dict[str, dict[str, Any]], fake_venv: Path
) -> None:
    # The destroy may wait 120 minutes for a live up; a PR reopened meanwhile
    # gets a new up, whose fresh environment this destroy must not remove.
    job = pr_jobs["destroy"]
    steps = job["steps"]
    check = step_running(job, "scripts.pr_open")
    assert check["id"] == "pr-open"
    assert steps.index(step_named(job, "Wait for older runs; find the stack")) < steps.index(check)
    for step in steps[steps.index(check) + 1 :]:
        assert STILL_CLOSED in str(step.get("if", "")), (
            f"destroy step {step.get('name')!r} runs even when the PR was reopened"
        )
    done = run_step_script(check, fake_venv, {"PR_REPO": "a/b", "PR_NUMBER": "7"})
    assert done.stdout.strip() == "ARGS: -m scripts.pr_open --repo a/b --pr 7 --before destroy"


def wait_minutes(step: dict[str, Any]) -> float:
    match = re.search(r"--wait-minutes (\d+)", step["run"])
    assert match, f"{step.get('name')}: no --wait-minutes"
    return float(match.group(1))


def test_destroy_outwaits_a_running_up(pr_jobs: dict[str, dict[str, Any]]) -> None:
    wait = wait_minutes(step_named(pr_jobs["destroy"], "Wait for older runs; find the stack"))
    assert wait >= pr_jobs["up"]["timeout-minutes"], "a destroy could give up on a live up"
    assert pr_jobs["destroy"]["timeout-minutes"] >= wait + 45, "no time left to destroy"


def test_up_job_leaves_time_to_deploy_after_waiting(pr_jobs: dict[str, dict[str, Any]]) -> None:
    wait = wait_minutes(step_named(pr_jobs["up"], "pulumi up"))
    assert pr_jobs["up"]["timeout-minutes"] >= wait + 60


def test_destroy_is_never_cancelled_by_a_newer_run(workflows: dict[str, dict[str, Any]]) -> None:
    jobs = workflows["pr-environment.yml"]["jobs"]
    destroy = jobs["destroy"]["concurrency"]
    assert destroy["cancel-in-progress"] is False
    # A queued job in a group is cancelled by the next one queued: the up must not share it.
    assert destroy["group"] == f"tims-stack-{STACK}-destroy"
    assert "concurrency" not in workflows["pr-environment.yml"], "workflow-level group"


# Defect 1: the backend and passphrase are checked before Pulumi runs.


def test_every_pulumi_job_checks_the_backend_and_passphrase_first(
    workflows: dict[str, dict[str, Any]],
) -> None:
    for name, job_id, job in pulumi_jobs(workflows):
        steps = job["steps"]
        check = step_running(job, "scripts.backend_check")
        assert check["env"]["PULUMI_CONFIG_PASSPHRASE"] == "${{ secrets.PULUMI_CONFIG_PASSPHRASE }}"
        assert check["env"]["PULUMI_ACCESS_TOKEN"] == "${{ secrets.PULUMI_ACCESS_TOKEN }}"
        runs_pulumi = [
            steps.index(s)
            for s in steps
            if re.search(r"scripts\.(locks|sweep|nightly)\b|pulumi ", str(s.get("run", "")))
        ]
        assert runs_pulumi, f"{name} job {job_id}: no Pulumi step found"
        assert steps.index(check) < min(runs_pulumi), f"{name} job {job_id}: checked too late"


def test_every_pulumi_step_uses_the_cli_version_of_the_pinned_sdk(
    workflows: dict[str, dict[str, Any]],
) -> None:
    for name, document in workflows.items():
        for job_id, job in document["jobs"].items():
            for step in job["steps"]:
                if str(step.get("uses", "")).startswith("pulumi/actions@"):
                    assert step["with"]["pulumi-version"] == pulumi_pin(), f"{name} job {job_id}"


# --------------------------------------------------------------------------- nightly.yml


def test_nightly_checks_the_schedule_hourly_and_only_then_runs_pulumi(
    workflows: dict[str, dict[str, Any]],
) -> None:
    nightly = workflows["nightly.yml"]
    assert [c["cron"] for c in nightly["on"]["schedule"]] == ["7 * * * *"]
    due, switch = nightly["jobs"]["due"], nightly["jobs"]["switch"]
    assert "vars.PR_WORKING_HOURS != ''" in due["if"], "an unset schedule must cost nothing"
    assert "secrets." not in str(due)
    assert switch["needs"] == "due"
    assert "needs.due.outputs.switch == 'stop'" in switch["if"]
    assert switch["concurrency"] == {"group": "tims-stack-nightly", "cancel-in-progress": False}


def test_nightly_schedule_comes_from_repository_variables(
    workflows: dict[str, dict[str, Any]],
) -> None:
    step = step_running(workflows["nightly.yml"]["jobs"]["due"], "scripts.schedule")
    for name in ("PR_WORKING_HOURS", "PR_WORKING_DAYS", "PR_TIME_ZONE"):
        assert step["env"][name] == f"${{{{ vars.{name} }}}}"


@pytest.mark.parametrize(("dry_run", "expected"), [("true", True), ("false", False), ("", False)])
def test_nightly_passes_the_due_switch_and_dry_run(
    workflows: dict[str, dict[str, Any]], fake_venv: Path, dry_run: str, expected: bool
) -> None:
    step = step_running(workflows["nightly.yml"]["jobs"]["switch"], "scripts.nightly")
    env = {"SWITCH": "stop", "DRY_RUN": dry_run, "GITHUB_REPOSITORY": "a/b"}
    done = run_step_script(step, fake_venv, env)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip().startswith("ARGS: -m scripts.nightly --repo a/b --action stop")
    assert ("--dry-run" in done.stdout) is expected


def test_scheduled_workflows_point_to_the_60_day_note(workflows: dict[str, dict[str, Any]]) -> None:
    docs = (REPO_ROOT / "docs" / "ci.md").read_text(encoding="utf-8")
    assert "60 days" in docs
    for name in ("sweep.yml", "nightly.yml"):
        text = (REPO_ROOT / ".github" / "workflows" / name).read_text(encoding="utf-8")
        assert "60 days" in text, f"{name} does not mention GitHub disabling it after 60 days"


# --------------------------------------------------------------------------- sweep.yml


def test_sweep_runs_on_a_schedule_and_by_hand_with_a_dry_run_input(
    workflows: dict[str, dict[str, Any]],
) -> None:
    triggers = workflows["sweep.yml"]["on"]
    assert triggers["schedule"], "sweep has no schedule"
    dry_run = triggers["workflow_dispatch"]["inputs"]["dry-run"]
    assert dry_run["type"] == "boolean"
    assert dry_run["default"] is True, "a manual sweep should be a dry run unless asked"


def test_sweeps_never_overlap_and_a_running_one_is_never_cancelled(
    workflows: dict[str, dict[str, Any]],
) -> None:
    # One fixed group: a run-specific group would let two sweeps destroy the same stack.
    job = workflows["sweep.yml"]["jobs"]["sweep"]
    assert job["concurrency"] == {"group": "tims-stack-sweep", "cancel-in-progress": False}


@pytest.fixture
def sweep_step(workflows: dict[str, dict[str, Any]]) -> dict[str, Any]:
    return step_running(workflows["sweep.yml"]["jobs"]["sweep"], "scripts.sweep")


@pytest.fixture
def fake_venv(tmp_path: Path) -> Path:
    """A ./venv/bin/python that only prints its arguments."""
    python = tmp_path / "venv" / "bin" / "python"
    python.parent.mkdir(parents=True)
    python.write_text('#!/bin/sh\necho "ARGS: $*"\n', encoding="utf-8")
    python.chmod(python.stat().st_mode | stat.S_IXUSR)
    return tmp_path


@pytest.mark.parametrize(("dry_run", "expected"), [("true", True), ("false", False), ("", False)])
def test_sweep_passes_dry_run_only_when_asked(
    sweep_step: dict[str, Any], fake_venv: Path, dry_run: str, expected: bool
) -> None:
    done = run_step_script(sweep_step, fake_venv, {"DRY_RUN": dry_run, "GITHUB_REPOSITORY": "a/b"})
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip().startswith("ARGS: -m scripts.sweep --repo a/b")
    assert ("--dry-run" in done.stdout) is expected, done.stdout


def test_scheduled_sweeps_are_never_dry_runs(sweep_step: dict[str, Any]) -> None:
    assert sweep_step["env"]["DRY_RUN"] == (
        "${{ github.event_name == 'workflow_dispatch' && inputs.dry-run }}"
    )


def test_sweep_reads_prs_with_the_run_token_and_deletes_images_with_the_pat(
    sweep_step: dict[str, Any],
) -> None:
    assert sweep_step["env"]["GITHUB_TOKEN"] == "${{ github.token }}"
    assert sweep_step["env"]["IMAGE_BUILD_TOKEN"] == "${{ secrets.IMAGE_BUILD_TOKEN }}"


# --------------------------------------------------------------------------- kubeconfig step


@pytest.fixture
def kubeconfig_step(kubeconfig_action: dict[str, Any]) -> dict[str, Any]:
    [step] = kubeconfig_action["runs"]["steps"]
    return cast(dict[str, Any], step)


def test_kubeconfig_is_written_readable_only_by_the_runner(
    kubeconfig_step: dict[str, Any], tmp_path: Path
) -> None:
    target = tmp_path / "kubeconfig"
    done = run_step_script(
        kubeconfig_step, tmp_path, {"KUBE_CONFIG": "apiVersion: v1\n", "KUBECONFIG": str(target)}
    )
    assert done.returncode == 0, done.stderr
    assert target.read_text() == "apiVersion: v1\n\n"
    assert stat.S_IMODE(target.stat().st_mode) == 0o600
    assert "apiVersion" not in done.stdout + done.stderr, "the kubeconfig was printed"


def test_missing_kubeconfig_secret_fails_naming_it(
    kubeconfig_step: dict[str, Any], tmp_path: Path
) -> None:
    done = run_step_script(
        kubeconfig_step, tmp_path, {"KUBE_CONFIG": "", "KUBECONFIG": str(tmp_path / "k")}
    )
    assert done.returncode == 1
    assert "KUBE_CONFIG" in done.stdout


def test_kubeconfig_step_passes_the_secret_through_env_and_writes_to_runner_temp(
    kubeconfig_step: dict[str, Any],
) -> None:
    assert kubeconfig_step["env"]["KUBE_CONFIG"] == "${{ inputs.kube-config }}"
    assert kubeconfig_step["env"]["KUBECONFIG"] == KUBECONFIG_PATH


def pulumi_jobs(workflows: dict[str, dict[str, Any]]) -> list[tuple[str, str, dict[str, Any]]]:
    return [
        (name, job_id, job)
        for name, document in workflows.items()
        for job_id, job in document["jobs"].items()
        if any(str(s.get("uses", "")).startswith("pulumi/actions@") for s in job["steps"])
    ]


def test_every_pulumi_job_writes_its_kubeconfig_with_the_shared_action(
    workflows: dict[str, dict[str, Any]],
) -> None:
    jobs = pulumi_jobs(workflows)
    assert len(jobs) == 4, f"expected up, destroy, sweep and nightly jobs, got {jobs}"
    for name, job_id, job in jobs:
        step = step_using(job, KUBECONFIG_ACTION_USE)
        assert step["with"] == {"kube-config": "${{ secrets.KUBE_CONFIG }}"}, (
            f"{name} job {job_id}: kubeconfig action inputs {step['with']}"
        )
        inline = [s.get("name") for s in job["steps"] if "KUBE_CONFIG" in str(s.get("env", {}))]
        assert inline == [], f"{name} job {job_id}: inline kubeconfig steps {inline}"


def test_every_pulumi_step_reads_the_kubeconfig_the_action_wrote(
    workflows: dict[str, dict[str, Any]],
) -> None:
    for name, job_id, job in pulumi_jobs(workflows):
        for step in job["steps"]:
            runs_pulumi = re.search(
                r"scripts\.(sweep|nightly|locks) .*-- pulumi|scripts\.(sweep|nightly)\b",
                " ".join(str(step.get("run", "")).split()),
            )
            if runs_pulumi:
                assert step["env"]["KUBECONFIG"] == KUBECONFIG_PATH, (
                    f"{name} job {job_id} step {step.get('name')}: KUBECONFIG"
                )


PULUMI_K8S_DEFAULT_AWAIT_SECONDS = 600
"""pulumi-kubernetes' wait for a StatefulSet without customTimeouts (Redis)."""


def test_up_job_outlasts_the_default_build_and_every_rollout_wait(
    workflows: dict[str, dict[str, Any]],
) -> None:
    """A job timeout shorter than what `pulumi up` may wait would kill it and leave a lock.

    The waits that follow each other with the default config: the database (a
    StatefulSet or a CloudNativePG Cluster) and the image build run side by
    side; the migration Job needs both; the backend's rollout waits for the
    Job; the route's wait is counted on top, to be safe.
    """
    from components.kube import timeouts
    from stack.config import BuildConfig
    from stack.models import MigrationsConfig

    up = workflows["pr-environment.yml"]["jobs"]["up"]
    build = BuildConfig.model_fields["timeout"].default
    database = max(
        timeouts.await_seconds(timeouts.POSTGRES_STARTUP_SECONDS),
        timeouts.CNPG_READY_SECONDS,
        PULUMI_K8S_DEFAULT_AWAIT_SECONDS,  # Redis: the provider's default wait
    )
    migrations = timeouts.job_await_seconds(MigrationsConfig.model_fields["timeout"].default)
    rollout = max(
        timeouts.await_seconds(s)
        for s in (timeouts.BACKEND_STARTUP_SECONDS, timeouts.FRONTEND_STARTUP_SECONDS)
    )
    lock_wait = wait_minutes(step_running(up, "scripts.locks")) * 60
    setup_and_preview = 10 * 60
    needed = (
        setup_and_preview
        + lock_wait
        + max(build, database)
        + migrations
        + rollout
        + timeouts.ROUTE_ACCEPT_SECONDS
    )
    assert up["timeout-minutes"] * 60 > needed, (
        f"up job timeout {up['timeout-minutes']} min < {needed / 60:.0f} min it may need"
    )


# --------------------------------------------------------------------------- app template


@pytest.fixture
def app_template() -> dict[str, Any]:
    from tests.ci.conftest import APP_TEMPLATE, load_workflow

    return load_workflow(APP_TEMPLATE)


def test_the_app_template_dispatches_pr_environment_with_the_pr_number(
    app_template: dict[str, Any], tmp_path: Path
) -> None:
    request = app_template["jobs"]["request"]
    assert request["if"] == SAME_REPO
    assert request["permissions"] == {}
    gh = tmp_path / "gh"
    gh.write_text(
        '#!/bin/sh\necho "GH: $*" >&2\ncase "$*" in *--jq*) echo main ;; esac\n', encoding="utf-8"
    )
    gh.chmod(0o755)
    env = {
        "GH_TOKEN": "t",
        "TIMS_STACK": "acme/tims-stack",
        "PR": "12",
        "PATH": f"{tmp_path}:{os.environ['PATH']}",
    }
    done = run_step_script(request["steps"][0], tmp_path, env)
    assert done.returncode == 0, done.stderr
    calls = [line for line in done.stderr.splitlines() if line.startswith("GH: ")]
    assert calls == [
        "GH: api repos/acme/tims-stack --jq .default_branch",
        "GH: api --method POST repos/acme/tims-stack/actions/workflows/pr-environment.yml"
        "/dispatches -f ref=main -f inputs[pr]=12",
    ]
    assert request["steps"][0]["env"]["GH_TOKEN"] == "${{ secrets.TIMS_STACK_DISPATCH_TOKEN }}"


def test_the_app_template_names_its_missing_settings(
    app_template: dict[str, Any], tmp_path: Path
) -> None:
    done = run_step_script(app_template["jobs"]["request"]["steps"][0], tmp_path, {"PR": "12"})
    assert done.returncode == 1
    assert "TIMS_STACK_REPOSITORY" in done.stdout
    assert "TIMS_STACK_DISPATCH_TOKEN" in done.stdout


def test_app_fork_prs_get_a_notice_and_no_secret(app_template: dict[str, Any]) -> None:
    fork = app_template["jobs"]["fork"]
    assert FORK in fork["if"]
    assert "secrets." not in str(fork)
    done = run_step_script(fork["steps"][0], Path.cwd(), {})
    assert done.stdout.startswith("::notice title=No PR environment::")
