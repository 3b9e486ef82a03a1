"""long-lived.yml, drift.yml and e2e-kind.yml: triggers, ordering, environments, and their
steps run for real against a fake `pulumi` and the GitHub API emulator."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from scripts.long_lived import load
from tests.ci.long_lived.conftest import (
    PR,
    REPO,
    STACK_TYPE,
    FakePulumi,
    StepRunner,
    digest,
    postgres_replacement,
    refreshed,
    step,
)
from tests.conftest import REPO_ROOT
from tests.github.emulator import GitHubEmulator

STACKS = [
    {"stack": "staging", "environment": "staging", "previewEnvironment": "staging-preview"},
    {"stack": "production", "environment": "production", "previewEnvironment": "production"},
]
LIST = REPO_ROOT / ".github/long-lived-stacks.yml"
SAME_REPO = "github.event.pull_request.head.repo.full_name == github.repository"
PULUMI_SCRIPTS = re.compile(
    r"scripts\.(long_lived_preview|drift|deploy_summary)\b|scripts\.e2e\.kind lifecycle"
)


def named(job: dict[str, Any], text: str) -> dict[str, Any]:
    found = [s for s in job["steps"] if text in str(s.get("run", "")) or text == s.get("id")]
    assert len(found) == 1, f"expected one step with {text!r}, found {len(found)}"
    return dict(found[0])


def runs_pulumi(entry: dict[str, Any]) -> bool:
    """A step that runs Pulumi against a stack (installing the CLI does not)."""
    return "command" in entry.get("with", {}) or bool(PULUMI_SCRIPTS.search(str(entry.get("run"))))


def step_values(stack: str, labels: list[str], emulator: GitHubEmulator) -> dict[str, str]:
    """What GitHub would put into the preview and drift steps' `env:` expressions."""
    return {
        "${{ github.token }}": emulator.token,
        "${{ secrets.PREVIEW_GITHUB_TOKEN }}": "preview-token",
        "${{ runner.temp }}/kubeconfig": "/nonexistent/kubeconfig",
        "${{ secrets.PULUMI_CONFIG_PASSPHRASE }}": "passphrase",
        "${{ secrets.PULUMI_ACCESS_TOKEN }}": "",
        "${{ toJSON(github.event.pull_request.labels.*.name) }}": json.dumps(labels),
    }


# --------------------------------------------------------------------------- the list


def test_the_list_step_gives_staging_then_production(
    long_lived_workflows: dict[str, dict[str, Any]], tmp_path: Path
) -> None:
    for name in ("long-lived.yml", "drift.yml"):
        listing = named(long_lived_workflows[name]["jobs"]["stacks"], "scripts.long_lived")
        # Offline: the PyYAML the step installs is already in the venv put first on PATH.
        script = listing["run"].replace("python -m pip install --quiet PyYAML==6.0.3", "true")
        output = tmp_path / f"{name}.out"
        done = subprocess.run(
            ["bash", "-eo", "pipefail", "-c", script],
            cwd=REPO_ROOT,
            env={
                "PATH": f"{Path(sys.executable).parent}:{os.environ['PATH']}",
                "GITHUB_OUTPUT": str(output),
            },
            capture_output=True,
            text=True,
            check=False,
        )
        assert done.returncode == 0, done.stderr
        key, _, value = output.read_text(encoding="utf-8").strip().partition("=")
        assert (key, json.loads(value)) == ("stacks", STACKS), f"{name}: {value}"


# --------------------------------------------------------------------------- PR preview


@pytest.fixture
def preview_job(long_lived_workflows: dict[str, dict[str, Any]]) -> dict[str, Any]:
    return dict(long_lived_workflows["long-lived.yml"]["jobs"]["preview"])


def preview(
    job: dict[str, Any],
    run_step: StepRunner,
    emulator: GitHubEmulator,
    stack: str,
    labels: list[str] | None = None,
) -> Any:
    values = step_values(stack, labels or [], emulator)
    script_step = named(job, "scripts.long_lived_preview")
    env = dict(script_step["env"])
    # The job-level env GitHub adds to every step of the matrix entry.
    step_with_job_env = {**script_step, "env": env}
    values.update(
        {"${{ matrix.stack }}": stack, "${{ github.event.pull_request.number }}": str(PR)}
    )
    for key, expression in job["env"].items():
        if key != "PULUMI_BACKEND_URL":
            env[key] = expression
    return run_step(step_with_job_env, values)


