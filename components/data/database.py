"""The environment's Postgres in the configured `postgres.mode`, behind the mode guard.

- inCluster: components/data/postgres.py, the StatefulSet (resource names and URNs as
  before the modes existed, so existing environments keep their data).
- external: nothing runs in the cluster; the backend connects to the configured
  host with the secret `tims-stack:postgresPassword`, over TLS unless
  `sslMode` is "disable".
- cloudnativepg: components/data/cnpg.py, a CloudNativePG Cluster.

`PostgresModeGuard` is registered before any of them, and they depend on it: a
mode change without `postgres.allowModeChange` fails its check at preview time
(components/data/store_mode.py, mode_guard.py), before anything is replaced.
"""

from __future__ import annotations

from dataclasses import dataclass

import pulumi

from components.contracts import DatabaseConnection, ProtectedService
from components.data.cnpg import OWNER, CnpgCluster, CnpgClusterArgs, peer_rules
from components.data.postgres import PORT as POSTGRES_PORT
from components.data.postgres import Postgres, PostgresArgs
from components.data.store_mode import PostgresModeGuard, StoreMode
from stack.config import PostgresConfig
from stack.production import CloudNativePG


@dataclass(frozen=True)
class DatabaseArgs:
    namespace: pulumi.Input[str]
    environment: str
    config: PostgresConfig
    stopped: bool
    password: pulumi.Output[str] | None
    """`tims-stack:postgresPassword` (secret); required with mode external."""


@dataclass(frozen=True)
class Database:
    """How the backend reaches the database, and what NetworkPolicies must protect."""

    connection: DatabaseConnection
    protected: ProtectedService | None
    """None when the database does not run in the namespace (external)."""
    resource: pulumi.Resource
    """What to wait for before using the database (the migration Job): the Postgres
    component, the CloudNativePG Cluster's component, or (external) the mode guard."""

    @property
    def host(self) -> pulumi.Output[str]:
        """The host the backend connects to."""
        return pulumi.Output.from_input(self.connection.host)


def database(args: DatabaseArgs) -> Database:
    """Register the guard and the database of `args.config.mode`."""
    mode = StoreMode(PostgresModeGuard, args.config.mode, args.config.allow_mode_change)
    if args.config.mode == "external":
        return _external(args, mode)
    after_guard = pulumi.ResourceOptions(depends_on=[mode.guard])
    if args.config.mode == "cloudnativepg":
        return _cloudnativepg(args, after_guard)
    return _in_cluster(args, after_guard)


def _cloudnativepg(args: DatabaseArgs, opts: pulumi.ResourceOptions) -> Database:
    config = args.config
    cnpg = CnpgCluster(
        "postgres",
        CnpgClusterArgs(
            namespace=args.namespace,
            environment=args.environment,
            config=config,
            stopped=args.stopped,
        ),
        opts,
    )
    operator_namespace = (config.cloudnativepg or CloudNativePG()).operator_namespace
    return Database(
        connection=DatabaseConnection(
            host=cnpg.host,
            port=cnpg.port,
            name=cnpg.database,
            user=OWNER,
            password=None,
            tls=True,
            credentials_secret=cnpg.credentials_secret,
        ),
        protected=ProtectedService(
            cnpg.pod_labels,
            POSTGRES_PORT,
            also_from=peer_rules(cnpg.name, operator_namespace),
            selector=cnpg.pod_selector,
        ),
        resource=cnpg,
    )


def _in_cluster(args: DatabaseArgs, opts: pulumi.ResourceOptions) -> Database:
    postgres = Postgres(
        "postgres",
        PostgresArgs(
            namespace=args.namespace,
            environment=args.environment,
            config=args.config,
            stopped=args.stopped,
        ),
        opts,
    )
    return Database(
        connection=DatabaseConnection(
            host=postgres.host,
            port=postgres.port,
            name=postgres.database,
            user=postgres.user,
            password=postgres.password,
        ),
        protected=ProtectedService(postgres.pod_labels, POSTGRES_PORT),
        resource=postgres,
    )


def _external(args: DatabaseArgs, mode: StoreMode) -> Database:
    external = args.config.external
    if external is None or args.password is None:
        raise ValueError("postgres.mode external needs postgres.external and postgresPassword")
    return Database(
        connection=DatabaseConnection(
            host=pulumi.Output.from_input(external.host),
            port=external.port,
            name=external.database,
            user=external.user,
            password=args.password,
            tls=external.tls,
        ),
        protected=None,
        resource=mode,
    )
