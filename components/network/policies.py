"""NetworkPolicies: only backend pods may open connections to Postgres and Redis."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import pulumi
from pulumi_kubernetes.meta.v1 import LabelSelectorArgs
from pulumi_kubernetes.networking.v1 import (
    NetworkPolicy,
    NetworkPolicyIngressRuleArgs,
    NetworkPolicyPeerArgs,
    NetworkPolicyPortArgs,
    NetworkPolicySpecArgs,
)

from components.contracts import ProtectedService
from components.kube import pods


@dataclass(frozen=True)
class NetworkPoliciesArgs:
    namespace: pulumi.Input[str]
    environment: str
    client_pod_labels: Mapping[str, str]
    """Pods allowed in (the backend's)."""
    protected: Mapping[str, ProtectedService]
    """Policy name -> pods it protects and the one port it opens, e.g. {"postgres": ...}."""
    extra_client_pod_labels: Sequence[Mapping[str, str]] = ()
    """Other pods allowed in (the backend's migration Job)."""


def ingress_only_from(
    protected: ProtectedService,
    client_pod_labels: Mapping[str, str],
    *more_clients: Mapping[str, str],
) -> NetworkPolicySpecArgs:
    """Selected pods accept TCP on their port from the client pods only, nothing else."""
    selected = (
        protected.selector
        if protected.selector is not None
        else pods.selector_labels(protected.pod_labels)
    )
    return NetworkPolicySpecArgs(
        pod_selector=LabelSelectorArgs(match_labels=selected),
        policy_types=["Ingress"],
        ingress=[
            NetworkPolicyIngressRuleArgs(
                from_=[
                    NetworkPolicyPeerArgs(
                        pod_selector=LabelSelectorArgs(match_labels=pods.selector_labels(client))
                    )
                    for client in (client_pod_labels, *more_clients)
                ],
                ports=[NetworkPolicyPortArgs(protocol="TCP", port=protected.port)],
            ),
            *protected.also_from,
        ],
    )


class NetworkPolicies(pulumi.ComponentResource):
    def __init__(
        self, name: str, args: NetworkPoliciesArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        super().__init__("tims-stack:k8s:NetworkPolicies", name, None, opts)
        for key, protected in args.protected.items():
            NetworkPolicy(
                f"{name}-{key}",
                metadata=pods.metadata(
                    args.namespace, pods.labels(args.environment, "network-policy", key)
                ),
                spec=ingress_only_from(
                    protected, args.client_pod_labels, *args.extra_client_pod_labels
                ),
                opts=pulumi.ResourceOptions(parent=self),
            )
        self.register_outputs({})
