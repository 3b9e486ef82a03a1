"""PostgreSQL: a one-replica StatefulSet on the official image, with a generated password.

The data claim's protection against replacement lives in components/data/stateful.py.
"""

from __future__ import annotations

from dataclasses import dataclass

import pulumi
import pulumi_random
from pulumi_kubernetes.core.v1 import (
    ContainerArgs,
    ContainerPortArgs,
    EmptyDirVolumeSourceArgs,
    EnvVarArgs,
    EnvVarSourceArgs,
    SecretKeySelectorArgs,
    Service,
    ServicePortArgs,
    ServiceSpecArgs,
    VolumeArgs,
    VolumeMountArgs,
)
from pulumi_kubernetes.core.v1 import Secret as K8sSecret
from pulumi_kubernetes.meta.v1 import ObjectMetaArgs

from components.data.official_images import PostgresDataLayout, postgres_data_layout, postgres_user
from components.data.stateful import DATA_VOLUME, DataStoreArgs, data_store
from components.kube import pods, timeouts
from stack.config import PostgresConfig, Resources

PORT = 5432
DATABASE = "tims_stack"
USER = "tims_stack"
PASSWORD_KEY = "POSTGRES_PASSWORD"  # noqa: S105 - the Secret key name, not a password
HEADLESS_SERVICE_NAME = "postgres-headless"
"""Fixed, because the StatefulSet's `serviceName` (immutable) names it."""
STARTUP_SECONDS = timeouts.POSTGRES_STARTUP_SECONDS
SHM_VOLUME = "shm"
SHM_SIZE = "256Mi"
GUARD_CONTAINER = "data-guard"
GUARD_RESOURCES = Resources(requests={"cpu": "10m", "memory": "16Mi"}, limits={"memory": "64Mi"})
# Why: the official image runs initdb whenever $PGDATA has no PG_VERSION. Its
# PGDATA depends on the major version and layout (/var/lib/postgresql/data/pgdata
# before 18, /var/lib/postgresql/<major>/docker from 18 on), so changing
# tims-stack:postgres.image across a major (17 -> 18, 18 -> 19) points PGDATA at
# a new, missing directory on the same volume: the server would initialise an
# EMPTY database next to the old one and the app would look healthy with no
# data. This guard refuses to start the pod instead. PGDATA comes from the
# environment, the mount path is $1. POSIX sh and find only (alpine and debian
# images). The `PG_VERSION` files under base/<oid>/ belong to a data directory
# found at a shallower depth, so they are skipped; unreadable directories
# (lost+found) are not an error.
GUARD_SCRIPT = r"""
mount="$1"
if [ -f "$PGDATA/PG_VERSION" ]; then
  exit 0
fi
found=""
for version_file in $(find "$mount" -maxdepth 4 -type f -name PG_VERSION 2>/dev/null); do
  case "${version_file#"$mount"}" in
    */base/*) continue ;;
  esac
  found="$found
  ${version_file%/PG_VERSION} (PostgreSQL $(cat "$version_file" 2>/dev/null || echo '?'))"
done
if [ -z "$found" ]; then
  exit 0
fi
cat >&2 <<EOF
tims-stack postgres data guard: refusing to start PostgreSQL.
The new PGDATA $PGDATA has no PG_VERSION, but the data volume (mounted at $mount)
already holds a PostgreSQL data directory:$found
Starting now would initialise a new, EMPTY database in $PGDATA next to the old
one, and the app would run without its data. This happens when
tims-stack:postgres.image changed major version (e.g. 17 -> 18) or data layout.
Either pin tims-stack:postgres.image back to the image that wrote the old data
directory, or dump it with pg_dump (running the old image) and restore it with
pg_restore into the new major, then remove the old directory.
EOF
exit 1
"""


@dataclass(frozen=True)
class PostgresArgs:
    namespace: pulumi.Input[str]
    environment: str
    config: PostgresConfig
    """Image (major pinned), storage size and class, resources."""
    stopped: bool
    """Scale to 0; the volume claim and the password Secret stay, untouched."""


def _ready_command() -> list[str]:
    return ["pg_isready", "-U", USER, "-d", DATABASE, "-h", "127.0.0.1", "-p", str(PORT)]


def postgres_env(layout: PostgresDataLayout, secret_name: pulumi.Input[str]) -> list[EnvVarArgs]:
    """The official image's settings; the password by secretKeyRef to the component's Secret."""
    return [
        EnvVarArgs(name="POSTGRES_USER", value=USER),
        EnvVarArgs(name="POSTGRES_DB", value=DATABASE),
        EnvVarArgs(name="PGDATA", value=layout.pgdata),
        EnvVarArgs(
            name=PASSWORD_KEY,
            value_from=EnvVarSourceArgs(
                secret_key_ref=SecretKeySelectorArgs(name=secret_name, key=PASSWORD_KEY)
            ),
        ),
    ]


