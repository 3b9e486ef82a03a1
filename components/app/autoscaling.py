"""Scale and availability of an app part: HPA, PodDisruptionBudget, spread over nodes and zones.

Decisions (docs/production.md):
- With `autoscaling` the Deployment leaves `spec.replicas` out, so the HPA owns
  it: Pulumi diffs inputs, which never mention it, and with server-side apply
  Pulumi's field manager does not own the field, so an `up` never resets the
  count the HPA chose. (Specifying it makes every `up` reset it, or fail with a
  field conflict against kube-controller-manager's "scale" subresource:
  pulumi/pulumi-kubernetes#2491, #2569.) Leaving it out after Pulumi owned it
  lets the API server default it to 1 until the HPA scales back to `min`.
- `stopped: true` deletes the HPA and sets `replicas: 0`: an HPA never scales
  below `minReplicas` >= 1, and the HPA of a zero-replica target is idle anyway.
  Starting again recreates the HPA and leaves `replicas` out once more, so the
  Deployment comes back at 1 and the HPA takes it to `min` within a sync period.
- A PodDisruptionBudget (maxUnavailable 1) exists when a part can run more than
  one replica (static replicas > 1, or autoscaling max > 1): a drain then evicts
  one pod at a time and keeps the others serving. While an autoscaled part runs
  one pod the budget allows its eviction (maxUnavailable 1), so it never blocks a
  drain; once the HPA has scaled out, it keeps a drain from taking every pod at
  once. A part fixed at one replica gets none (minAvailable 1 would block every
  drain instead). It stays while stopped, guarding no pod. It is policy/v1: a
  spec change updates it in place (pulumi-kubernetes provider/pkg/provider/diff.go,
  `forceNew`, replaces budgets on `.spec` for policy/v1beta1 only). Only a new
  name or namespace would replace it, create-before-delete, and for that moment
  two budgets select the same pods: the eviction API then refuses every eviction
  of them with a 500 (kubernetes pkg/registry/core/pod/storage/eviction.go,
  EvictionREST.Create, "more than one PodDisruptionBudget"). A drain stalls
  for a few seconds and retries; no pod is evicted past the budget: harmless.
- Spreading is a preference (`ScheduleAnyway`): on a one-node cluster, or on
  nodes without a zone label, pods still schedule.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import pulumi
from pulumi_kubernetes.autoscaling.v2 import (
    CrossVersionObjectReferenceArgs,
    HorizontalPodAutoscaler,
    HorizontalPodAutoscalerSpecArgs,
    MetricSpecArgs,
    MetricTargetArgs,
    ResourceMetricSourceArgs,
)
from pulumi_kubernetes.core.v1 import TopologySpreadConstraintArgs
from pulumi_kubernetes.meta.v1 import LabelSelectorArgs
from pulumi_kubernetes.policy.v1 import PodDisruptionBudget, PodDisruptionBudgetSpecArgs

from components.kube import pods
from stack.config import AppConfig
from stack.production import Autoscaling

DEPLOYMENT_ANNOTATIONS = {"pulumi.com/patchForce": "true"}
"""On the app Deployments. Once an HPA has scaled a Deployment, kube-controller-manager
owns `spec.replicas` (through the scale subresource) in server-side apply's bookkeeping,
even after the HPA is gone. Setting the field again (stop: 0; autoscaling switched off:
the configured count) would then fail the `up` with a field conflict
(pulumi/pulumi-kubernetes#2569, pulumi/pulumi#13321); patchForce makes Pulumi, which owns
these Deployments, take the field back. While autoscaling runs the field is left out, so
the force never touches the HPA's count."""
HOSTNAME_KEY = "kubernetes.io/hostname"
ZONE_KEY = "topology.kubernetes.io/zone"


def spread_constraints(pod_labels: Mapping[str, str]) -> list[TopologySpreadConstraintArgs]:
    """Prefer one replica per node, then per zone; never block scheduling.

    `matchLabelKeys: [pod-template-hash]` counts only pods of the same
    ReplicaSet, so a rollout's new pods spread among themselves instead of
    around the old ones about to go.
    """
    selector = LabelSelectorArgs(match_labels=pods.selector_labels(pod_labels))
    return [
        TopologySpreadConstraintArgs(
            max_skew=1,
            topology_key=key,
            when_unsatisfiable="ScheduleAnyway",
            label_selector=selector,
            match_label_keys=["pod-template-hash"],
        )
        for key in (HOSTNAME_KEY, ZONE_KEY)
    ]


def deployment_replicas(config: AppConfig, *, stopped: bool) -> int | None:
    """`spec.replicas`: 0 when stopped; None (left out, the HPA owns it) with autoscaling."""
    if stopped:
        return 0
    if config.autoscaling is not None:
        return None
    return config.replicas


def maximum_replicas(config: AppConfig) -> int:
    """The most replicas the running part can have."""
    return config.autoscaling.max if config.autoscaling is not None else config.replicas


def needs_disruption_budget(config: AppConfig) -> bool:
    """Whether the part gets a PodDisruptionBudget; kept while stopped (it guards no pod
    then), so stop and start change replicas and the HPA only."""
    return maximum_replicas(config) > 1


def hpa_spec(
    deployment_name: pulumi.Input[str], autoscaling: Autoscaling
) -> HorizontalPodAutoscalerSpecArgs:
    targets = {"cpu": autoscaling.cpu, "memory": autoscaling.memory}
    return HorizontalPodAutoscalerSpecArgs(
        scale_target_ref=CrossVersionObjectReferenceArgs(
            api_version="apps/v1", kind="Deployment", name=deployment_name
        ),
        min_replicas=autoscaling.min,
        max_replicas=autoscaling.max,
        metrics=[
            MetricSpecArgs(
                type="Resource",
                resource=ResourceMetricSourceArgs(
                    name=resource,
                    target=MetricTargetArgs(type="Utilization", average_utilization=percent),
                ),
            )
            for resource, percent in targets.items()
            if percent is not None
        ],
    )


def disruption_budget_spec(pod_labels: Mapping[str, str]) -> PodDisruptionBudgetSpecArgs:
    """At most one pod of the part evicted at a time.

    maxUnavailable rather than minAvailable: it follows the HPA's scale.
    AlwaysAllow lets a drain evict pods that are not ready (crash-looping),
    which would otherwise block it for good.
    """
    return PodDisruptionBudgetSpecArgs(
        max_unavailable=1,
        selector=LabelSelectorArgs(match_labels=pods.selector_labels(pod_labels)),
        unhealthy_pod_eviction_policy="AlwaysAllow",
    )


@dataclass(frozen=True)
class ScalingArgs:
    namespace: pulumi.Input[str]
    labels: dict[str, str]
    """The part's labels (object and pod labels)."""
    deployment_name: pulumi.Input[str]
    config: AppConfig
    stopped: bool


def register_scaling(name: str, args: ScalingArgs, opts: pulumi.ResourceOptions) -> None:
    """`<name>` HPA and `<name>` PodDisruptionBudget, each only when it applies (see module)."""
    if args.config.autoscaling is not None and not args.stopped:
        HorizontalPodAutoscaler(
            name,
            metadata=pods.metadata(args.namespace, args.labels),
            spec=hpa_spec(args.deployment_name, args.config.autoscaling),
            opts=opts,
        )
    if needs_disruption_budget(args.config):
        PodDisruptionBudget(
            name,
            metadata=pods.metadata(args.namespace, args.labels),
            spec=disruption_budget_spec(args.labels),
            opts=opts,
        )
