"""What each repository workflow does: triggers, conditions, Pulumi steps, concurrency."""

from __future__ import annotations

import os
import re
import stat
import subprocess
from pathlib import Path
from typing import Any, cast

import pytest

from tests.ci.conftest import KUBECONFIG_ACTION_DIR
from tests.conftest import REPO_ROOT

PULUMI_ACTION = re.compile(r"^pulumi/actions@[0-9a-f]{40}$")
PR_STACK = "pr-${{ github.event.pull_request.number }}"
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


# --------------------------------------------------------------------------- preview.yml


def test_preview_runs_pulumi_preview_on_the_pr_stack_with_a_comment(
    workflows: dict[str, dict[str, Any]],
) -> None:
    step = step_using(workflows["preview.yml"]["jobs"]["preview"], "pulumi/actions@")
    assert PULUMI_ACTION.match(step["uses"].split(" ")[0])
    assert step["with"]["command"] == "preview"
    assert step["with"]["stack-name"] == PR_STACK
    assert step["with"]["comment-on-pr"] is True


def test_preview_runs_only_for_branches_of_this_repository(
    workflows: dict[str, dict[str, Any]],
) -> None:
    assert workflows["preview.yml"]["jobs"]["preview"]["if"] == SAME_REPO


def test_fork_prs_get_a_visible_notice_instead_of_a_preview(
    workflows: dict[str, dict[str, Any]],
) -> None:
    fork = workflows["preview.yml"]["jobs"]["fork"]
    assert fork["if"] == FORK
    done = run_step_script(fork["steps"][0], Path.cwd(), {})
    assert done.stdout.startswith("::notice title=Preview skipped::"), done.stdout
    assert "secrets." not in str(fork), "the fork job must not reference any secret"


def test_fork_prs_get_a_visible_notice_instead_of_an_environment(
    workflows: dict[str, dict[str, Any]],
) -> None:
    fork = workflows["pr-environment.yml"]["jobs"]["fork"]
    assert FORK in fork["if"]
    done = run_step_script(fork["steps"][0], Path.cwd(), {})
    assert done.stdout.startswith("::notice title=No PR environment::"), done.stdout
    assert "secrets." not in str(fork), "the fork job must not reference any secret"


def test_preview_backend_and_secrets_come_from_repository_settings(
    workflows: dict[str, dict[str, Any]],
) -> None:
    job = workflows["preview.yml"]["jobs"]["preview"]
    step = step_using(job, "pulumi/actions@")
    assert step["with"]["cloud-url"] == "${{ vars.PULUMI_BACKEND_URL }}"
    assert step["env"]["PULUMI_CONFIG_PASSPHRASE"] == "${{ secrets.PULUMI_CONFIG_PASSPHRASE }}"
    kubeconfig = step_using(job, KUBECONFIG_ACTION_USE)
    assert kubeconfig["with"]["kube-config"] == "${{ secrets.KUBE_CONFIG }}"


# --------------------------------------------------------------------------- pr-environment.yml


def test_pr_environment_reacts_to_the_pr_lifecycle(workflows: dict[str, dict[str, Any]]) -> None:
    types = set(workflows["pr-environment.yml"]["on"]["pull_request"]["types"])
    assert types == {"opened", "reopened", "synchronize", "labeled", "closed"}


def test_up_creates_the_pr_stack_if_missing(workflows: dict[str, dict[str, Any]]) -> None:
    step = step_using(workflows["pr-environment.yml"]["jobs"]["up"], "pulumi/actions@")
    assert step["with"]["command"] == "up"
    assert step["with"]["stack-name"] == PR_STACK
    assert step["with"]["upsert"] is True


def test_up_runs_for_same_repo_prs_or_the_preview_label_and_never_on_close(
    workflows: dict[str, dict[str, Any]],
) -> None:
    condition = " ".join(workflows["pr-environment.yml"]["jobs"]["up"]["if"].split())
    assert "github.event.action != 'closed'" in condition
    assert SAME_REPO in condition
    assert "contains(github.event.pull_request.labels.*.name, 'preview')" in condition
    assert "github.event.label.name == 'preview'" in condition


def test_up_sets_environment_and_build_ref_from_the_pr(
    workflows: dict[str, dict[str, Any]],
) -> None:
    step = step_running(workflows["pr-environment.yml"]["jobs"]["up"], "scripts.pr_stack_config")
    script = " ".join(step["run"].split())
    assert '--environment "pr-${PR_NUMBER}"' in script
    assert '--build-ref "$HEAD_REF"' in script
    assert step["env"]["HEAD_REF"] == (
        "${{ vars.PR_BUILD_REF || github.event.pull_request.head.ref }}"
    )


def test_up_posts_the_comment_from_the_stack_outputs(workflows: dict[str, dict[str, Any]]) -> None:
    job = workflows["pr-environment.yml"]["jobs"]["up"]
    step = step_running(job, "scripts.pr_comment")
    assert step["env"]["URL"] == "${{ steps.up.outputs.url }}"
    assert step["env"]["BACKEND_IMAGE"] == "${{ steps.up.outputs.backendImage }}"
    assert step["env"]["FRONTEND_IMAGE"] == "${{ steps.up.outputs.frontendImage }}"
    assert step["env"]["GITHUB_TOKEN"] == "${{ github.token }}"
    assert step_using(job, "pulumi/actions@")["id"] == "up"


