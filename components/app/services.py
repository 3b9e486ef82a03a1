"""The ClusterIP Services in front of the backend and the frontend.

They are components of their own, created before either workload, because
each workload's environment names the other's Service: the backend renders
pages through the frontend (NEXTJS_HOST_URL) and, without a public domain,
the frontend reaches the backend by its in-cluster URL.
"""

from __future__ import annotations

from dataclasses import dataclass

import pulumi
from pulumi_kubernetes.core.v1 import Service, ServicePortArgs, ServiceSpecArgs

from components.kube import pods


@dataclass(frozen=True)
class AppPart:
    """One application part: its labels and the port its container listens on."""

    name: str
    """`app.kubernetes.io/name`."""
    component: str
    """`app.kubernetes.io/component`."""
    port: int
    port_name: str = "http"

    def labels(self, environment: str) -> dict[str, str]:
        return pods.labels(environment, self.component, self.name)


BACKEND = AppPart(name="backend", component="server", port=8000)
FRONTEND = AppPart(name="frontend", component="web", port=3000)


@dataclass(frozen=True)
class AppServiceArgs:
    namespace: pulumi.Input[str]
    environment: str
    part: AppPart


class AppService(pulumi.ComponentResource):
    """A ClusterIP Service selecting one application part's pods by name and instance."""

    name: pulumi.Output[str]
    host: pulumi.Output[str]
    """Cluster DNS name, `<service>.<namespace>.svc.cluster.local`."""
    url: pulumi.Output[str]
    """`http://<host>:<port>`."""
    port: int

    def __init__(
        self, name: str, args: AppServiceArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        super().__init__("tims-stack:k8s:AppService", name, None, opts)
        object_labels = args.part.labels(args.environment)
        service = Service(
            name,
            metadata=pods.metadata(args.namespace, object_labels),
            spec=ServiceSpecArgs(
                type="ClusterIP",
                selector=pods.selector_labels(object_labels),
                ports=[
                    ServicePortArgs(
                        name=args.part.port_name,
                        port=args.part.port,
                        target_port=args.part.port_name,
                        protocol="TCP",
                    )
                ],
            ),
            opts=pulumi.ResourceOptions(parent=self),
        )
        self.port = args.part.port
        self.name = service.metadata.name
        self.host = pods.service_host(self.name, args.namespace)
        self.url = pulumi.Output.concat("http://", self.host, f":{args.part.port}")
        self.register_outputs({"name": self.name, "host": self.host, "url": self.url})
