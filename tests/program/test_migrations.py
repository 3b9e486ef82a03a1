"""The migration Job: what it runs, with what, before what, and when it runs again.

Facts from ../shared/spec/original-stack.md, "Start-up": the image's
spinup.sh runs migrate, the admin user and the test users and chats in every
pod, and two pods doing that at once on an empty database collide.
"""

from __future__ import annotations

import os
import subprocess
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pytest

from components.app import migrations
from scripts.mockrun import ProgramRun, run_program
from stack.config import DEFAULT_MIGRATION_STEPS
from tests.program.conftest import SCENARIOS
from tests.program.k8s import Runs, containers, matches, obj, objects, resource

JOB = "backend-migrations"
TERMINATION_LOG = "/dev/termination-log"


def job(run: ProgramRun) -> dict[str, Any]:
    return obj(run, "Job", JOB)


def pod_spec(workload: dict[str, Any]) -> dict[str, Any]:
    return dict(workload["spec"]["template"]["spec"])


def job_container(run: ProgramRun) -> dict[str, Any]:
    (container,) = containers(job(run))
    return container


def steps_of(container: dict[str, Any]) -> list[str]:
    command = container["command"]
    assert command[:2] == ["/bin/sh", "-c"], f"Job {JOB}: not the step runner: {command[:2]}"
    assert command[2] == migrations.RUNNER
    return list(command[4:])


def run_with(extra: Mapping[str, Any], base: str = "default") -> ProgramRun:
    return run_program({**SCENARIOS[base], **extra})


# ------------------------------------------------------------------ what it runs, with what


def test_job_runs_the_seed_images_run_once_steps_in_order(default_run: ProgramRun) -> None:
    assert steps_of(job_container(default_run)) == list(DEFAULT_MIGRATION_STEPS)
    assert [s.split()[2] for s in DEFAULT_MIGRATION_STEPS] == ["migrate", "shell", "shell"]
    assert "get_or_create_base_admin()" in DEFAULT_MIGRATION_STEPS[1]
    assert "get_or_create_test_users_and_chats()" in DEFAULT_MIGRATION_STEPS[2]


def test_job_reads_the_backends_env_secret(default_run: ProgramRun) -> None:
    (backend,) = containers(obj(default_run, "Deployment", "backend"))
    assert job_container(default_run)["envFrom"] == backend["envFrom"]
    [source] = backend["envFrom"]
    assert (
        source["secretRef"]["name"] == obj(default_run, "Secret", "backend-env")["metadata"]["name"]
    )


@pytest.mark.parametrize("scenario_name", ["default", "private", "non-root", "prebuilt"])
def test_job_uses_the_backends_image_pull_secret_security_and_resources(
    scenario_name: str, program_runs: Runs
) -> None:
    run = program_runs(scenario_name)
    deployment = obj(run, "Deployment", "backend")
    (backend,) = containers(deployment)
    container = job_container(run)
    for field in ("image", "resources", "securityContext"):
        assert container[field] == backend[field], f"Job {JOB}: {field} differs from the backend"
    pod, backend_pod = pod_spec(job(run)), pod_spec(deployment)
    for field in ("securityContext", "imagePullSecrets", "automountServiceAccountToken"):
        assert pod.get(field) == backend_pod.get(field), f"Job {JOB}: pod {field} differs"
    if scenario_name == "private":
        assert pod["imagePullSecrets"], f"Job {JOB}: no pull secret for a private image"


def test_custom_steps_replace_the_seed_steps() -> None:
    steps = ["bin/migrate --noinput", "bin/seed --once"]
    run = run_with({"tims-stack:migrations": {"steps": steps}})
    assert steps_of(job_container(run)) == steps


def test_job_pods_are_not_backend_service_endpoints(default_run: ProgramRun) -> None:
    selector = obj(default_run, "Service", "backend")["spec"]["selector"]
    labels = job(default_run)["spec"]["template"]["metadata"]["labels"]
    assert not matches(selector, labels), "the backend Service would send traffic to the Job"


# ------------------------------------------------------------------ before what