@pytest.fixture
def replacing_production(fake_pulumi: FakePulumi) -> FakePulumi:
    """Staging: a Deployment update; production: the Postgres StatefulSet replaced."""
    deployment = "tims-stack:k8s:Backend$kubernetes:apps/v1:Deployment"
    fake_pulumi.answer("preview", "staging", digest(step("update", deployment, "backend")))
    fake_pulumi.answer("preview", "production", digest(*postgres_replacement()))
    return fake_pulumi


def test_a_pr_previews_every_long_lived_stack_against_its_own_state(
    preview_job: dict[str, Any],
    run_step: StepRunner,
    repo_emulator: GitHubEmulator,
    replacing_production: FakePulumi,
) -> None:
    for entry in STACKS:
        preview(preview_job, run_step, repo_emulator, entry["stack"])
    previews = [c for c in replacing_production.calls() if c[0] == "preview"]
    assert [c[c.index("--stack") + 1] for c in previews] == ["staging", "production"]
    assert all("--json" in c for c in previews), previews


def test_each_stack_gets_one_comment_edited_in_place(
    preview_job: dict[str, Any],
    run_step: StepRunner,
    repo_emulator: GitHubEmulator,
    replacing_production: FakePulumi,
) -> None:
    for _ in range(2):
        for entry in STACKS:
            preview(preview_job, run_step, repo_emulator, entry["stack"])
    bodies = repo_emulator.comments(REPO, PR)
    assert len(bodies) == 2, bodies
    assert "Preview of `staging`" in bodies[0]
    assert "Preview of `production`" in bodies[1]


def test_a_postgres_replacement_is_flagged_at_the_top_and_fails_the_check(
    preview_job: dict[str, Any],
    run_step: StepRunner,
    repo_emulator: GitHubEmulator,
    replacing_production: FakePulumi,
) -> None:
    staging = preview(preview_job, run_step, repo_emulator, "staging")
    production = preview(preview_job, run_step, repo_emulator, "production")
    assert staging.returncode == 0, staging.stderr
    assert production.returncode == 1, production.stdout
    assert "stateful-replacement-ok" in production.stderr
    body = repo_emulator.comments(REPO, PR)[1]
    top = body.splitlines()[3:5]
    assert top[0] == "> [!CAUTION]", body
    assert "`postgres`" in body.split("resource change(s)")[0], body
    assert "[!CAUTION]" not in repo_emulator.comments(REPO, PR)[0]


def test_the_label_lets_an_intended_replacement_pass(
    preview_job: dict[str, Any],
    run_step: StepRunner,
    repo_emulator: GitHubEmulator,
    replacing_production: FakePulumi,
) -> None:
    done = preview(preview_job, run_step, repo_emulator, "production", ["stateful-replacement-ok"])
    assert done.returncode == 0, done.stderr
    assert "says this is intended" in repo_emulator.comments(REPO, PR)[0]


def test_the_previewed_program_never_gets_the_runs_token(
    preview_job: dict[str, Any],
    run_step: StepRunner,
    repo_emulator: GitHubEmulator,
    fake_pulumi: FakePulumi,
) -> None:
    # The fake records its environment's token through a preview that fails on purpose.
    fake_pulumi.answer("preview", "staging", digest())
    script = (fake_pulumi.bin / "pulumi").read_text(encoding="utf-8")
    (fake_pulumi.bin / "pulumi").write_text(
        script.replace(
            'log.write(json.dumps(args) + "\\n")',
            'log.write(json.dumps(args + [os.environ.get("GITHUB_TOKEN", "")]) + "\\n")',
        ),
        encoding="utf-8",
    )
    preview(preview_job, run_step, repo_emulator, "staging")
    assert fake_pulumi.calls()[0][-1] == "preview-token"


def test_fork_prs_never_preview_a_long_lived_stack(
    long_lived_workflows: dict[str, dict[str, Any]],
) -> None:
    jobs = long_lived_workflows["long-lived.yml"]["jobs"]
    assert SAME_REPO in jobs["stacks"]["if"]
    assert jobs["preview"]["needs"] == "stacks"
    assert "pull_request_target" not in long_lived_workflows["long-lived.yml"]["on"]


