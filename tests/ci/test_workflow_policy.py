"""Security policy shared by every workflow: permissions, pins, secrets, triggers, shell."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.ci.conftest import ALL_WORKFLOW_FILES, LOCAL_ACTIONS, load_workflow
from tests.conftest import REPO_ROOT

SHA_PIN = re.compile(r"^\s*-?\s*uses:\s*([\w.-]+/[\w./-]+)@([0-9a-f]{40}) # (v\d+\.\d+\.\d+)\s*$")
USES_LINE = re.compile(r"^\s*-?\s*uses:\s*(\S+)")
# A composite action in this repository: it comes from the checked-out commit itself.
LOCAL_USE = re.compile(r"^\s*-?\s*uses:\s*(\./\.github/actions/[\w-]+)\s*$")

# What each job may do with GITHUB_TOKEN; anything more is a finding.
EXPECTED_PERMISSIONS: dict[tuple[str, str], dict[str, str]] = {
    ("ci.yml", "test"): {"contents": "read"},
    ("ci.yml", "render"): {"contents": "read"},
    ("pr-environment.yml", "fork"): {},
    ("pr-environment.yml", "rules"): {"contents": "read"},
    ("pr-environment.yml", "app-rules"): {"contents": "read"},
    ("pr-environment.yml", "up"): {
        "contents": "read",
        "pull-requests": "write",
        "actions": "read",
    },
    ("pr-environment.yml", "destroy"): {
        "contents": "read",
        "pull-requests": "write",
        "actions": "read",
    },
    ("sweep.yml", "sweep"): {"contents": "read", "pull-requests": "write", "actions": "read"},
    ("nightly.yml", "due"): {"contents": "read"},
    ("nightly.yml", "switch"): {"contents": "read", "pull-requests": "write", "actions": "read"},
    ("build-images.yml", "build"): {"contents": "read", "packages": "write"},
    ("app-pr-environment.yml", "fork"): {},
    ("app-pr-environment.yml", "request"): {},
}
EXPECTED_PERMISSIONS |= {
    ("long-lived.yml", "stacks"): {"contents": "read"},
    ("long-lived.yml", "preview"): {"contents": "read", "pull-requests": "write"},
    ("long-lived.yml", "deploy-staging"): {"contents": "read"},
    ("long-lived.yml", "deploy-production"): {"contents": "read"},
    ("drift.yml", "stacks"): {"contents": "read"},
    ("drift.yml", "drift"): {"contents": "read", "issues": "write"},
    ("e2e-kind.yml", "e2e"): {"contents": "read"},
}


def jobs_of(path: Path) -> dict[str, dict[str, Any]]:
    jobs = load_workflow(path)["jobs"]
    assert isinstance(jobs, dict), f"{path.name}: `jobs` is not a mapping"
    assert jobs, f"{path.name} has no jobs"
    return jobs


def all_steps() -> list[tuple[str, str, dict[str, Any]]]:
    """Every step of every workflow and of every local composite action."""
    workflow_steps = [
        (path.name, job_id, step)
        for path in ALL_WORKFLOW_FILES
        for job_id, job in jobs_of(path).items()
        for step in job.get("steps", [])
    ]
    action_steps = [
        (f"{path.parent.name}/action.yml", "composite", step)
        for path in LOCAL_ACTIONS
        for step in yaml.safe_load(path.read_text(encoding="utf-8"))["runs"]["steps"]
    ]
    return workflow_steps + action_steps


def test_workflow_grants_nothing_at_the_top_level(workflow_path: Path) -> None:
    assert load_workflow(workflow_path).get("permissions") == {}, (
        f"{workflow_path.name}: top-level `permissions` must be {{}} so every job states its own"
    )


def test_every_job_declares_its_permissions(workflow_path: Path) -> None:
    missing = [j for j, job in jobs_of(workflow_path).items() if "permissions" not in job]
    assert missing == [], f"{workflow_path.name}: jobs without `permissions`: {missing}"


def test_every_job_has_exactly_the_expected_permissions(workflow_path: Path) -> None:
    for job_id, job in jobs_of(workflow_path).items():
        key = (workflow_path.name, job_id)
        assert key in EXPECTED_PERMISSIONS, f"{key}: new job, add its permissions to this test"
        assert job.get("permissions") == EXPECTED_PERMISSIONS[key], (
            f"{workflow_path.name} job {job_id}: permissions {job.get('permissions')}"
        )


def test_every_action_is_pinned_to_a_commit_sha_with_its_version(workflow_path: Path) -> None:
    for number, line in enumerate(workflow_path.read_text(encoding="utf-8").splitlines(), 1):
        local = LOCAL_USE.match(line)
        if local:
            action = REPO_ROOT / local.group(1) / "action.yml"
            assert action in LOCAL_ACTIONS, (
                f"{workflow_path.name}:{number}: {local.group(1)} is not a checked local action"
            )
        elif USES_LINE.match(line):
            assert SHA_PIN.match(line), (
                f"{workflow_path.name}:{number}: `{line.strip()}` is not "
                "`owner/repo@<40-hex sha> # vX.Y.Z`"
            )


def test_an_action_is_pinned_to_the_same_commit_everywhere() -> None:
    pins: dict[str, set[tuple[str, str]]] = {}
    for path in ALL_WORKFLOW_FILES:
        for line in path.read_text(encoding="utf-8").splitlines():
            match = SHA_PIN.match(line)
            if match:
                pins.setdefault(match.group(1), set()).add((match.group(2), match.group(3)))
    drift = {action: sorted(p) for action, p in pins.items() if len(p) > 1}
    assert drift == {}, f"actions pinned to different commits: {drift}"


def test_no_workflow_runs_untrusted_code_with_secrets_by_trigger(workflow_path: Path) -> None:
    triggers = load_workflow(workflow_path)["on"]
    names = set(triggers) if isinstance(triggers, dict) else {triggers}
    assert not names & {"pull_request_target", "workflow_run"}, (
        f"{workflow_path.name} uses a privileged trigger: {names}"
    )


def test_every_checkout_drops_its_credentials() -> None:
    checkouts = [
        (f, j, s)
        for f, j, s in all_steps()
        if str(s.get("uses", "")).startswith("actions/checkout@")
    ]
    assert checkouts, "no checkout step found"
    for file, job, step in checkouts:
        assert step.get("with", {}).get("persist-credentials") is False, (
            f"{file} job {job}: checkout must set persist-credentials: false"
        )


def test_no_expression_is_expanded_inside_a_shell_script() -> None:
    """Values reach scripts through env:, never as `${{ }}` pasted into the shell."""
    for file, job, step in all_steps():
        if "run" in step:
            assert "${{" not in step["run"], f"{file} job {job} step {step.get('name')}: ${{{{ }}}}"


def test_secrets_appear_only_in_step_env_or_action_inputs() -> None:
    for path in ALL_WORKFLOW_FILES:
        document = load_workflow(path)
        assert "secrets." not in str(document.get("env", {})), f"{path.name}: workflow env"
        for job_id, job in document["jobs"].items():
            assert "secrets." not in str(job.get("env", {})), f"{path.name} job {job_id}: job env"
            for step in job.get("steps", []):
                assert "secrets." not in str(step.get("run", "")), (
                    f"{path.name} job {job_id} step {step.get('name')}: secret in the script"
                )


_SECRET_VARIABLES = (
    "KUBE_CONFIG",
    "GITHUB_TOKEN",
    "PULUMI_ACCESS_TOKEN",
    "IMAGE_BUILD_TOKEN",
    "PULUMI_CONFIG_PASSPHRASE",
)


def _secret_variables(step: dict[str, Any]) -> set[str]:
    """The names above, and every variable of the step's env set from a secret or token."""
    env = step.get("env") or {}
    derived = {k for k, v in env.items() if re.search(r"secrets\.|github\.token", str(v))}
    return set(_SECRET_VARIABLES) | derived


