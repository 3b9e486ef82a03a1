"""A NetworkPolicy evaluator for rendered policies (ingress only), and the pods to feed it.

Follows the semantics the networking/v1 API defines (kubernetes/api
networking/v1/types.go: NetworkPolicySpec, NetworkPolicyIngressRule,
NetworkPolicyPeer, NetworkPolicyPort; apimachinery meta/v1 LabelSelector):
- a pod selected by any policy of its namespace whose policyTypes include
  Ingress (or that has no policyTypes: Ingress is then implied) is isolated;
  an isolated pod accepts a connection only if some ingress rule of some
  selecting policy matches both the source and the port; a pod no policy
  selects accepts everything;
- a rule with no `from` matches every source, with no `ports` every port;
- a peer with only podSelector: pods of the policy's own namespace; with only
  namespaceSelector: every pod of the selected namespaces; with both: the
  selected pods of the selected namespaces. An empty selector selects all.
ipBlock peers are never used by the program: they match no pod here.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Pod:
    name: str
    namespace: str
    labels: Mapping[str, str]


def selects(selector: Mapping[str, Any] | None, labels: Mapping[str, str]) -> bool:
    """A LabelSelector (matchLabels AND every matchExpression); {} selects everything."""
    selector = selector or {}
    for key, value in (selector.get("matchLabels") or {}).items():
        if labels.get(key) != value:
            return False
    for expression in selector.get("matchExpressions") or []:
        key, operator = expression["key"], expression["operator"]
        values = expression.get("values") or []
        found = key in labels
        ok = {
            "In": found and labels.get(key) in values,
            "NotIn": not found or labels.get(key) not in values,
            "Exists": found,
            "DoesNotExist": not found,
        }[operator]
        if not ok:
            return False
    return True


def _peer_matches(
    peer: Mapping[str, Any],
    policy_namespace: str,
    source: Pod,
    namespace_labels: Mapping[str, Mapping[str, str]],
) -> bool:
    if "ipBlock" in peer:
        return False
    if "namespaceSelector" in peer:
        in_namespace = selects(peer["namespaceSelector"], namespace_labels[source.namespace])
    else:
        in_namespace = source.namespace == policy_namespace
    return in_namespace and selects(peer.get("podSelector"), source.labels)


def _port_matches(ports: Iterable[Mapping[str, Any]] | None, port: int) -> bool:
    listed = list(ports or [])
    if not listed:
        return True
    for entry in listed:
        if entry.get("protocol", "TCP") != "TCP":
            continue
        if "port" not in entry:
            return True
        start = entry["port"]
        if start == port or (isinstance(start, int) and start <= port <= entry.get("endPort", 0)):
            return True
    return False


def _ingress_isolating(policy: Mapping[str, Any]) -> bool:
    return "Ingress" in (policy["spec"].get("policyTypes") or ["Ingress"])


def admitted(
    policies: Iterable[Mapping[str, Any]],
    source: Pod,
    target: Pod,
    port: int,
    namespace_labels: Mapping[str, Mapping[str, str]],
) -> bool:
    """Whether `source` may open a TCP connection to `target` on `port`."""
    selecting = [
        p
        for p in policies
        if p["metadata"]["namespace"] == target.namespace
        and _ingress_isolating(p)
        and selects(p["spec"].get("podSelector"), target.labels)
    ]
    if not selecting:
        return True
    for policy in selecting:
        for rule in policy["spec"].get("ingress") or []:
            peers = rule.get("from")
            from_ok = not peers or any(
                _peer_matches(peer, policy["metadata"]["namespace"], source, namespace_labels)
                for peer in peers
            )
            if from_ok and _port_matches(rule.get("ports"), port):
                return True
    return False


# ----------------------------------------------------------------------- CloudNativePG pods
# Labels as the operator sets them at v1.30.0, plus the Cluster's inheritedMetadata labels
# (InheritLabels writes them over the operator's own, pkg/utils/labels_annotations.go).


def _operator_app_labels(cluster: str) -> dict[str, str]:
    # utils.KubernetesApp*LabelName with utils.AppName, DatabaseComponentName, ManagerName.
    return {
        "app.kubernetes.io/name": "postgresql",
        "app.kubernetes.io/instance": cluster,
        "app.kubernetes.io/version": "18",
        "app.kubernetes.io/component": "database",
        "app.kubernetes.io/managed-by": "cloudnative-pg",
    }


def cnpg_instance_pod(
    cluster: str, serial: int, namespace: str, inherited: Mapping[str, str], *, primary: bool
) -> Pod:
    """pkg/specs/pods.go, buildInstance; the role labels from pkg/utils/labels_annotations.go,
    SetInstanceRole (the legacy `role` and `cnpg.io/instanceRole`)."""
    name = f"{cluster}-{serial}"
    role = "primary" if primary else "replica"
    labels = {
        "cnpg.io/cluster": cluster,
        "cnpg.io/instanceName": name,
        "cnpg.io/podRole": "instance",
        **_operator_app_labels(cluster),
        "role": role,
        "cnpg.io/instanceRole": role,
    }
    return Pod(name, namespace, {**labels, **inherited})


def cnpg_job_pod(
    cluster: str, serial: int, role: str, namespace: str, inherited: Mapping[str, str]
) -> Pod:
    """pkg/specs/jobs.go, CreatePrimaryJob (JoinReplicaInstance: role `join`;
    CreatePrimaryJobViaInitdb: `initdb`); internal/controller/cluster_create.go,
    inheritJobMetadata adds the inherited labels to the pod template."""
    instance = f"{cluster}-{serial}"
    labels = {
        "cnpg.io/instanceName": instance,
        "cnpg.io/cluster": cluster,
        "cnpg.io/jobRole": role,
        **_operator_app_labels(cluster),
    }
    return Pod(f"{instance}-{role}", namespace, {**labels, **inherited})


def cnpg_operator_pod(namespace: str) -> Pod:
    """config/manager/manager.yaml: the operator Deployment's pod template labels."""
    return Pod("cnpg-controller-manager", namespace, {"app.kubernetes.io/name": "cloudnative-pg"})