def postgres_container(
    config: PostgresConfig, layout: PostgresDataLayout, secret_name: pulumi.Input[str]
) -> ContainerArgs:
    """The server: pg_isready probes, the data volume and a memory-backed /dev/shm."""
    ready = _ready_command()
    return ContainerArgs(
        name="postgres",
        image=config.image,
        ports=[ContainerPortArgs(name="postgres", container_port=PORT, protocol="TCP")],
        env=postgres_env(layout, secret_name),
        # Crash recovery (WAL replay) or a first initdb can take minutes;
        # until this succeeds liveness is off, so it cannot kill the server.
        startup_probe=pods.exec_probe(ready, period=10, failure_threshold=STARTUP_SECONDS // 10),
        readiness_probe=pods.exec_probe(ready, period=10, failure_threshold=6),
        liveness_probe=pods.exec_probe(ready, initial_delay=30, period=20, failure_threshold=6),
        resources=pods.resources(config.resources),
        security_context=pods.container_security(run_as_non_root=True),
        volume_mounts=[
            VolumeMountArgs(name=DATA_VOLUME, mount_path=layout.mount_path),
            VolumeMountArgs(name=SHM_VOLUME, mount_path="/dev/shm"),  # noqa: S108
        ],
    )


def guard_container(config: PostgresConfig, layout: PostgresDataLayout) -> ContainerArgs:
    """The init container running GUARD_SCRIPT against the data volume."""
    return ContainerArgs(
        name=GUARD_CONTAINER,
        image=config.image,
        command=["sh", "-c", GUARD_SCRIPT, GUARD_CONTAINER, layout.mount_path],
        env=[EnvVarArgs(name="PGDATA", value=layout.pgdata)],
        resources=pods.resources(GUARD_RESOURCES),
        security_context=pods.container_security(run_as_non_root=True),
        # The script's message becomes the pod's termination message
        # (kubectl describe), not only a log line.
        termination_message_policy="FallbackToLogsOnError",
        volume_mounts=[VolumeMountArgs(name=DATA_VOLUME, mount_path=layout.mount_path)],
    )


def shm_volume() -> VolumeArgs:
    """A memory-backed /dev/shm of SHM_SIZE.

    The container runtime gives /dev/shm 64 MiB, too little for parallel
    queries ("could not resize shared memory segment").
    """
    return VolumeArgs(
        name=SHM_VOLUME,
        empty_dir=EmptyDirVolumeSourceArgs(medium="Memory", size_limit=SHM_SIZE),
    )


def service_ports() -> list[ServicePortArgs]:
    return [ServicePortArgs(name="postgres", port=PORT, target_port="postgres")]


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
        object_labels = pods.labels(args.environment, "database", "postgres")
        self.password = pulumi.Output.secret(self._password(name).result)
        secret = self._password_secret(name, args.namespace, object_labels)
        self._headless_service(name, args.namespace, object_labels)
        service = self._service(name, args.namespace, object_labels)
        self._statefulset(name, args, object_labels, secret.metadata.name)
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

    def _password(self, name: str) -> pulumi_random.RandomPassword:
        # No keepers: the password must never change, because Postgres only
        # reads POSTGRES_PASSWORD when it initialises an empty volume.
        return pulumi_random.RandomPassword(
            f"{name}-password", length=32, special=False, opts=pulumi.ResourceOptions(parent=self)
        )

    def _password_secret(
        self, name: str, namespace: pulumi.Input[str], object_labels: dict[str, str]
    ) -> K8sSecret:
        return K8sSecret(
            name,
            metadata=pods.metadata(namespace, object_labels),
            type="Opaque",
            string_data={PASSWORD_KEY: self.password},
            opts=pulumi.ResourceOptions(parent=self),
        )

    def _headless_service(
        self, name: str, namespace: pulumi.Input[str], object_labels: dict[str, str]
    ) -> Service:
        """The StatefulSet's governing Service, which gives the pod a stable DNS name.

        Fixed name: serviceName is immutable, so it must never follow an
        auto-name that a replaced Service would change.
        """
        return Service(
            f"{name}-headless",
            metadata=ObjectMetaArgs(
                name=HEADLESS_SERVICE_NAME, namespace=namespace, labels=object_labels
            ),
            spec=ServiceSpecArgs(
                cluster_ip="None",
                selector=pods.selector_labels(object_labels),
                ports=service_ports(),
            ),
            opts=pulumi.ResourceOptions(parent=self),
        )

    def _service(
        self, name: str, namespace: pulumi.Input[str], object_labels: dict[str, str]
    ) -> Service:
        return Service(
            name,
            metadata=pods.metadata(namespace, object_labels),
            spec=ServiceSpecArgs(
                type="ClusterIP",
                selector=pods.selector_labels(object_labels),
                ports=service_ports(),
            ),
            opts=pulumi.ResourceOptions(parent=self),
        )

    def _statefulset(
        self,
        name: str,
        args: PostgresArgs,
        object_labels: dict[str, str],
        secret_name: pulumi.Input[str],
    ) -> None:
        layout = postgres_data_layout(args.config.major)
        data_store(
            name,
            DataStoreArgs(
                namespace=args.namespace,
                labels=object_labels,
                service_name=HEADLESS_SERVICE_NAME,
                user=postgres_user(args.config.image),
                container=postgres_container(args.config, layout, secret_name),
                size=args.config.storage,
                storage_class=args.config.storage_class,
                stopped=args.stopped,
                # Postgres flushes on SIGINT; give it time before SIGKILL.
                termination_grace_seconds=60,
                init_containers=(guard_container(args.config, layout),),
                volumes=(shm_volume(),),
            ),
            # `up` waits for the StatefulSet at least as long as its startup probe.
            timeouts.awaiting(pulumi.ResourceOptions(parent=self), STARTUP_SECONDS),
        )
