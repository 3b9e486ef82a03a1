"""Redis: the app's Channels layer, on the official image.

The original stack calls it the Celery broker too, but the image has no Celery app
(the app contract, "Start-up"). A one-replica StatefulSet with a small claim and the
append-only file on: what Redis holds survives a restart, `make stop`/`make start`
and a node drain. The claim gets the same protection as Postgres's
(see components/data/stateful.py).
"""

from __future__ import annotations

from dataclasses import dataclass

import pulumi
from pulumi_kubernetes.core.v1 import (
    ContainerArgs,
    ContainerPortArgs,
    Service,
    ServicePortArgs,
    ServiceSpecArgs,
    VolumeMountArgs,
)
from pulumi_kubernetes.meta.v1 import ObjectMetaArgs

from components.data.official_images import redis_cli, redis_user
from components.data.stateful import DATA_VOLUME, DataStoreArgs, data_store
from components.kube import pods
from stack.config import RedisConfig

PORT = 6379
SERVICE_NAME = "redis-db-svc"
DATA_DIR = "/data"
"""The official images' working directory, where the append-only file goes."""
SERVER_ARGS = ("--appendonly", "yes")
"""Arguments only: the images' entrypoint prepends redis-server/valkey-server to a
first argument starting with "-", and keeps its `--protected-mode no` handling."""


@dataclass(frozen=True)
class RedisArgs:
    namespace: pulumi.Input[str]
    environment: str
    config: RedisConfig
    """Image (official redis or valkey), storage for the append-only file, resources."""
    stopped: bool
    """Scale to 0; the volume claim stays, untouched."""


def redis_container(config: RedisConfig) -> ContainerArgs:
    """The server with the append-only file in DATA_DIR on the data volume; ping probes."""
    ping = [redis_cli(config.image), "ping"]
    return ContainerArgs(
        name="redis",
        image=config.image,
        args=list(SERVER_ARGS),
        ports=[ContainerPortArgs(name="redis", container_port=PORT, protocol="TCP")],
        # exec, not tcpSocket: kubelet connections could
        # be caught by the NetworkPolicy on some CNIs.
        readiness_probe=pods.exec_probe(ping, period=10, failure_threshold=3),
        liveness_probe=pods.exec_probe(ping, initial_delay=10, period=20, failure_threshold=6),
        resources=pods.resources(config.resources),
        security_context=pods.container_security(run_as_non_root=True),
        volume_mounts=[VolumeMountArgs(name=DATA_VOLUME, mount_path=DATA_DIR)],
    )


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
        object_labels = pods.labels(args.environment, "cache", "redis")
        service = self._service(name, args.namespace, object_labels)
        self._statefulset(name, args, object_labels)
        self.pod_labels = object_labels
        self.url = pulumi.Output.concat(
            "redis://", pods.service_host(service.metadata.name, args.namespace), f":{PORT}"
        )
        self.register_outputs({"url": self.url})

    def _service(
        self, name: str, namespace: pulumi.Input[str], object_labels: dict[str, str]
    ) -> Service:
        return Service(
            name,
            metadata=ObjectMetaArgs(
                # Fixed by the image contract: the backend's start script
                # hard-codes redis-db-svc.<UNIQUE_ID>.svc.cluster.local.
                name=SERVICE_NAME,
                namespace=namespace,
                labels=object_labels,
            ),
            spec=ServiceSpecArgs(
                type="ClusterIP",
                selector=pods.selector_labels(object_labels),
                ports=[ServicePortArgs(name="redis", port=PORT, target_port="redis")],
            ),
            opts=pulumi.ResourceOptions(parent=self),
        )

    def _statefulset(self, name: str, args: RedisArgs, object_labels: dict[str, str]) -> None:
        data_store(
            name,
            DataStoreArgs(
                namespace=args.namespace,
                labels=object_labels,
                # The contract's fixed name: serviceName is immutable, so it
                # must be a name that never changes. A ClusterIP Service gives
                # no per-pod DNS, which a single Redis does not need.
                service_name=SERVICE_NAME,
                user=redis_user(args.config.image),
                container=redis_container(args.config),
                size=args.config.storage,
                storage_class=args.config.storage_class,
                stopped=args.stopped,
            ),
            pulumi.ResourceOptions(parent=self),
        )
