"""PostgreSQL: a one-replica StatefulSet on the official image, with a generated password.

The data lives in the claim the StatefulSet's volumeClaimTemplate creates,
`data-<statefulset name>-0`. Nothing a config change can do may replace the
StatefulSet (a replacement gets a new auto-name, hence a new, empty claim), so
its immutable fields are either constant or ignored after creation, and a
bigger `storage` is applied to the existing claim in place by a server-side
apply patch.
"""

from __future__ import annotations

from dataclasses import dataclass

import pulumi
import pulumi_random
from pulumi_kubernetes.apps.v1 import (
    StatefulSet,
    StatefulSetPersistentVolumeClaimRetentionPolicyArgs,
    StatefulSetSpecArgs,
)
from pulumi_kubernetes.core.v1 import (
    ContainerArgs,
    ContainerPortArgs,
    EnvVarArgs,
    EnvVarSourceArgs,
    PersistentVolumeClaimArgs,
    PersistentVolumeClaimPatch,
    PersistentVolumeClaimSpecArgs,
    PersistentVolumeClaimSpecPatchArgs,
    PodSpecArgs,
    PodTemplateSpecArgs,
    SecretKeySelectorArgs,
    Service,
    ServicePortArgs,
    ServiceSpecArgs,
    VolumeMountArgs,
    VolumeResourceRequirementsArgs,
    VolumeResourceRequirementsPatchArgs,
)
from pulumi_kubernetes.core.v1 import Secret as K8sSecret
from pulumi_kubernetes.meta.v1 import LabelSelectorArgs, ObjectMetaArgs, ObjectMetaPatchArgs

from components import pods
from components.official_images import postgres_data_layout, postgres_user
from stack.config import PostgresConfig, Resources

PORT = 5432
DATABASE = "tims_stack"
USER = "tims_stack"
PASSWORD_KEY = "POSTGRES_PASSWORD"  # noqa: S105 - the Secret key name, not a password
DATA_VOLUME = "data"
HEADLESS_SERVICE_NAME = "postgres-headless"
"""Fixed, because the StatefulSet's `serviceName` (immutable) names it."""
IMMUTABLE_STATEFULSET_FIELDS = ("spec.volumeClaimTemplates", "spec.serviceName")
"""StatefulSet fields Kubernetes refuses to update, so a change would make Pulumi
replace the StatefulSet, under a new name, with a new empty claim. They are
ignored after creation (Pulumi property paths, camelCase as the provider's
schema spells them). serviceName is constant now, but environments deployed
before it was hold the old auto-named headless Service there: ignoring it
keeps their StatefulSet (and claim) on upgrade."""
PATCH_FORCE_ANNOTATION = "pulumi.com/patchForce"
DEFAULT_RESOURCES = Resources(
    requests={"cpu": "100m", "memory": "256Mi"},
    limits={"memory": "1Gi"},
)


def claim_name(template: str, statefulset: str, ordinal: int = 0) -> str:
    """The claim the StatefulSet controller makes for one pod: `<template>-<statefulset>-<ordinal>`.

    https://kubernetes.io/docs/concepts/workloads/controllers/statefulset/#stable-storage
    """
    return f"{template}-{statefulset}-{ordinal}"


def claim_template(
    object_labels: dict[str, str], size: str, storage_class: str | None
) -> PersistentVolumeClaimArgs:
    """The one-pod ReadWriteOnce volumeClaimTemplate named `data`."""
    return PersistentVolumeClaimArgs(
        # The template name is part of the claim's name (data-<statefulset>-0),
        # not an object of its own.
        metadata=ObjectMetaArgs(name=DATA_VOLUME, labels=object_labels),
        spec=PersistentVolumeClaimSpecArgs(
            access_modes=["ReadWriteOnce"],
            storage_class_name=storage_class,
            resources=VolumeResourceRequirementsArgs(requests={"storage": size}),
        ),
    )