def test_no_secret_is_echoed() -> None:
    for file, job, step in all_steps():
        script = str(step.get("run", ""))
        for variable in sorted(_secret_variables(step)):
            assert not re.search(rf"echo[^\n]*\${{?{variable}\b", script), (
                f"{file} job {job} step {step.get('name')} echoes ${variable}"
            )


def test_no_secret_goes_into_the_job_files_or_a_traced_script() -> None:
    """GITHUB_OUTPUT and GITHUB_ENV reach later steps and jobs, the summary is shown to
    readers of the run; `set -x` prints every command with its expanded arguments."""
    for file, job, step in all_steps():
        script = str(step.get("run", ""))
        where = f"{file} job {job} step {step.get('name')}"
        assert not re.search(r"set -[a-z]*x|set -o xtrace", script), f"{where}: set -x"
        for line in script.splitlines():
            if re.search(r"GITHUB_(OUTPUT|ENV|STEP_SUMMARY|PATH)", line):
                for variable in _secret_variables(step):
                    assert not re.search(rf"\${{?{variable}\b", line), (
                        f"{where} writes ${variable} into a job file: {line.strip()}"
                    )


def test_no_step_lets_pulumi_actions_export_the_stack_outputs() -> None:
    """pulumi/actions with a `command` writes every stack output to its step outputs in
    plain text before masking the secret ones (src/main.ts of v7.0.0: core.setOutput,
    then core.setSecret); only its install (no command) is used."""
    for file, job, step in all_steps():
        uses, command = str(step.get("uses", "")), (step.get("with") or {}).get("command")
        assert not (uses.startswith("pulumi/actions") and command), (
            f"{file} job {job} step {step.get('name')}: pulumi/actions runs `{command}`"
        )


