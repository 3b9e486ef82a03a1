"""Pure builders for the parts every workload shares: labels, security, probes, resources.

They return SDK `*Args` objects and register nothing, so tests can call them
directly and components stay short.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import pulumi
from pulumi_kubernetes.apps.v1 import (
    DeploymentSpecArgs,
    DeploymentStrategyArgs,
    RollingUpdateDeploymentArgs,
)
from pulumi_kubernetes.core.v1 import (
    CapabilitiesArgs,
    ContainerArgs,
    ContainerPortArgs,
    EnvFromSourceArgs,
    EnvVarArgs,
    ExecActionArgs,
    HTTPGetActionArgs,
    HTTPHeaderArgs,
    LocalObjectReferenceArgs,
    PodSecurityContextArgs,
    PodSpecArgs,
    PodTemplateSpecArgs,
    ProbeArgs,
    ResourceRequirementsArgs,
    SeccompProfileArgs,
    SecretEnvSourceArgs,
    SecurityContextArgs,
    TCPSocketActionArgs,
    TopologySpreadConstraintArgs,
)
from pulumi_kubernetes.meta.v1 import LabelSelectorArgs, ObjectMetaArgs

from components.kube import timeouts
from stack.config import Resources
from stack.naming import standard_labels

NAME_LABEL = "app.kubernetes.io/name"
INSTANCE_LABEL = "app.kubernetes.io/instance"


@dataclass(frozen=True)
class ImageUser:
    """The numeric user and group an image's files belong to."""

    uid: int
    gid: int


def labels(environment: str, component: str, name: str) -> dict[str, str]:
    """The `app.kubernetes.io/*` labels every object of one part of the stack carries."""
    return dict(standard_labels(environment=environment, component=component, name=name))


def selector_labels(all_labels: Mapping[str, str]) -> dict[str, str]:
    """The subset that selects pods: name and instance never change over a stack's life.

    Deployment and StatefulSet selectors are immutable, so they must not
    include labels we might want to change later.
    """
    return {key: all_labels[key] for key in (NAME_LABEL, INSTANCE_LABEL)}


def metadata(
    namespace: pulumi.Input[str],
    object_labels: Mapping[str, str],
    annotations: Mapping[str, pulumi.Input[str]] | None = None,
) -> ObjectMetaArgs:
    """Metadata for an auto-named object: Pulumi picks `metadata.name` (`<name>-<suffix>`).

    Auto-naming lets Pulumi create a replacement before deleting the old
    object and keeps two environments from colliding, so we never set a name
    unless a contract demands one.
    """
    return ObjectMetaArgs(
        namespace=namespace,
        labels=dict(object_labels),
        annotations=dict(annotations) if annotations else None,
    )


def restricted_pod_security(user: ImageUser) -> PodSecurityContextArgs:
    """Pod-level settings of the restricted Pod Security Standard for an image's own user.

    `fsGroup` makes a fresh volume group-writable for that user; the
    OnRootMismatch policy skips the recursive chown on every restart.
    """
    return PodSecurityContextArgs(
        run_as_non_root=True,
        run_as_user=user.uid,
        run_as_group=user.gid,
        fs_group=user.gid,
        fs_group_change_policy="OnRootMismatch",
        seccomp_profile=SeccompProfileArgs(type="RuntimeDefault"),
    )


def app_pod_security(run_as_non_root: bool) -> PodSecurityContextArgs:
    """Pod-level settings for the application images, whose user we do not control.

    `runAsNonRoot` is opt-in: the kubelet refuses to start an image whose
    USER is root or not numeric, and the application images are not ours.
    """
    return PodSecurityContextArgs(
        run_as_non_root=True if run_as_non_root else None,
        seccomp_profile=SeccompProfileArgs(type="RuntimeDefault"),
    )


def container_security(*, run_as_non_root: bool) -> SecurityContextArgs:
    """Container settings: no privilege escalation, no capabilities, RuntimeDefault seccomp."""
    return SecurityContextArgs(
        allow_privilege_escalation=False,
        capabilities=CapabilitiesArgs(drop=["ALL"]),
        run_as_non_root=True if run_as_non_root else None,
        seccomp_profile=SeccompProfileArgs(type="RuntimeDefault"),
    )


def resources(configured: Resources) -> ResourceRequirementsArgs:
    """Config's requests/limits (already merged with the part's defaults, stack.apps)."""
    return ResourceRequirementsArgs(
        requests=dict(configured.requests) or None,
        limits=dict(configured.limits) or None,
    )


def exec_probe(
    command: Sequence[str],
    *,
    period: int,
    failure_threshold: int,
    initial_delay: int = 0,
    timeout: int = 5,
) -> ProbeArgs:
    return ProbeArgs(
        exec_=ExecActionArgs(command=list(command)),
        initial_delay_seconds=initial_delay or None,
        period_seconds=period,
        timeout_seconds=timeout,
        failure_threshold=failure_threshold,
    )


def tcp_probe(
    port: str | int,
    *,
    period: int,
    failure_threshold: int,
    timeout: int = 3,
) -> ProbeArgs:
    return ProbeArgs(
        tcp_socket=TCPSocketActionArgs(port=port),
        period_seconds=period,
        timeout_seconds=timeout,
        failure_threshold=failure_threshold,
    )


