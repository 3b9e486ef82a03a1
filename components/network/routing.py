"""Public routing: an Ingress, or a Gateway API HTTPRoute attached to a shared Gateway."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

import pulumi
from pulumi_kubernetes.apiextensions import CustomResource
from pulumi_kubernetes.networking.v1 import (
    HTTPIngressPathArgs,
    HTTPIngressRuleValueArgs,
    Ingress,
    IngressBackendArgs,
    IngressRuleArgs,
    IngressServiceBackendArgs,
    IngressSpecArgs,
    IngressTLSArgs,
    ServiceBackendPortArgs,
)

from components.kube import pods, timeouts
from stack.config import RoutingConfig

GATEWAY_API_VERSION = "gateway.networking.k8s.io/v1"
FRONTEND = "frontend"
BACKEND = "backend"
ROUTES: tuple[tuple[str, str], ...] = (
    ("/_next/", FRONTEND),
    ("/_nstat/", FRONTEND),
    ("/static/", BACKEND),
    ("/", BACKEND),
)
"""The seed's server-side-rendering routes, all prefix matches: path -> target."""

WEBSOCKET_TIMEOUT_SECONDS = 3600
WAIT_FOR_ANNOTATION = "pulumi.com/waitFor"
ROUTE_CONDITIONS = ("Accepted", "ResolvedRefs")
"""Set by the Gateway's controller per parent in status.parents[].conditions (not in
status.conditions, so `condition=` cannot express them)."""
TLS_SECRET_NAME = "tims-stack-tls"  # noqa: S105 - a Secret name, not a credential
"""Secret cert-manager writes the certificate to; it is not a Pulumi-managed object."""


def ingress_annotations(*, tls: bool, cluster_issuer: str) -> dict[str, str]:
    """cert-manager and long proxy timeouts for WebSockets (/api/core/ws) on common controllers.

    Each controller ignores the others' annotations. Traefik has no per-Ingress
    timeout annotation (its timeouts belong to the entry point) and proxies
    WebSockets without one.
    """
    seconds = str(WEBSOCKET_TIMEOUT_SECONDS)
    annotations = {
        # ingress-nginx (community)
        "nginx.ingress.kubernetes.io/proxy-read-timeout": seconds,
        "nginx.ingress.kubernetes.io/proxy-send-timeout": seconds,
        # NGINX Ingress Controller (F5 NGINX)
        "nginx.org/proxy-read-timeout": f"{seconds}s",
        "nginx.org/proxy-send-timeout": f"{seconds}s",
        # HAProxy Kubernetes Ingress (haproxytech): server timeout is the
        # Ingress-level one; upgraded connections use its tunnel timeout (1h).
        "haproxy.org/timeout-server": f"{seconds}s",
        # HAProxy Ingress (jcmoraisjr)
        "haproxy-ingress.github.io/timeout-tunnel": f"{seconds}s",
    }
    if tls:
        annotations["cert-manager.io/cluster-issuer"] = cluster_issuer
    return annotations


def httproute_wait_for() -> dict[str, str]:
    """`up` fails unless the Gateway accepted the route and resolved its Services.

    pulumi-kubernetes (>= 4.18) reads `pulumi.com/waitFor`; a JSON list means
    every expression must hold. Without it a custom resource counts as ready
    once created, so a route the Gateway rejects still gave a green `up` and a
    URL that answers 404. Each expression is checked on the FIRST value it
    selects only (provider/pkg/jsonpath/jsonpath.go, Parsed.Matches), which is
    why the route has exactly one parentRef (`httproute_spec`): with a second,
    that Gateway's verdict would never be read.
    """
    expressions = [
        f'jsonpath={{.status.parents[*].conditions[?(@.type=="{condition}")].status}}=True'
        for condition in ROUTE_CONDITIONS
    ]
    return {WAIT_FOR_ANNOTATION: json.dumps(expressions)}


@dataclass(frozen=True)
class RouteTarget:
    service_name: pulumi.Input[str]
    port: int