def test_every_shell_script_parses(tmp_path: Path) -> None:
    import subprocess

    for index, (file, job, step) in enumerate(all_steps()):
        if "run" not in step:
            continue
        script = tmp_path / f"{index}.sh"
        script.write_text(step["run"], encoding="utf-8")
        done = subprocess.run(
            ["bash", "-n", str(script)], capture_output=True, text=True, check=False
        )
        assert done.returncode == 0, f"{file} job {job} step {step.get('name')}: {done.stderr}"


def test_every_job_has_a_timeout_unless_it_only_prints() -> None:
    for path in ALL_WORKFLOW_FILES:
        for job_id, job in jobs_of(path).items():
            only_prints = all(
                str(s.get("run", "")).lstrip().startswith("echo") for s in job["steps"]
            )
            assert only_prints or "timeout-minutes" in job, f"{path.name} job {job_id}: no timeout"


@pytest.mark.parametrize("target", ["setup", "test", "render"])
def test_make_targets_the_workflows_call_exist(target: str) -> None:
    makefile = (REPO_ROOT / "Makefile").read_text(encoding="utf-8")
    assert re.search(rf"^{target}:", makefile, re.M), f"Makefile has no `{target}` target"


# The first release of each action whose action.yml says `using: node24`, read
# from the action repositories' tags. GitHub moves runners off Node 20; an
# action below its floor would run on a deprecated runtime or stop working.
NODE24_FLOOR: dict[str, tuple[int, int, int]] = {
    "actions/checkout": (5, 0, 0),
    "actions/setup-python": (6, 0, 0),
    "actions/upload-artifact": (6, 0, 0),
    "pulumi/actions": (7, 0, 0),
    "docker/setup-buildx-action": (4, 0, 0),
    "docker/login-action": (4, 0, 0),
    "docker/build-push-action": (7, 0, 0),
}


def test_no_pinned_action_still_runs_on_node_20(workflow_path: Path) -> None:
    for number, line in enumerate(workflow_path.read_text(encoding="utf-8").splitlines(), 1):
        match = SHA_PIN.match(line)
        if not match:
            continue
        action, version = match.group(1), match.group(3)
        assert action in NODE24_FLOOR, (
            f"{workflow_path.name}:{number}: {action} is new: add its first node24 release "
            "to NODE24_FLOOR"
        )
        release = tuple(int(part) for part in version.removeprefix("v").split("."))
        assert release >= NODE24_FLOOR[action], (
            f"{workflow_path.name}:{number}: {action} {version} runs on Node 20; "
            f"use v{'.'.join(map(str, NODE24_FLOOR[action]))} or newer"
        )