def test_backend_deployment_depends_on_the_job(default_run: ProgramRun) -> None:
    deployment = resource(default_run, "Deployment", "backend")
    assert resource(default_run, "Job", JOB).urn in deployment.dependencies


def test_job_waits_for_postgres_and_redis(default_run: ProgramRun) -> None:
    dependencies = resource(default_run, "Job", JOB).dependencies
    for name in ("postgres", "redis"):
        assert resource(default_run, "StatefulSet", name).urn in dependencies, name


def test_no_job_runs_while_stopped(program_runs: Runs) -> None:
    run = program_runs("stopped")
    assert objects(run, "Job") == []
    assert "migrationLogs" not in run.outputs


def test_migrations_can_be_turned_off() -> None:
    run = run_with({"tims-stack:migrations": {"enabled": False}})
    assert objects(run, "Job") == []
    deployment = resource(run, "Deployment", "backend")
    assert not [urn for urn in deployment.dependencies if "Migrations" in urn]


# ------------------------------------------------------------------ when it runs again


def _template(run: ProgramRun) -> dict[str, Any]:
    return dict(job(run)["spec"]["template"])


def test_job_is_kept_after_it_finishes(default_run: ProgramRun) -> None:
    # A TTL would delete it; refresh would then drop it and the next up run it again.
    spec = job(default_run)["spec"]
    assert "ttlSecondsAfterFinished" not in spec
    assert pod_spec(job(default_run))["restartPolicy"] == "Never"


def test_job_changes_with_the_backend_image() -> None:
    tagged = {"tims-stack:images": {**SCENARIOS["prebuilt"]["tims-stack:images"], "tag": "v2"}}
    before = run_with({}, base="prebuilt")
    after = run_with(tagged, base="prebuilt")
    assert _template(before) != _template(after)
    assert job_container(after)["image"].endswith(":v2")


def test_job_reads_the_env_only_through_the_secrets_name() -> None:
    """A change of a backend env value leaves the template alone: only the Secret's new name
    (an immutable, auto-named Secret is replaced on any change) re-runs the Job."""
    before = run_with({"tims-stack:backend": {"env": {"LOG_LEVEL": "info"}}})
    after = run_with({"tims-stack:backend": {"env": {"LOG_LEVEL": "debug"}}})
    assert _template(before) == _template(after)
    secret = obj(after, "Secret", "backend-env")
    assert secret["immutable"] is True, "a mutable Secret could change without a new name"


def test_job_does_not_change_with_what_the_backend_does_not_run_on() -> None:
    before = run_with({}, base="prebuilt")
    after = run_with(
        {
            "tims-stack:backend": {"replicas": 5},
            "tims-stack:frontend": {"replicas": 3},
            "tims-stack:migrations": {"timeout": 1200, "backoffLimit": 4},
        },
        base="prebuilt",
    )
    assert _template(before) == _template(after), "the Job would run again"


def test_job_holds_no_secret_material(default_run: ProgramRun) -> None:
    # No hash of the env values either: only the Secret's name.
    manifest = resource(default_run, "Job", JOB).inputs
    text = repr(manifest)
    assert "MOCKSECRET" not in text
    assert "stringData" not in text
    annotations = job(default_run)["metadata"]["annotations"]
    assert set(annotations) == {"pulumi.com/replaceUnready", "pulumi.com/timeoutSeconds"}


def test_a_failed_job_is_replaced_on_the_next_up(default_run: ProgramRun) -> None:
    annotations = job(default_run)["metadata"]["annotations"]
    assert annotations["pulumi.com/replaceUnready"] == "true"


def test_a_replaced_job_is_gone_before_its_successor_starts(default_run: ProgramRun) -> None:
    # replaceUnready also replaces a Job still running (an up interrupted while it ran):
    # created before the old one is deleted, both would run `migrate` at once.
    assert resource(default_run, "Job", JOB).delete_before_replace, f"Job {JOB}: two at once"
    backend = resource(default_run, "Deployment", "backend")
    assert not backend.delete_before_replace, "the old backend pods must serve until the new"


