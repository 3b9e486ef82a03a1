"""Postgres as a CloudNativePG `Cluster` (postgresql.cnpg.io/v1): HA, failover, backups.

The operator is installed once per cluster (docs/production.md). It creates,
from the `Cluster` named `<cluster>`:
- the read-write Service `<cluster>-rw` (always the primary), which the backend uses;
- the Secret `<cluster>-app` (username, password, dbname, host, port, uri) of the
  database owner, which the backend reads by secretKeyRef: the program never
  generates nor holds this password;
- TLS on every instance with its own CA, so the app's sslmode=require works.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, cast

import pulumi
from pulumi_kubernetes.apiextensions import CustomResource
from pulumi_kubernetes.meta.v1 import LabelSelectorArgs
from pulumi_kubernetes.networking.v1 import (
    NetworkPolicyIngressRuleArgs,
    NetworkPolicyPeerArgs,
    NetworkPolicyPortArgs,
)

from components.kube import pods, timeouts
from stack.config import PostgresConfig
from stack.production import CloudNativePG, CnpgBackup

API_VERSION = "postgresql.cnpg.io/v1"
KIND = "Cluster"
PORT = 5432
STATUS_PORT = 8000
"""The instance manager's status endpoint, which the operator polls."""
DATABASE = "tims_stack"
OWNER = "tims_stack"
READY_TIMEOUT_SECONDS = timeouts.CNPG_READY_SECONDS
HIBERNATION = "cnpg.io/hibernation"


def await_annotations(*, stopped: bool) -> dict[str, str]:
    """Hibernation and Pulumi's await settings for the Cluster object.

    Running: wait until the operator reports `Ready` (pulumi-kubernetes'
    `pulumi.com/waitFor`, pulumi/pulumi-kubernetes#3134), at most
    READY_TIMEOUT_SECONDS. Stopped: declarative hibernation deletes the
    instance pods and keeps the volumes; the Cluster is then never Ready,
    so Pulumi must not wait for it.
    """
    if stopped:
        return {HIBERNATION: "on", "pulumi.com/skipAwait": "true"}
    return {
        HIBERNATION: "off",
        "pulumi.com/waitFor": "condition=Ready",
        "pulumi.com/timeoutSeconds": str(READY_TIMEOUT_SECONDS),
    }


def backup_spec(backup: CnpgBackup) -> dict[str, Any]:
    """`spec.backup`: WAL archiving and base backups with barman-cloud to S3.

    The operator's in-tree barman-cloud support (`barmanObjectStore`), which the
    v1.30 CRD still has; upstream deprecates it since 1.26 for the Barman Cloud
    plugin (docs/production.md). It runs barman-cloud inside the instance image,
    so config refuses CloudNativePG's `minimal`/`standard` images with a backup.
    """
    credentials = {
        "accessKeyId": {"name": backup.secret, "key": backup.access_key_id_key},
        "secretAccessKey": {"name": backup.secret, "key": backup.secret_access_key_key},
    }
    store: dict[str, Any] = {
        "destinationPath": backup.destination_path,
        "s3Credentials": credentials,
        "wal": {"compression": "gzip"},
        "data": {"compression": "gzip"},
    }
    if backup.endpoint_url is not None:
        store["endpointURL"] = backup.endpoint_url
    return {"barmanObjectStore": store, "retentionPolicy": backup.retention_policy}


def cluster_spec(
    postgres: PostgresConfig, cnpg: CloudNativePG, labels: Mapping[str, str], environment: str
) -> dict[str, Any]:
    """The Cluster's spec. Its pods inherit `labels`, so NetworkPolicies select them."""
    instances = cnpg.instance_count(environment)
    storage: dict[str, Any] = {"size": postgres.storage}
    if postgres.storage_class is not None:
        storage["storageClass"] = postgres.storage_class
    resources = {k: v for k, v in postgres.resources.model_dump().items() if v}
    spec: dict[str, Any] = {
        "instances": instances,
        "storage": storage,
        "bootstrap": {"initdb": {"database": DATABASE, "owner": OWNER}},
        "inheritedMetadata": {"labels": dict(labels)},
        "resources": resources,
        "enableSuperuserAccess": False,
        "primaryUpdateStrategy": "unsupervised",
        # The operator's PodDisruptionBudget keeps the primary: with one instance
        # it would block every node drain for good.
        "enablePDB": instances > 1,
    }
    if cnpg.image is not None:
        spec["imageName"] = cnpg.image
    if cnpg.backup is not None:
        spec["backup"] = backup_spec(cnpg.backup)
    return spec


