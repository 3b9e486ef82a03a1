"""One-pod StatefulSets whose data must outlive every config change: Postgres and Redis.

The data lives in the claim the StatefulSet's volumeClaimTemplate creates,
`data-<statefulset name>-0`. Nothing a config change can do may replace the
StatefulSet (a replacement gets a new auto-name, hence a new, empty claim), so
its immutable fields are either constant or ignored after creation, and a
bigger size is applied to the existing claim in place by a server-side apply
patch.
"""

from __future__ import annotations

from dataclasses import dataclass

import pulumi
from pulumi_kubernetes.apps.v1 import (
    StatefulSet,
    StatefulSetPersistentVolumeClaimRetentionPolicyArgs,
    StatefulSetSpecArgs,
)
from pulumi_kubernetes.core.v1 import (
    ContainerArgs,
    PersistentVolumeClaimArgs,
    PersistentVolumeClaimPatch,
    PersistentVolumeClaimSpecArgs,
    PersistentVolumeClaimSpecPatchArgs,
    PodSpecArgs,
    PodTemplateSpecArgs,
    VolumeArgs,
    VolumeResourceRequirementsArgs,
    VolumeResourceRequirementsPatchArgs,
)
from pulumi_kubernetes.meta.v1 import LabelSelectorArgs, ObjectMetaArgs, ObjectMetaPatchArgs

from components.kube import pods
from components.kube.pods import ImageUser

DATA_VOLUME = "data"
"""The volumeClaimTemplate's name, hence the claim's prefix; containers mount it."""
IMMUTABLE_STATEFULSET_FIELDS = ("spec.volumeClaimTemplates", "spec.serviceName")
"""StatefulSet fields Kubernetes refuses to update, so a change would make Pulumi
replace the StatefulSet, under a new name, with a new empty claim. They are
ignored after creation (Pulumi property paths, camelCase as the provider's
schema spells them). serviceName is constant now, but environments deployed
before it was hold the old auto-named headless Service there: ignoring it
keeps their StatefulSet (and claim) on upgrade."""
PATCH_FORCE_ANNOTATION = "pulumi.com/patchForce"


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
class DataStoreArgs:
    """What differs between the Postgres and the Redis StatefulSet."""

    namespace: pulumi.Input[str]
    labels: dict[str, str]
    """Object and pod labels; the selector is derived from them."""
    service_name: str
    """A Service whose name never changes (serviceName is immutable)."""
    user: ImageUser
    """The image's own non-root uid/gid, for the restricted pod security context."""
    container: ContainerArgs
    """The one container; it mounts DATA_VOLUME."""
    size: str
    storage_class: str | None
    stopped: bool
    termination_grace_seconds: int | None = None
    init_containers: tuple[ContainerArgs, ...] = ()
    """Run to completion, in order, before the container starts (e.g. a data guard)."""
    volumes: tuple[VolumeArgs, ...] = ()
    """Pod volumes besides the claim (e.g. a memory-backed /dev/shm)."""


def data_store(name: str, args: DataStoreArgs, child: pulumi.ResourceOptions) -> StatefulSet:
    """Register the StatefulSet `<name>` and, while running, its claim-size patch `<name>-data`."""
    statefulset = StatefulSet(
        name,
        metadata=pods.metadata(args.namespace, args.labels),
        spec=StatefulSetSpecArgs(
            replicas=pods.replicas(1, stopped=args.stopped),
            service_name=args.service_name,
            selector=LabelSelectorArgs(match_labels=pods.selector_labels(args.labels)),
            # Explicit, because stop/start relies on it: scaling to 0 or
            # deleting the StatefulSet never deletes the data volume.
            persistent_volume_claim_retention_policy=(
                StatefulSetPersistentVolumeClaimRetentionPolicyArgs(
                    when_deleted="Retain", when_scaled="Retain"
                )
            ),
            template=PodTemplateSpecArgs(
                metadata=ObjectMetaArgs(labels=args.labels),
                spec=PodSpecArgs(
                    security_context=pods.restricted_pod_security(args.user),
                    automount_service_account_token=False,
                    enable_service_links=False,
                    termination_grace_period_seconds=args.termination_grace_seconds,
                    init_containers=list(args.init_containers) or None,
                    containers=[args.container],
                    volumes=list(args.volumes) or None,
                ),
            ),
            # Used once, when the StatefulSet is created; later size changes
            # go through the patch below.
            volume_claim_templates=[claim_template(args.labels, args.size, args.storage_class)],
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
            object_labels=args.labels,
            size=args.size,
            opts=child,
        )
    return statefulset
