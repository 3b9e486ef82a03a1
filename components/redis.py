"""Redis: the Celery broker and Channels layer, on the official image."""

from __future__ import annotations

from dataclasses import dataclass

import pulumi
from pulumi_kubernetes.apps.v1 import Deployment, DeploymentSpecArgs, DeploymentStrategyArgs
from pulumi_kubernetes.core.v1 import (
    ContainerArgs,
    ContainerPortArgs,
    EmptyDirVolumeSourceArgs,
    PodSpecArgs,
    PodTemplateSpecArgs,
    Service,
    ServicePortArgs,
    ServiceSpecArgs,
    VolumeArgs,
    VolumeMountArgs,
)
from pulumi_kubernetes.meta.v1 import LabelSelectorArgs, ObjectMetaArgs

from components import pods
from components.official_images import redis_cli, redis_user
from stack.config import RedisConfig, Resources

PORT = 6379
SERVICE_NAME = "redis-db-svc"
DEFAULT_RESOURCES = Resources(
    requests={"cpu": "50m", "memory": "64Mi"},
    limits={"memory": "256Mi"},
)


@dataclass(frozen=True)
class RedisArgs:
    namespace: pulumi.Input[str]
    environment: str
    config: RedisConfig
    """Image (official redis or valkey) and resources."""
    stopped: bool


class Redis(pulumi.ComponentResource):
    """One Redis pod behind the Service `redis-db-svc`.

    No password: the backend image's start script builds its Celery-beat Redis
    URL itself, without credentials. The NetworkPolicies let only backend pods
    connect instead.
    """

    url: pulumi.Output[str]
    pod_labels: dict[str, str]

    def __init__(
        self, name: str, args: RedisArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        super().__init__("tims-stack:k8s:Redis", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        object_labels = pods.labels(args.environment, "cache", "redis")
        selector = pods.selector_labels(object_labels)
        ping = [redis_cli(args.config.image), "ping"]

        service = Service(
            name,
            metadata=ObjectMetaArgs(
                # Fixed by the image contract: the backend's start script
                # hard-codes redis-db-svc.<UNIQUE_ID>.svc.cluster.local.
                name=SERVICE_NAME,
                namespace=args.namespace,
                labels=object_labels,
            ),
            spec=ServiceSpecArgs(
                type="ClusterIP",
                selector=selector,
                ports=[ServicePortArgs(name="redis", port=PORT, target_port="redis")],
            ),
            opts=child,
        )
        Deployment(
            name,
            metadata=pods.metadata(args.namespace, object_labels),
            spec=DeploymentSpecArgs(
                replicas=pods.replicas(1, stopped=args.stopped),
                selector=LabelSelectorArgs(match_labels=selector),
                # A single instance: never run two side by side on one dataset.
                strategy=DeploymentStrategyArgs(type="Recreate"),
                template=PodTemplateSpecArgs(
                    metadata=ObjectMetaArgs(labels=object_labels),
                    spec=PodSpecArgs(
                        security_context=pods.restricted_pod_security(
                            redis_user(args.config.image)
                        ),
                        automount_service_account_token=False,
                        enable_service_links=False,
                        containers=[
                            ContainerArgs(
                                name="redis",
                                image=args.config.image,
                                ports=[
                                    ContainerPortArgs(
                                        name="redis", container_port=PORT, protocol="TCP"
                                    )
                                ],
                                # exec, not tcpSocket: kubelet connections could
                                # be caught by the NetworkPolicy on some CNIs.
                                readiness_probe=pods.exec_probe(
                                    ping, period=10, failure_threshold=3
                                ),
                                liveness_probe=pods.exec_probe(
                                    ping, initial_delay=10, period=20, failure_threshold=6
                                ),
                                resources=pods.resources(args.config.resources, DEFAULT_RESOURCES),
                                security_context=pods.container_security(run_as_non_root=True),
                                volume_mounts=[VolumeMountArgs(name="data", mount_path="/data")],
                            )
                        ],
                        # Broker and channel data are transient; the image's
                        # working directory only needs to be writable.
                        volumes=[VolumeArgs(name="data", empty_dir=EmptyDirVolumeSourceArgs())],
                    ),
                ),
            ),
            opts=child,
        )
        self.pod_labels = object_labels
        self.url = pulumi.Output.concat(
            "redis://", pods.service_host(service.metadata.name, args.namespace), f":{PORT}"
        )
        self.register_outputs({"url": self.url})