def test_up_rechecks_that_the_pr_is_open_right_before_pulumi_up(
    workflows: dict[str, dict[str, Any]],
) -> None:
    steps = workflows["pr-environment.yml"]["jobs"]["up"]["steps"]
    check = step_running(workflows["pr-environment.yml"]["jobs"]["up"], "scripts.pr_open")
    up = step_using(workflows["pr-environment.yml"]["jobs"]["up"], "pulumi/actions@")
    assert steps.index(up) == steps.index(check) + 1, "the PR check is not right before `up`"
    assert check["env"]["GITHUB_TOKEN"] == "${{ github.token }}"


@pytest.mark.parametrize("needs_open", ["pulumi/actions@", "scripts.pr_comment"])
def test_closed_pr_skips_up_and_its_comment(
    workflows: dict[str, dict[str, Any]], needs_open: str
) -> None:
    job = workflows["pr-environment.yml"]["jobs"]["up"]
    check = step_running(job, "scripts.pr_open")
    step = (
        step_using(job, needs_open) if needs_open.endswith("@") else step_running(job, needs_open)
    )
    assert step.get("if") == f"steps.{check['id']}.outputs.open == 'true'", (
        f"step {step.get('name')!r} runs even when the PR was closed while the job queued"
    )


def test_pr_check_step_passes_repository_and_number(
    workflows: dict[str, dict[str, Any]], fake_venv: Path
) -> None:
    check = step_running(workflows["pr-environment.yml"]["jobs"]["up"], "scripts.pr_open")
    done = run_step_script(check, fake_venv, {"GITHUB_REPOSITORY": "a/b", "PR_NUMBER": "7"})
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "ARGS: -m scripts.pr_open --repo a/b --pr 7"


def test_destroy_runs_on_close_and_removes_the_stack(workflows: dict[str, dict[str, Any]]) -> None:
    job = workflows["pr-environment.yml"]["jobs"]["destroy"]
    assert "github.event.action == 'closed'" in job["if"]
    step = step_using(job, "pulumi/actions@")
    assert step["with"]["command"] == "destroy"
    assert step["with"]["stack-name"] == PR_STACK
    assert step["with"]["remove"] is True
    assert "--destroyed" in step_running(job, "scripts.pr_comment")["run"]


def test_ups_of_one_pr_queue_in_one_group_and_are_never_cancelled(
    workflows: dict[str, dict[str, Any]],
) -> None:
    up = workflows["pr-environment.yml"]["jobs"]["up"]["concurrency"]
    assert up["group"] == "tims-stack-pr-${{ github.event.pull_request.number }}"
    assert up["cancel-in-progress"] is False


def test_a_preview_never_shares_a_group_with_an_up(workflows: dict[str, dict[str, Any]]) -> None:
    # A newer queued run cancels the pending one in its group: a preview queued
    # after a push must not cancel that push's pending `up`.
    up = workflows["pr-environment.yml"]["jobs"]["up"]["concurrency"]
    preview = workflows["preview.yml"]["jobs"]["preview"]["concurrency"]
    assert preview["group"] != up["group"]
    assert "${{ github.event.pull_request.number }}" in preview["group"]
    assert preview["cancel-in-progress"] is False, "a cancelled preview can leave a lock"


def test_destroy_is_never_cancelled_by_a_newer_run(workflows: dict[str, dict[str, Any]]) -> None:
    jobs = workflows["pr-environment.yml"]["jobs"]
    destroy = jobs["destroy"]["concurrency"]
    assert destroy["cancel-in-progress"] is False
    # A queued run in a group is cancelled by the next one queued: the up must not share it.
    assert destroy["group"] != jobs["up"]["concurrency"]["group"]
    assert "${{ github.event.pull_request.number }}" in destroy["group"]
    assert "concurrency" not in workflows["pr-environment.yml"], "workflow-level group"


def test_every_pulumi_step_uses_the_cli_version_of_the_pinned_sdk(
    workflows: dict[str, dict[str, Any]],
) -> None:
    for name, document in workflows.items():
        for job_id, job in document["jobs"].items():
            for step in job["steps"]:
                if str(step.get("uses", "")).startswith("pulumi/actions@"):
                    assert step["with"]["pulumi-version"] == pulumi_pin(), f"{name} job {job_id}"


# --------------------------------------------------------------------------- sweep.yml


def test_sweep_runs_on_a_schedule_and_by_hand_with_a_dry_run_input(
    workflows: dict[str, dict[str, Any]],
) -> None:
    triggers = workflows["sweep.yml"]["on"]
    assert triggers["schedule"], "sweep has no schedule"
    dry_run = triggers["workflow_dispatch"]["inputs"]["dry-run"]
    assert dry_run["type"] == "boolean"
    assert dry_run["default"] is True, "a manual sweep should be a dry run unless asked"


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
    assert len(jobs) == 4, f"expected preview, up, destroy and sweep jobs, got {jobs}"
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
            runs_pulumi = "command" in step.get("with", {}) or "scripts.sweep" in str(
                step.get("run", "")
            )
            if runs_pulumi:
                assert step["env"]["KUBECONFIG"] == KUBECONFIG_PATH, (
                    f"{name} job {job_id} step {step.get('name')}: KUBECONFIG"
                )