def http_probe(
    path: str,
    port: str | int,
    *,
    host: pulumi.Input[str] | None = None,
    period: int = 10,
    failure_threshold: int = 3,
    timeout: int = 5,
) -> ProbeArgs:
    """GET `path` on the pod; 200-399 passes. `host` sets the Host header (default: pod IP)."""
    headers = [HTTPHeaderArgs(name="Host", value=host)] if host is not None else None
    return ProbeArgs(
        http_get=HTTPGetActionArgs(path=path, port=port, http_headers=headers),
        period_seconds=period,
        timeout_seconds=timeout,
        failure_threshold=failure_threshold,
    )


def pull_secrets(secret_name: pulumi.Input[str] | None) -> list[LocalObjectReferenceArgs] | None:
    """`imagePullSecrets` for private images; None leaves the field out."""
    if secret_name is None:
        return None
    return [LocalObjectReferenceArgs(name=secret_name)]


def replicas(configured: int, *, stopped: bool) -> int:
    """Replica count: 0 while the environment is stopped, the configured count otherwise."""
    return 0 if stopped else configured


def service_host(
    service_name: pulumi.Input[str], namespace: pulumi.Input[str]
) -> pulumi.Output[str]:
    """The cluster DNS name of a Service."""
    return pulumi.Output.concat(service_name, ".", namespace, ".svc.cluster.local")


def app_container(
    *,
    name: str,
    image: pulumi.Input[str],
    port_name: str,
    port: int,
    env_secret_name: pulumi.Input[str],
    resource_requirements: ResourceRequirementsArgs,
    run_as_non_root: bool,
    startup_seconds: int,
    readiness_probe: ProbeArgs | None = None,
    extra_env: Sequence[EnvVarArgs] | None = None,
) -> ContainerArgs:
    """The backend's or the frontend's container: its env from the env Secret, three probes.

    Startup and liveness probes check that the port accepts connections; the
    readiness probe is the caller's (an HTTP request the application answers)
    or the same TCP check. A startup probe covers slow starts (the image's
    start script runs its start-up steps first) without making the liveness
    probe lenient for the rest of the pod's life. `extra_env` entries (e.g.
    secretKeyRefs to a database operator's Secret) win over the same names from
    the env Secret, as Kubernetes gives `env` precedence over `envFrom`.
    """
    period = 10
    return ContainerArgs(
        name=name,
        image=image,
        ports=[ContainerPortArgs(name=port_name, container_port=port, protocol="TCP")],
        env_from=[EnvFromSourceArgs(secret_ref=SecretEnvSourceArgs(name=env_secret_name))],
        env=list(extra_env) if extra_env else None,
        startup_probe=tcp_probe(
            port_name, period=period, failure_threshold=startup_seconds // period
        ),
        readiness_probe=readiness_probe or tcp_probe(port_name, period=period, failure_threshold=3),
        liveness_probe=tcp_probe(port_name, period=20, failure_threshold=6),
        resources=resource_requirements,
        security_context=container_security(run_as_non_root=run_as_non_root),
    )


def app_pod_spec(
    container: ContainerArgs,
    *,
    run_as_non_root: bool,
    pull_secret_name: pulumi.Input[str] | None,
    topology_spread: Sequence[TopologySpreadConstraintArgs] | None = None,
) -> PodSpecArgs:
    """The pod around an application container: no service account token, no service links."""
    return PodSpecArgs(
        security_context=app_pod_security(run_as_non_root),
        automount_service_account_token=False,
        # Service links would add *_PORT/*_HOST variables for every
        # Service in the namespace; the app reads its own settings.
        enable_service_links=False,
        image_pull_secrets=pull_secrets(pull_secret_name),
        topology_spread_constraints=list(topology_spread) if topology_spread else None,
        containers=[container],
    )


def app_deployment_spec(
    container: ContainerArgs,
    *,
    pod_labels: Mapping[str, str],
    replica_count: int | None,
    run_as_non_root: bool,
    pull_secret_name: pulumi.Input[str] | None,
    startup_seconds: int,
    topology_spread: Sequence[TopologySpreadConstraintArgs] | None = None,
) -> DeploymentSpecArgs:
    """The Deployment spec shared by the backend and the frontend, around `app_container`.

    Rolling updates never take a serving pod away before its replacement is ready.
    `replica_count` None leaves `replicas` out (an HPA owns it, components/app/autoscaling.py).
    """
    return DeploymentSpecArgs(
        replicas=replica_count,
        revision_history_limit=5,
        # The default 600 s would fail a healthy rollout whose start-up budget is as long.
        progress_deadline_seconds=timeouts.await_seconds(startup_seconds),
        selector=LabelSelectorArgs(match_labels=selector_labels(pod_labels)),
        strategy=DeploymentStrategyArgs(
            type="RollingUpdate",
            rolling_update=RollingUpdateDeploymentArgs(max_unavailable=0, max_surge=1),
        ),
        template=PodTemplateSpecArgs(
            metadata=ObjectMetaArgs(labels=dict(pod_labels)),
            spec=app_pod_spec(
                container,
                run_as_non_root=run_as_non_root,
                pull_secret_name=pull_secret_name,
                topology_spread=topology_spread,
            ),
        ),
    )