def httproute_spec(
    *,
    routing: RoutingConfig,
    host: str,
    backend: tuple[pulumi.Input[str], int],
    frontend: tuple[pulumi.Input[str], int],
) -> dict[str, Any]:
    """HTTPRoute spec: one rule per Service, the seed's path prefixes, long timeouts.

    Service names may be Outputs: they stay nested in the spec (not resolved in
    an `apply`), so a preview shows every known field of a new route.

    Gateway API picks the longest matching prefix across rules, so `/` in the
    backend rule does not shadow `/_next/`. The CRD requires backendRequest <=
    request; both are one hour so WebSockets survive idle periods.
    """
    parent: dict[str, Any] = {
        "group": "gateway.networking.k8s.io",
        "kind": "Gateway",
        "name": routing.gateway,
    }
    if routing.gateway_namespace:
        parent["namespace"] = routing.gateway_namespace
    if routing.section_name:
        parent["sectionName"] = routing.section_name
    timeout = f"{WEBSOCKET_TIMEOUT_SECONDS}s"
    targets = {BACKEND: backend, FRONTEND: frontend}
    rules = []
    for target in (FRONTEND, BACKEND):
        service_name, port = targets[target]
        rules.append(
            {
                "matches": [
                    {"path": {"type": "PathPrefix", "value": path}}
                    for path, to in ROUTES
                    if to == target
                ],
                "backendRefs": [{"name": service_name, "port": port}],
                "timeouts": {"request": timeout, "backendRequest": timeout},
            }
        )
    return {"parentRefs": [parent], "hostnames": [host], "rules": rules}


@dataclass(frozen=True)
class RoutingArgs:
    namespace: pulumi.Input[str]
    environment: str
    host: str
    routing: RoutingConfig
    tls: bool
    """Ingress only: cert-manager certificate; a Gateway's listener owns TLS."""
    cluster_issuer: str
    backend: RouteTarget
    frontend: RouteTarget


def ingress_paths(backend: RouteTarget, frontend: RouteTarget) -> list[HTTPIngressPathArgs]:
    """One Prefix path per entry of ROUTES, to the backend's or the frontend's Service."""
    targets = {BACKEND: backend, FRONTEND: frontend}
    return [
        HTTPIngressPathArgs(
            path=path,
            path_type="Prefix",
            backend=IngressBackendArgs(
                service=IngressServiceBackendArgs(
                    name=targets[to].service_name,
                    port=ServiceBackendPortArgs(number=targets[to].port),
                )
            ),
        )
        for path, to in ROUTES
    ]


def ingress_spec(args: RoutingArgs) -> IngressSpecArgs:
    """One rule for the public host; TLS from cert-manager's Secret when `args.tls`."""
    return IngressSpecArgs(
        # None: the cluster's default IngressClass.
        ingress_class_name=args.routing.class_name,
        tls=[IngressTLSArgs(hosts=[args.host], secret_name=TLS_SECRET_NAME)] if args.tls else None,
        rules=[
            IngressRuleArgs(
                host=args.host,
                http=HTTPIngressRuleValueArgs(paths=ingress_paths(args.backend, args.frontend)),
            )
        ],
    )


class Routing(pulumi.ComponentResource):
    """Routes the public host to the frontend and backend Services."""

    def __init__(
        self, name: str, args: RoutingArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        super().__init__("tims-stack:k8s:Routing", name, None, opts)
        object_labels = pods.labels(args.environment, "routing", "tims-stack")
        if args.routing.kind == "gateway":
            self._httproute(name, args, object_labels)
        else:
            self._ingress(name, args, object_labels)
        self.register_outputs({})

    def _httproute(self, name: str, args: RoutingArgs, object_labels: dict[str, str]) -> None:
        CustomResource(
            name,
            api_version=GATEWAY_API_VERSION,
            kind="HTTPRoute",
            metadata=pods.metadata(args.namespace, object_labels, httproute_wait_for()),
            spec=httproute_spec(
                routing=args.routing,
                host=args.host,
                backend=(args.backend.service_name, args.backend.port),
                frontend=(args.frontend.service_name, args.frontend.port),
            ),
            opts=pulumi.ResourceOptions(
                parent=self,
                custom_timeouts=timeouts.custom_timeouts(timeouts.ROUTE_ACCEPT_SECONDS),
            ),
        )

    def _ingress(self, name: str, args: RoutingArgs, object_labels: dict[str, str]) -> None:
        Ingress(
            name,
            metadata=pods.metadata(
                args.namespace,
                object_labels,
                ingress_annotations(tls=args.tls, cluster_issuer=args.cluster_issuer),
            ),
            spec=ingress_spec(args),
            opts=pulumi.ResourceOptions(parent=self),
        )