def test_each_preview_runs_in_its_stacks_environment_with_the_preview_identity(
    preview_job: dict[str, Any],
) -> None:
    assert preview_job["strategy"]["matrix"]["include"] == (
        "${{ fromJSON(needs.stacks.outputs.stacks) }}"
    )
    assert preview_job["environment"] == {
        "name": "${{ matrix.previewEnvironment }}",
        "deployment": False,
    }
    kubeconfig = next(s for s in preview_job["steps"] if "write-kubeconfig" in str(s.get("uses")))
    assert kubeconfig["with"] == {"kube-config": "${{ secrets.KUBE_CONFIG_PREVIEW }}"}
    used = json.dumps(preview_job)
    for secret in ("secrets.KUBE_CONFIG }}", "IMAGE_BUILD_TOKEN"):
        assert secret not in used, f"the preview job uses {secret}"
    assert preview_job["permissions"] == {"contents": "read", "pull-requests": "write"}


def test_the_staging_preview_runs_where_the_deploy_secrets_are_not(
    deploy_jobs: dict[str, dict[str, Any]],
) -> None:
    """A PR runs its own copy of the workflow, which may ask for any secret of the
    environment its job runs in. Staging has no reviewers, so its previews run in an
    environment of their own, and its deploy's (KUBE_CONFIG, IMAGE_BUILD_TOKEN; main only
    in the settings, docs/ci.md) is never named by a PR's job. Production keeps its
    secrets in one environment, whose reviewers approve each preview."""
    listed = {s.stack: s for s in load(LIST)}
    assert deploy_jobs["staging"]["environment"]["name"] == listed["staging"].environment
    assert listed["staging"].preview_environment != listed["staging"].environment
    assert listed["production"].preview_environment == listed["production"].environment


def test_label_changes_preview_again(long_lived_workflows: dict[str, dict[str, Any]]) -> None:
    types = long_lived_workflows["long-lived.yml"]["on"]["pull_request"]["types"]
    assert {"labeled", "unlabeled", "synchronize"} <= set(types)


# --------------------------------------------------------------------------- deploy on merge


