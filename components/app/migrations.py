"""The Job that runs the backend's run-once start-up steps before each backend rollout.

Why a Job (../shared/spec/original-stack.md, "Start-up"): the image's start
script runs `migrate`, the admin user and the test users and chats in every
pod; two replicas starting together on an empty database collide. The Job
runs them once; the pods' own runs are then no-ops.

When it runs. The Job's pod template holds the backend image and the *name*
of the backend's env Secret. That Secret is immutable and auto-named, so any
change of the backend's env gives it a new name (components/app/workload.py).
Kubernetes forbids changing a Job's pod template and the provider replaces a
Job whose `spec.template` changes, so the Job runs again exactly when the
backend image or its env (or the steps, resources, pull secret) change, and
never on an `up` that changes none of them. No hash of the env values is put
anywhere: that would store secret material in state in plain text.

Why it stays. `ttlSecondsAfterFinished` is never set: Kubernetes would
delete the finished Job, `pulumi refresh` would then drop it from state and
the next `up` would run it again. A finished Job keeps only its completed
pod, which holds the log of the last run.

Failure. The provider waits for the Job (its Complete condition) and fails
`pulumi up` on its Failed condition; the Deployment depends on the Job, so it
is not changed and the old pods keep serving. The wrapper script writes the
failing step and the `kubectl logs` command into the container's termination
message, which the provider prints in its error. `pulumi.com/replaceUnready`
makes the next `up` replace a failed Job (run it again) instead of waiting on
the failed one; it replaces a Job still running too, so the old one is deleted
before the new one is created (never two `migrate`s at once).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import pulumi
from pulumi_kubernetes.batch.v1 import Job, JobSpecArgs
from pulumi_kubernetes.core.v1 import (
    ContainerArgs,
    EnvFromSourceArgs,
    EnvVarArgs,
    EnvVarSourceArgs,
    ObjectFieldSelectorArgs,
    PodSpecArgs,
    PodTemplateSpecArgs,
    ResourceRequirementsArgs,
    SecretEnvSourceArgs,
)
from pulumi_kubernetes.meta.v1 import ObjectMetaArgs

from components.kube import pods, timeouts
from stack.config import MigrationsConfig

CONTAINER = "migrations"
NAME_LABEL = "backend-migrations"
COMPONENT_LABEL = "migrations"
JOB_NAME_LABEL = "batch.kubernetes.io/job-name"
"""Set by Kubernetes (1.27+) on a Job's pods: how the container learns its Job's name."""

# Runs each step with `sh -c` in order; stops at the first failure and leaves a
# termination message (what failed, how to read the log) for the provider's error.
# POSIX sh: the backend image is Alpine (busybox ash).
RUNNER = r"""
total=$#
n=0
for step in "$@"; do
  n=$((n + 1))
  echo "tims-stack migrations: step $n of $total: $step"
  sh -c "$step"
  code=$?
  if [ "$code" -ne 0 ]; then
    msg="tims-stack migrations: step $n of $total failed (exit code $code): $step
Read the whole log: kubectl logs --namespace $TIMS_STACK_NAMESPACE job/$TIMS_STACK_JOB"
    echo "$msg" >&2
    printf '%s\n' "$msg" > /dev/termination-log 2>/dev/null || true
    exit "$code"
  fi
done
echo "tims-stack migrations: all $total steps done"
""".strip()


def labels(environment: str) -> dict[str, str]:
    """The Job's and its pods' labels: not the backend's, so its Service never selects them."""
    return pods.labels(environment, COMPONENT_LABEL, NAME_LABEL)


def logs_command(namespace: str, job_name: str) -> str:
    """How to read a migration Job's log (the same text the runner leaves on failure)."""
    return f"kubectl logs --namespace {namespace} job/{job_name}"


def pods_logs_command(namespace: str, environment: str) -> str:
    """The logs of every pod of the environment's migration Job, whatever its name.

    For the `migrationLogs` output: a failed `up` leaves the stack outputs of the last
    successful one, whose Job was deleted when the failing one replaced it. The pods'
    labels do not change between Jobs. `--tail=-1`: with a selector kubectl shows only
    10 lines per pod by default; `--prefix` tells the attempts apart.
    """
    selector = ",".join(
        f"{k}={v}" for k, v in sorted(pods.selector_labels(labels(environment)).items())
    )
    return f"kubectl logs --namespace {namespace} --selector {selector} --prefix --tail=-1"