def statefulset_options(child: pulumi.ResourceOptions) -> pulumi.ResourceOptions:
    """`child` plus `ignore_changes` on the fields whose change would replace the StatefulSet."""
    return pulumi.ResourceOptions.merge(
        child, pulumi.ResourceOptions(ignore_changes=list(IMMUTABLE_STATEFULSET_FIELDS))
    )


def claim_size_patch(
    resource_name: str,
    *,
    namespace: pulumi.Input[str],
    statefulset: StatefulSet,
    object_labels: dict[str, str],
    size: str,
    opts: pulumi.ResourceOptions,
) -> PersistentVolumeClaimPatch:
    """Server-side apply of `size` to pod 0's existing claim, so a bigger size expands it in place.

    The StatefulSet ignores template changes after creation, so this patch is
    how `storage` reaches the claim. Kubernetes expands the volume when the
    StorageClass has `allowVolumeExpansion: true`, and rejects a smaller size
    (claims never shrink): `pulumi up` then fails with the API server's
    message instead of silently doing nothing.

    The claim name comes from the StatefulSet's output, so the patch waits for
    the StatefulSet, whose readiness means the controller has made the claim.
    The controller makes it only when pod 0 first starts, so callers register
    the patch only while the environment runs: a new environment deployed
    with `stopped: true` has no claim to patch yet.
    `patchForce`: the StatefulSet controller created the claim and so owns the
    size field; a changed size would otherwise be a field-manager conflict.
    `retain_on_delete`: removing the patch (destroy, or a program that drops
    it) must never touch the claim; deleting a Patch would otherwise
    relinquish its fields, which for a claim's size is an invalid update.
    https://www.pulumi.com/registry/packages/kubernetes/how-to-guides/managing-resources-with-server-side-apply/
    """
    return PersistentVolumeClaimPatch(
        resource_name,
        metadata=ObjectMetaPatchArgs(
            name=statefulset.metadata.name.apply(lambda n: claim_name(DATA_VOLUME, n)),
            namespace=namespace,
            labels=object_labels,
            annotations={PATCH_FORCE_ANNOTATION: "true"},
        ),
        spec=PersistentVolumeClaimSpecPatchArgs(
            resources=VolumeResourceRequirementsPatchArgs(requests={"storage": size}),
        ),
        opts=pulumi.ResourceOptions.merge(opts, pulumi.ResourceOptions(retain_on_delete=True)),
    )


@dataclass(frozen=True)
class PostgresArgs:
    namespace: pulumi.Input[str]
    environment: str
    config: PostgresConfig
    """Image (major pinned), storage size and class, resources."""
    stopped: bool
    """Scale to 0; the volume claim and the password Secret stay, untouched."""