@pytest.fixture
def deploy_jobs(long_lived_workflows: dict[str, dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """The deploy job of each stack, by stack."""
    jobs = long_lived_workflows["long-lived.yml"]["jobs"]
    return {s.stack: dict(jobs[f"deploy-{s.stack}"]) for s in load(LIST)}


def test_a_merge_deploys_staging_then_waits_on_productions_environment(
    long_lived_workflows: dict[str, dict[str, Any]], deploy_jobs: dict[str, dict[str, Any]]
) -> None:
    assert long_lived_workflows["long-lived.yml"]["on"]["push"] == {"branches": ["main"]}
    assert list(deploy_jobs) == ["staging", "production"]
    staging, production = deploy_jobs["staging"], deploy_jobs["production"]
    assert (staging["needs"], staging["if"]) == ("stacks", "github.event_name == 'push'")
    # Production starts only after staging succeeded (no `if:` of its own: a skipped or
    # failed staging skips it), and runs in (so waits on the reviewers of) `production`.
    assert production["needs"] == "deploy-staging"
    assert "if" not in production
    assert production["environment"]["name"] == "production"
    assert "deployment" not in production["environment"], "a deploy is a deployment"
    assert "strategy" not in staging, "a matrix does not promise its start order"
    assert "strategy" not in production, "a matrix does not promise its start order"


def test_the_run_fails_when_the_deploy_jobs_do_not_follow_the_list(
    long_lived_workflows: dict[str, dict[str, Any]],
) -> None:
    listing = named(long_lived_workflows["long-lived.yml"]["jobs"]["stacks"], "scripts.long_lived")
    assert "--deploy-jobs .github/workflows/long-lived.yml" in listing["run"]


def test_each_stack_deploys_in_its_own_queue_that_never_cancels_an_up(
    deploy_jobs: dict[str, dict[str, Any]],
) -> None:
    for stack, job in deploy_jobs.items():
        assert job["concurrency"] == {
            "group": f"tims-stack-deploy-{stack}",
            "cancel-in-progress": False,
        }, stack


def test_the_deploy_never_creates_a_stack_and_summarises_what_it_deployed(
    deploy_jobs: dict[str, dict[str, Any]],
) -> None:
    for stack, job in deploy_jobs.items():
        up = next(s for s in job["steps"] if s.get("id") == "up")
        assert job["env"]["STACK"] == stack
        assert up["run"].startswith('pulumi stack select --stack "$STACK" --non-interactive\n')
        assert "--create" not in up["run"]
        assert "stack init" not in up["run"]
        summary = named(job, "scripts.deploy_summary")
        assert job["steps"].index(summary) == job["steps"].index(up) + 1
        assert '--commit "$GITHUB_SHA"' in summary["run"]


def test_no_long_lived_job_ever_clears_a_lock(
    long_lived_workflows: dict[str, dict[str, Any]],
) -> None:
    # A lock on staging or production may be someone's own `pulumi up`: CI never runs
    # `pulumi cancel` on them, neither itself nor through scripts.locks (which clears
    # any lock no run of the PR workflows holds); docs/ci.md says how to clear one.
    clearing = [
        (name, job_id)
        for name in ("long-lived.yml", "drift.yml")
        for job_id, job in long_lived_workflows[name]["jobs"].items()
        for entry in job["steps"]
        if re.search(r"pulumi cancel|scripts\.locks|command: cancel", json.dumps(entry))
        or entry.get("with", {}).get("command") == "cancel"
    ]
    assert clearing == []


# --------------------------------------------------------------------------- drift


@pytest.fixture
def drift_job(long_lived_workflows: dict[str, dict[str, Any]]) -> dict[str, Any]:
    return dict(long_lived_workflows["drift.yml"]["jobs"]["drift"])


def drift(job: dict[str, Any], run_step: StepRunner, emulator: GitHubEmulator) -> Any:
    script_step = named(job, "scripts.drift")
    env = dict(script_step["env"])
    env["STACK"] = "${{ matrix.stack }}"
    values = step_values("production", [], emulator)
    values["${{ matrix.stack }}"] = "production"
    return run_step({**script_step, "env": env}, values)


def test_a_drift_run_opens_and_a_later_clean_run_closes_the_issue(
    drift_job: dict[str, Any],
    run_step: StepRunner,
    repo_emulator: GitHubEmulator,
    fake_pulumi: FakePulumi,
) -> None:
    edited_by_hand = digest(
        step("update", STACK_TYPE, "postgres", diffReasons=["spec.replicas"]), refreshed("redis")
    )
    fake_pulumi.answer("refresh", "production", edited_by_hand)
    fake_pulumi.answer("preview", "production", digest())
    for _ in range(2):
        done = drift(drift_job, run_step, repo_emulator)
        assert done.returncode == 0, done.stderr
    issues = repo_emulator.issues(REPO)
    assert [(i["title"], i["state"]) for i in issues] == [("Drift on production", "open")]
    assert "spec.replicas" in issues[0]["body"]
    assert "`redis`" not in issues[0]["body"], "a resource the refresh found unchanged is listed"
    fake_pulumi.answer("refresh", "production", digest(refreshed("postgres"), refreshed("redis")))
    done = drift(drift_job, run_step, repo_emulator)
    assert done.returncode == 0, done.stderr
    assert [(i["state"], i["state_reason"]) for i in repo_emulator.issues(REPO)] == [
        ("closed", "completed")
    ]


def test_drift_is_read_only_refresh_then_preview_expecting_no_changes(
    drift_job: dict[str, Any],
    run_step: StepRunner,
    repo_emulator: GitHubEmulator,
    fake_pulumi: FakePulumi,
) -> None:
    drift(drift_job, run_step, repo_emulator)
    commands = [c[:2] for c in fake_pulumi.calls()]
    assert commands == [["refresh", "--preview-only"], ["preview", "--stack"]]
    assert all("--expect-no-changes" in c for c in fake_pulumi.calls())


def test_drift_runs_daily_and_by_hand_with_the_issue_permission(
    long_lived_workflows: dict[str, dict[str, Any]], drift_job: dict[str, Any]
) -> None:
    triggers = long_lived_workflows["drift.yml"]["on"]
    assert set(triggers) == {"schedule", "workflow_dispatch"}
    assert drift_job["permissions"] == {"contents": "read", "issues": "write"}
    assert drift_job["environment"] == {
        "name": "${{ matrix.previewEnvironment }}",
        "deployment": False,
    }


# --------------------------------------------------------------------------- every Pulumi job


def test_the_backend_checks_run_before_every_pulumi_step(
    long_lived_workflows: dict[str, dict[str, Any]],
) -> None:
    checked = 0
    for name, document in long_lived_workflows.items():
        for job_id, job in document["jobs"].items():
            steps = job["steps"]
            pulumi_steps = [steps.index(s) for s in steps if runs_pulumi(s)]
            if not pulumi_steps:
                continue
            check = named(job, "scripts.backend_check")
            assert steps.index(check) < min(pulumi_steps), f"{name} {job_id}: checked too late"
            # Skipped or allowed to fail, it checks nothing; a Pulumi step with its own
            # `if:` could run after a failed check.
            guarded = [check, *(steps[i] for i in pulumi_steps)]
            assert [
                s.get("name") for s in guarded if "if" in s or "continue-on-error" in s
            ] == [], f"{name} {job_id}"
            if name != "e2e-kind.yml":
                assert check["env"] == {
                    "PULUMI_CONFIG_PASSPHRASE": "${{ secrets.PULUMI_CONFIG_PASSPHRASE }}",
                    "PULUMI_ACCESS_TOKEN": "${{ secrets.PULUMI_ACCESS_TOKEN }}",
                }, f"{name} {job_id}"
                assert '--stack-file "Pulumi.${STACK}.yaml"' in check["run"], f"{name} {job_id}"
            checked += 1
    assert checked == 5, "expected preview, two deploys, drift and e2e jobs"


def test_only_the_kind_run_accepts_a_local_state(
    long_lived_workflows: dict[str, dict[str, Any]],
) -> None:
    allowing = [
        (name, job_id)
        for name, document in long_lived_workflows.items()
        for job_id, job in document["jobs"].items()
        for s in job["steps"]
        if "--allow-local-state" in str(s.get("run"))
    ]
    assert allowing == [("e2e-kind.yml", "e2e")]


# --------------------------------------------------------------------------- kind


def test_the_kind_workflow_only_calls_tested_scripts(
    long_lived_workflows: dict[str, dict[str, Any]],
) -> None:
    from scripts.e2e import kind

    job = long_lived_workflows["e2e-kind.yml"]["jobs"]["e2e"]
    assert job["strategy"]["matrix"]["profile"] == list(kind.PROFILES)
    scripts = [s["run"] for s in job["steps"] if "run" in s and s["run"] != "make setup"]
    called = [m.group(1) for s in scripts for m in re.finditer(r"scripts\.e2e\.kind (\S+)", s)]
    assert called == ["cluster", "images", "stack-file", "lifecycle"], called
    assert "tbscode/tims-stack-anystack" in json.dumps(job)


def test_every_stack_job_works_with_pulumi_cloud_and_with_a_bucket(
    long_lived_workflows: dict[str, dict[str, Any]],
) -> None:
    # PULUMI_BACKEND_URL unset means Pulumi Cloud (with PULUMI_ACCESS_TOKEN), a bucket URL
    # means that bucket (with the passphrase): each Pulumi step gets all three.
    for name in ("long-lived.yml", "drift.yml"):
        for job_id, job in long_lived_workflows[name]["jobs"].items():
            pulumi_steps = [s for s in job["steps"] if runs_pulumi(s)]
            if not pulumi_steps:
                continue
            assert job["env"]["PULUMI_BACKEND_URL"] == "${{ vars.PULUMI_BACKEND_URL }}", job_id
            for entry in pulumi_steps:
                env = entry.get("env", {})
                assert env["PULUMI_ACCESS_TOKEN"] == "${{ secrets.PULUMI_ACCESS_TOKEN }}", job_id
                assert env["PULUMI_CONFIG_PASSPHRASE"] == (
                    "${{ secrets.PULUMI_CONFIG_PASSPHRASE }}"
                ), job_id