def test_pulumi_waits_longer_than_the_job_may_run(default_run: ProgramRun) -> None:
    manifest = job(default_run)
    deadline = manifest["spec"]["activeDeadlineSeconds"]
    assert deadline == 900
    assert int(manifest["metadata"]["annotations"]["pulumi.com/timeoutSeconds"]) > deadline
    assert manifest["spec"]["backoffLimit"] == 2


# ------------------------------------------------------------------ how a failure reads


def test_container_knows_its_jobs_name_and_namespace(default_run: ProgramRun) -> None:
    env = {
        e["name"]: e["valueFrom"]["fieldRef"]["fieldPath"]
        for e in job_container(default_run)["env"]
    }
    assert env == {
        "TIMS_STACK_NAMESPACE": "metadata.namespace",
        "TIMS_STACK_JOB": "metadata.labels['batch.kubernetes.io/job-name']",
    }
    assert job_container(default_run)["terminationMessagePolicy"] == "FallbackToLogsOnError"


def run_runner(steps: list[str], tmp_path: Path) -> tuple[subprocess.CompletedProcess[str], Path]:
    """The runner script under /bin/sh, its termination log redirected into tmp_path."""
    assert migrations.RUNNER.count(TERMINATION_LOG) == 1
    log = tmp_path / "termination-log"
    script = migrations.RUNNER.replace(TERMINATION_LOG, str(log))
    done = subprocess.run(
        ["/bin/sh", "-c", script, "migrations", *steps],
        env={
            "PATH": os.environ["PATH"],
            "TIMS_STACK_NAMESPACE": "tims-stack-dev",
            "TIMS_STACK_JOB": "backend-migrations-abc1234",
        },
        cwd=tmp_path,
        capture_output=True,
        text=True,
        check=False,
        timeout=30,
    )
    return done, log


def test_runner_runs_every_step_in_order(tmp_path: Path) -> None:
    done, log = run_runner(["echo one > a", "cat a; echo two", "echo three"], tmp_path)
    assert done.returncode == 0, done.stderr
    assert [
        line for line in done.stdout.splitlines() if "step" not in line and "done" not in line
    ] == [
        "one",
        "two",
        "three",
    ]
    assert not log.exists()


def test_runner_stops_at_the_first_failure_and_says_how_to_read_the_log(tmp_path: Path) -> None:
    done, log = run_runner(["true", "exit 3", "touch ran-after-failure"], tmp_path)
    assert done.returncode == 3
    assert not (tmp_path / "ran-after-failure").exists()
    message = log.read_text()
    assert "step 2 of 3 failed (exit code 3): exit 3" in message
    assert "kubectl logs --namespace tims-stack-dev job/backend-migrations-abc1234" in message
    assert message.strip() in done.stderr


def _selector_of(command: str) -> dict[str, str]:
    words = command.split()
    assert words[:2] == ["kubectl", "logs"], command
    assert "--tail=-1" in words, f"{command}: kubectl shows 10 lines per pod by a selector"
    selector = words[words.index("--selector") + 1]
    return dict(pair.split("=", 1) for pair in selector.split(","))


def test_migration_logs_output_reads_the_job_pods_by_label(default_run: ProgramRun) -> None:
    """Not by the Job's name: after a failed up the outputs are the last good up's, whose
    Job the failing one replaced (deleted first)."""
    command = str(default_run.outputs["migrationLogs"])
    assert "--namespace tims-stack-dev" in command
    selector = _selector_of(command)
    assert matches(selector, job(default_run)["spec"]["template"]["metadata"]["labels"])
    for part in ("backend", "frontend"):
        pods = obj(default_run, "Deployment", part)["spec"]["template"]["metadata"]["labels"]
        assert not matches(selector, pods), f"migrationLogs would show the {part}'s logs too"
    assert "job/" not in command


def test_logs_command_matches_the_runners_hint() -> None:
    hint = migrations.logs_command("$TIMS_STACK_NAMESPACE", "$TIMS_STACK_JOB")
    assert hint in migrations.RUNNER