def peer_rules(
    labels: Mapping[str, str], operator_namespace: str
) -> tuple[NetworkPolicyIngressRuleArgs, ...]:
    """Ingress the instances need beyond the backend, as the operator's "Networking" docs
    require: the instances among themselves (replication on 5432, the instance manager on
    8000), and the operator, from its namespace, on both ports (status checks on 8000,
    Postgres connections on 5432)."""
    ports = [NetworkPolicyPortArgs(protocol="TCP", port=port) for port in (PORT, STATUS_PORT)]
    return (
        NetworkPolicyIngressRuleArgs(
            from_=[
                NetworkPolicyPeerArgs(
                    pod_selector=LabelSelectorArgs(match_labels=pods.selector_labels(labels))
                )
            ],
            ports=ports,
        ),
        NetworkPolicyIngressRuleArgs(
            from_=[
                NetworkPolicyPeerArgs(
                    namespace_selector=LabelSelectorArgs(
                        match_labels={"kubernetes.io/metadata.name": operator_namespace}
                    )
                )
            ],
            ports=ports,
        ),
    )


def _metadata_name(metadata: Any) -> str:
    """metadata.name of a CustomResource's output (a plain dict, or ObjectMeta)."""
    return str(metadata["name"] if isinstance(metadata, dict) else metadata.name)


@dataclass(frozen=True)
class CnpgClusterArgs:
    namespace: pulumi.Input[str]
    environment: str
    config: PostgresConfig
    """mode cloudnativepg: `cloudnativepg` (optional), storage, storageClass, resources."""
    stopped: bool
    """Hibernate: instance pods deleted, volumes kept."""


class CnpgCluster(pulumi.ComponentResource):
    """A CloudNativePG Cluster the backend reaches at `<cluster>-rw` with TLS."""

    name: pulumi.Output[str]
    host: pulumi.Output[str]
    """Cluster DNS name of the read-write Service."""
    port: pulumi.Output[int]
    database: pulumi.Output[str]
    credentials_secret: pulumi.Output[str]
    """`<cluster>-app`, with `username` and `password`."""
    pod_labels: dict[str, str]

    def __init__(
        self, name: str, args: CnpgClusterArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        super().__init__("tims-stack:k8s:CnpgCluster", name, None, opts)
        # The object is optional: every field has a default.
        cnpg = args.config.cloudnativepg or CloudNativePG()
        labels = pods.labels(args.environment, "database", "postgres")
        # The instances' claims are owned by the Cluster: deleting or replacing it deletes
        # the data. The provider replaces a custom resource only when its URN,
        # metadata.name or namespace changes (pulumi-kubernetes
        # provider/pkg/provider/diff.go, metadataForceNewProperties), so the name stays
        # auto-named and the URN pinned (tests/program/test_urns.py); instances, storage
        # and image are updated in place (the operator's webhook refuses what it cannot
        # do, e.g. a smaller volume). Not `protect`: `pulumi destroy` must remove it. Not
        # `retain_on_delete`: a mode change the guard let through is a deliberate delete
        # after a dump (docs/production.md, "Changing the mode").
        cluster = CustomResource(
            name,
            api_version=API_VERSION,
            kind=KIND,
            metadata=pods.metadata(args.namespace, labels, await_annotations(stopped=args.stopped)),
            spec=cluster_spec(args.config, cnpg, labels, args.environment),
            opts=pulumi.ResourceOptions(parent=self),
        )
        metadata: pulumi.Output[Any] = pulumi.Output.from_input(cast(Any, cluster).metadata)
        self.name = metadata.apply(_metadata_name)
        self.host = pods.service_host(self.name.apply(lambda n: f"{n}-rw"), args.namespace)
        self.port = pulumi.Output.from_input(PORT)
        self.database = pulumi.Output.from_input(DATABASE)
        self.credentials_secret = self.name.apply(lambda n: f"{n}-app")
        self.pod_labels = labels
        self.register_outputs(
            {
                "name": self.name,
                "host": self.host,
                "port": self.port,
                "database": self.database,
                "credentials_secret": self.credentials_secret,
            }
        )
