"""The env Secret and Deployment that the backend and the frontend share in shape."""

from __future__ import annotations

import functools
from collections.abc import Callable, Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Protocol

import pulumi
from pulumi_kubernetes.apps.v1 import Deployment, DeploymentSpecArgs
from pulumi_kubernetes.core.v1 import EnvVarArgs, ProbeArgs, Secret

from components.app.autoscaling import (
    DEPLOYMENT_ANNOTATIONS,
    ScalingArgs,
    deployment_replicas,
    register_scaling,
    spread_constraints,
)
from components.app.services import AppPart
from components.kube import pods, timeouts
from stack.config import AppConfig


@dataclass(frozen=True)
class WorkloadArgs:
    """What differs between the backend's and the frontend's workload."""

    namespace: pulumi.Input[str]
    part: AppPart
    labels: dict[str, str]
    env: Mapping[str, pulumi.Input[str]]
    """The container's whole environment; stored as a Secret, never as plain pod env.

    Per variable, so each keeps its own secret-ness: secret values are secret
    Outputs, the rest stay readable in previews and offline renders.
    """
    image: pulumi.Input[str]
    config: AppConfig
    startup_seconds: int
    stopped: bool
    run_as_non_root: bool
    pull_secret: pulumi.Input[str] | None
    readiness: ProbeArgs | None = None
    """The readiness probe; None keeps the TCP check on the port."""
    before_rollout: Callable[[pulumi.Output[str]], Sequence[pulumi.Resource]] | None = None
    """Given the env Secret's name, registers what must complete before the Deployment
    changes (the backend's migration Job); the Deployment depends on what it returns."""
    extra_env: tuple[EnvVarArgs, ...] = ()
    """Container env beside the env Secret, e.g. secretKeyRefs to an operator's Secret."""


class AppPartArgs(Protocol):
    """What the backend's and the frontend's Args both hand to their workload."""

    @property
    def namespace(self) -> pulumi.Input[str]: ...
    @property
    def config(self) -> AppConfig: ...
    @property
    def image(self) -> pulumi.Input[str]: ...
    @property
    def stopped(self) -> bool: ...
    @property
    def run_as_non_root(self) -> bool: ...
    @property
    def pull_secret(self) -> pulumi.Input[str] | None: ...


def part_workload(
    args: AppPartArgs,
    part: AppPart,
    *,
    labels: dict[str, str],
    env: Mapping[str, pulumi.Input[str]],
    startup_seconds: int,
    readiness: ProbeArgs | None,
    before_rollout: Callable[[pulumi.Output[str]], Sequence[pulumi.Resource]] | None = None,
    extra_env: tuple[EnvVarArgs, ...] = (),
) -> WorkloadArgs:
    """The WorkloadArgs of an app part: the fields its Args carry, plus what differs."""
    return WorkloadArgs(
        namespace=args.namespace,
        part=part,
        labels=labels,
        env=env,
        image=args.image,
        config=args.config,
        startup_seconds=startup_seconds,
        stopped=args.stopped,
        run_as_non_root=args.run_as_non_root,
        pull_secret=args.pull_secret,
        readiness=readiness,
        before_rollout=before_rollout,
        extra_env=extra_env,
    )


def _entry(var: str, env: Mapping[str, str]) -> str:
    return env[var]


def env_entries(
    plain: pulumi.Output[dict[str, str]],
    names: Iterable[str],
    *,
    secret_names: Collection[str] = (),
    secrets: Mapping[str, pulumi.Input[str]] | None = None,
) -> dict[str, pulumi.Input[str]]:
    """One Input per variable: `names` taken from `plain`, then the `secrets` added.

    `plain` is built from non-secret inputs only, so each entry stays readable
    (a secret input anywhere in it still makes every entry secret: Pulumi
    propagates secret-ness, never drops it). `secret_names` are entries of
    `plain` that come from a secure config value; they and all `secrets` are
    marked secret. The names must be known before the values: they are the
    Secret's keys, and a render or preview shows them.
    """
    entries: dict[str, pulumi.Input[str]] = {}
    for var in names:
        value = plain.apply(functools.partial(_entry, var))
        entries[var] = pulumi.Output.secret(value) if var in secret_names else value
    for var, secret in (secrets or {}).items():
        entries[var] = pulumi.Output.secret(secret)
    return entries