def job_spec(
    *,
    config: MigrationsConfig,
    pod_labels: dict[str, str],
    image: pulumi.Input[str],
    env_secret_name: pulumi.Input[str],
    resource_requirements: ResourceRequirementsArgs,
    run_as_non_root: bool,
    pull_secret_name: pulumi.Input[str] | None,
    extra_env: Sequence[EnvVarArgs] = (),
) -> JobSpecArgs:
    """One pod, never restarted in place; `backoffLimit` new pods on failure."""
    downward = [
        EnvVarArgs(
            name="TIMS_STACK_NAMESPACE",
            value_from=EnvVarSourceArgs(
                field_ref=ObjectFieldSelectorArgs(field_path="metadata.namespace")
            ),
        ),
        EnvVarArgs(
            name="TIMS_STACK_JOB",
            value_from=EnvVarSourceArgs(
                field_ref=ObjectFieldSelectorArgs(field_path=f"metadata.labels['{JOB_NAME_LABEL}']")
            ),
        ),
    ]
    return JobSpecArgs(
        backoff_limit=config.backoff_limit,
        active_deadline_seconds=config.timeout,
        template=PodTemplateSpecArgs(
            metadata=ObjectMetaArgs(labels=dict(pod_labels)),
            spec=PodSpecArgs(
                restart_policy="Never",
                security_context=pods.app_pod_security(run_as_non_root),
                automount_service_account_token=False,
                enable_service_links=False,
                image_pull_secrets=pods.pull_secrets(pull_secret_name),
                containers=[
                    ContainerArgs(
                        name=CONTAINER,
                        image=image,
                        command=["/bin/sh", "-c", RUNNER, CONTAINER, *config.steps],
                        env_from=[
                            EnvFromSourceArgs(secret_ref=SecretEnvSourceArgs(name=env_secret_name))
                        ],
                        # extra_env: as the backend's (CloudNativePG credentials).
                        env=[*downward, *extra_env],
                        resources=resource_requirements,
                        security_context=pods.container_security(run_as_non_root=run_as_non_root),
                        # An OOM kill or a crash writes no message: the log's tail then.
                        termination_message_policy="FallbackToLogsOnError",
                    )
                ],
            ),
        ),
    )


@dataclass(frozen=True)
class MigrationsArgs:
    namespace: pulumi.Input[str]
    environment: str
    config: MigrationsConfig
    image: pulumi.Input[str]
    """The backend's image."""
    env_secret_name: pulumi.Input[str]
    """The backend's env Secret (immutable, renamed on every change)."""
    resources: ResourceRequirementsArgs
    """The backend's requests and limits."""
    run_as_non_root: bool
    pull_secret: pulumi.Input[str] | None = None
    after: Sequence[pulumi.Resource] = ()
    """What must be ready first: Postgres, and Redis (creating the admin and test users
    publishes through the app's Channels layer; the steps fail without it)."""
    extra_env: tuple[EnvVarArgs, ...] = ()
    """Container env beside the env Secret, as the backend Deployment's (its DB credentials
    from CloudNativePG's Secret by secretKeyRef)."""


class Migrations(pulumi.ComponentResource):
    """One Job per backend release; the backend Deployment depends on this component."""

    job_name: pulumi.Output[str]
    logs: pulumi.Output[str]
    """The `kubectl logs` command for the Job's pods (by label, so it outlives a failed `up`)."""

    def __init__(
        self, name: str, args: MigrationsArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        super().__init__("tims-stack:k8s:Migrations", name, None, opts)
        object_labels = labels(args.environment)
        job = Job(
            name,
            metadata=pods.metadata(
                args.namespace,
                object_labels,
                {
                    "pulumi.com/replaceUnready": "true",
                    "pulumi.com/timeoutSeconds": str(
                        timeouts.job_await_seconds(args.config.timeout)
                    ),
                },
            ),
            spec=job_spec(
                config=args.config,
                pod_labels=object_labels,
                image=args.image,
                env_secret_name=args.env_secret_name,
                resource_requirements=args.resources,
                run_as_non_root=args.run_as_non_root,
                pull_secret_name=args.pull_secret,
                extra_env=args.extra_env,
            ),
            # Never two Jobs at once: a replaced Job may still be running (an `up` interrupted
            # while it ran, then `up` again: replaceUnready replaces it), and two `migrate`s at
            # once are what this Job exists to prevent. Deleting first stops it (foreground
            # deletion: its pods go before it does); Django's migrations are transactions.
            # The Deployment depends on the Job only by dependsOn, so it is not replaced.
            opts=pulumi.ResourceOptions(
                parent=self, depends_on=list(args.after), delete_before_replace=True
            ),
        )
        self.job_name = job.metadata.name
        environment = args.environment
        self.logs = job.metadata.namespace.apply(
            lambda namespace: pods_logs_command(str(namespace), environment)
        )
        self.register_outputs({"job_name": self.job_name, "logs": self.logs})