class Postgres(pulumi.ComponentResource):
    """The database the backend reaches by its Service's cluster DNS name."""

    host: pulumi.Output[str]
    port: pulumi.Output[int]
    database: pulumi.Output[str]
    user: pulumi.Output[str]
    password: pulumi.Output[str]
    """Secret."""
    pod_labels: dict[str, str]
    """Labels of the database pods, for NetworkPolicies."""

    def __init__(
        self, name: str, args: PostgresArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        super().__init__("tims-stack:k8s:Postgres", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        object_labels = pods.labels(args.environment, "database", "postgres")
        selector = pods.selector_labels(object_labels)
        layout = postgres_data_layout(args.config.major)

        # No keepers: the password must never change, because Postgres only
        # reads POSTGRES_PASSWORD when it initialises an empty volume.
        password = pulumi_random.RandomPassword(
            f"{name}-password", length=32, special=False, opts=child
        )
        self.password = pulumi.Output.secret(password.result)
        secret = K8sSecret(
            name,
            metadata=pods.metadata(args.namespace, object_labels),
            type="Opaque",
            string_data={PASSWORD_KEY: self.password},
            opts=child,
        )

        ports = [ServicePortArgs(name="postgres", port=PORT, target_port="postgres")]
        # The StatefulSet's governing Service gives the pod a stable DNS name.
        # Fixed name: serviceName is immutable, so it must never follow an
        # auto-name that a replaced Service would change.
        Service(
            f"{name}-headless",
            metadata=ObjectMetaArgs(
                name=HEADLESS_SERVICE_NAME, namespace=args.namespace, labels=object_labels
            ),
            spec=ServiceSpecArgs(cluster_ip="None", selector=selector, ports=ports),
            opts=child,
        )
        service = Service(
            name,
            metadata=pods.metadata(args.namespace, object_labels),
            spec=ServiceSpecArgs(type="ClusterIP", selector=selector, ports=ports),
            opts=child,
        )

        ready = ["pg_isready", "-U", USER, "-d", DATABASE, "-h", "127.0.0.1", "-p", str(PORT)]
        container = ContainerArgs(
            name="postgres",
            image=args.config.image,
            ports=[ContainerPortArgs(name="postgres", container_port=PORT, protocol="TCP")],
            env=[
                EnvVarArgs(name="POSTGRES_USER", value=USER),
                EnvVarArgs(name="POSTGRES_DB", value=DATABASE),
                EnvVarArgs(name="PGDATA", value=layout.pgdata),
                EnvVarArgs(
                    name=PASSWORD_KEY,
                    value_from=EnvVarSourceArgs(
                        secret_key_ref=SecretKeySelectorArgs(
                            name=secret.metadata.name, key=PASSWORD_KEY
                        )
                    ),
                ),
            ],
            readiness_probe=pods.exec_probe(ready, period=10, failure_threshold=6),
            liveness_probe=pods.exec_probe(ready, initial_delay=30, period=20, failure_threshold=6),
            resources=pods.resources(args.config.resources, DEFAULT_RESOURCES),
            security_context=pods.container_security(run_as_non_root=True),
            volume_mounts=[VolumeMountArgs(name=DATA_VOLUME, mount_path=layout.mount_path)],
        )
        statefulset = StatefulSet(
            name,
            metadata=pods.metadata(args.namespace, object_labels),
            spec=StatefulSetSpecArgs(
                replicas=pods.replicas(1, stopped=args.stopped),
                service_name=HEADLESS_SERVICE_NAME,
                selector=LabelSelectorArgs(match_labels=selector),
                # Explicit, because stop/start relies on it: scaling to 0 or
                # deleting the StatefulSet never deletes the data volume.
                persistent_volume_claim_retention_policy=(
                    StatefulSetPersistentVolumeClaimRetentionPolicyArgs(
                        when_deleted="Retain", when_scaled="Retain"
                    )
                ),
                template=PodTemplateSpecArgs(
                    metadata=ObjectMetaArgs(labels=object_labels),
                    spec=PodSpecArgs(
                        security_context=pods.restricted_pod_security(
                            postgres_user(args.config.image)
                        ),
                        automount_service_account_token=False,
                        enable_service_links=False,
                        # Postgres flushes on SIGINT; give it time before SIGKILL.
                        termination_grace_period_seconds=60,
                        containers=[container],
                    ),
                ),
                # Used once, when the StatefulSet is created; later size
                # changes go through the patch below.
                volume_claim_templates=[
                    claim_template(object_labels, args.config.storage, args.config.storage_class)
                ],
            ),
            opts=statefulset_options(child),
        )
        # Only while running: a stopped new environment has no claim yet, and
        # dropping the patch on stop never touches the claim (retain_on_delete).
        # Starting re-applies the same size, a no-op for the claim.
        if not args.stopped:
            claim_size_patch(
                f"{name}-{DATA_VOLUME}",
                namespace=args.namespace,
                statefulset=statefulset,
                object_labels=object_labels,
                size=args.config.storage,
                opts=child,
            )

        self.pod_labels = object_labels
        self.host = pods.service_host(service.metadata.name, args.namespace)
        self.port = pulumi.Output.from_input(PORT)
        self.database = pulumi.Output.from_input(DATABASE)
        self.user = pulumi.Output.from_input(USER)
        self.register_outputs(
            {
                "host": self.host,
                "port": self.port,
                "database": self.database,
                "user": self.user,
                "password": self.password,
            }
        )