def deployment_spec(args: WorkloadArgs, env_secret_name: pulumi.Input[str]) -> DeploymentSpecArgs:
    """The part's Deployment spec: its container reads the env Secret `env_secret_name`."""
    container = pods.app_container(
        name=args.part.name,
        image=args.image,
        port_name=args.part.port_name,
        port=args.part.port,
        env_secret_name=env_secret_name,
        resource_requirements=pods.resources(args.config.resources),
        run_as_non_root=args.run_as_non_root,
        startup_seconds=args.startup_seconds,
        readiness_probe=args.readiness,
        extra_env=args.extra_env,
    )
    return pods.app_deployment_spec(
        container,
        pod_labels=args.labels,
        replica_count=deployment_replicas(args.config, stopped=args.stopped),
        run_as_non_root=args.run_as_non_root,
        pull_secret_name=args.pull_secret,
        startup_seconds=args.startup_seconds,
        topology_spread=spread_constraints(args.labels),
    )


def _env_secret(name: str, args: WorkloadArgs, opts: pulumi.ResourceOptions) -> Secret:
    # The Kubernetes SDK declares data and stringData additional secret outputs,
    # so the object's state is encrypted whatever the entries' own secret-ness.
    return Secret(
        f"{name}-env",
        metadata=pods.metadata(args.namespace, args.labels),
        type="Opaque",
        immutable=True,
        string_data=dict(args.env),
        opts=opts,
    )


def _deployment(
    name: str,
    args: WorkloadArgs,
    env_secret_name: pulumi.Output[str],
    opts: pulumi.ResourceOptions,
) -> Deployment:
    """The Deployment, after whatever `args.before_rollout` registers for `env_secret_name`."""
    gates = list(args.before_rollout(env_secret_name)) if args.before_rollout else []
    return Deployment(
        name,
        metadata=pods.metadata(args.namespace, args.labels, DEPLOYMENT_ANNOTATIONS),
        spec=deployment_spec(args, env_secret_name),
        # `up` waits for the rollout at least as long as the startup probe allows.
        opts=timeouts.awaiting(
            pulumi.ResourceOptions.merge(opts, pulumi.ResourceOptions(depends_on=gates)),
            args.startup_seconds,
        ),
    )


def app_workload(name: str, args: WorkloadArgs, opts: pulumi.ResourceOptions) -> Deployment:
    """Register `<name>-env` (Secret) and `<name>` (Deployment) under the caller's `opts`,
    and the part's HPA and PodDisruptionBudget when they apply (components/app/autoscaling.py).

    The Secret is auto-named: the Kubernetes provider replaces a Secret whose
    data changes (Secrets are immutable to it unless enableSecretMutable is set,
    pulumi/pulumi-kubernetes#1567), the Deployment then references the new name
    and rolls out. envFrom alone would leave running pods on the old values.
    The Secret is also marked immutable, which makes the provider replace it
    on a data change even where enableSecretMutable is set: a new name is what
    re-runs the migration Job, whose pod template holds only that name (no hash
    of the values, which would put secret material in state in plain text).
    """
    env_secret = _env_secret(name, args, opts)
    deployment = _deployment(name, args, env_secret.metadata.name, opts)
    register_scaling(
        name,
        ScalingArgs(
            namespace=args.namespace,
            labels=args.labels,
            deployment_name=deployment.metadata.name,
            config=args.config,
            stopped=args.stopped,
        ),
        opts,
    )
    return deployment
