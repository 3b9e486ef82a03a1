"""PostgreSQL: a one-replica StatefulSet on the official image, with a generated password.

The data claim's protection against replacement lives in components/stateful.py.
"""

from __future__ import annotations

from dataclasses import dataclass

import pulumi
import pulumi_random
from pulumi_kubernetes.core.v1 import (
    ContainerArgs,
    ContainerPortArgs,
    EnvVarArgs,
    EnvVarSourceArgs,
    SecretKeySelectorArgs,
    Service,
    ServicePortArgs,
    ServiceSpecArgs,
    VolumeMountArgs,
)
from pulumi_kubernetes.core.v1 import Secret as K8sSecret
from pulumi_kubernetes.meta.v1 import ObjectMetaArgs

from components import pods
from components.official_images import postgres_data_layout, postgres_user
from components.stateful import DATA_VOLUME, DataStoreArgs, data_store
from stack.config import PostgresConfig, Resources

PORT = 5432
DATABASE = "tims_stack"
USER = "tims_stack"
PASSWORD_KEY = "POSTGRES_PASSWORD"  # noqa: S105 - the Secret key name, not a password
HEADLESS_SERVICE_NAME = "postgres-headless"
"""Fixed, because the StatefulSet's `serviceName` (immutable) names it."""
DEFAULT_RESOURCES = Resources(
    requests={"cpu": "100m", "memory": "256Mi"},
    limits={"memory": "1Gi"},
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
        data_store(
            name,
            DataStoreArgs(
                namespace=args.namespace,
                labels=object_labels,
                service_name=HEADLESS_SERVICE_NAME,
                user=postgres_user(args.config.image),
                container=container,
                size=args.config.storage,
                storage_class=args.config.storage_class,
                stopped=args.stopped,
                # Postgres flushes on SIGINT; give it time before SIGKILL.
                termination_grace_seconds=60,
            ),
            child,
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
