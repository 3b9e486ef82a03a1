"""Postgres as a CloudNativePG `Cluster` (postgresql.cnpg.io/v1): HA, failover, backups.

The operator is installed once per cluster (docs/production.md). It creates,
from the `Cluster` named `<cluster>`:
- the read-write Service `<cluster>-rw` (always the primary), which the backend uses;
- the Secret `<cluster>-app` (username, password, dbname, host, port, uri) of the
  database owner, which the backend reads by secretKeyRef: the program never
  generates nor holds this password;
- TLS on every instance with its own CA, so the app's sslmode=require works.

With `backup`, the program also creates a `ScheduledBackup` of it.
"""

from __future__ import annotations

import json
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
CLUSTER_LABEL = "cnpg.io/cluster"
"""Set by the operator, with the Cluster's name, on its instance pods (pkg/specs/pods.go,
buildInstance), its Job pods (pkg/specs/jobs.go, CreatePrimaryJob) and every object it
inherits metadata to (api/v1/cluster_funcs.go, SetInheritedData -> LabelClusterName)."""
POD_ROLE_LABEL = "cnpg.io/podRole"
"""`instance` on instance pods (pkg/specs/pods.go, buildInstance; kept on existing pods by
pkg/reconciler/instance/metadata.go, updateOperatorLabels); Job pods have none."""
JOB_ROLE_LABEL = "cnpg.io/jobRole"
"""On Job pods only: `join` for a new replica (pkg/specs/jobs.go, JoinReplicaInstance ->
CreatePrimaryJob with jobRoleJoin), `initdb` for the first primary."""
OPERATOR_LABEL_KEYS = frozenset(
    {
        "app.kubernetes.io/name",
        "app.kubernetes.io/instance",
        "app.kubernetes.io/version",
        "app.kubernetes.io/component",
        "app.kubernetes.io/managed-by",
    }
)
"""Keys the operator sets with its own values on instance pods (pkg/specs/pods.go,
buildInstance), Job pods (pkg/specs/jobs.go, CreatePrimaryJob) and PVCs (name, component,
managed-by: pkg/reconciler/persistentvolumeclaim/metadata.go, newLabelReconciler)."""


def ready_expressions(instances: int) -> list[str]:
    """What `up` waits for: `Ready` AND every instance pod ready.

    `Ready` alone can be stale: the operator sets it from the phase only, with no
    observedGeneration (pkg/resources/status/transactions.go,
    SetClusterReadyCondition), so pulumi-kubernetes' generation check
    (provider/pkg/await/condition/kubectl.go, checkCondition) never applies, and
    a Cluster waking from hibernation says Ready=True before any pod exists.
    `status.readyInstances` (pkg/reconciler/persistentvolumeclaim/status.go) is
    omitted at 0, which the JSONPath check reads as "selected nothing". The count
    is the configured one: a JSONPath expression cannot compare two fields.
    """
    return ["condition=Ready", f"jsonpath={{.status.readyInstances}}={instances}"]


def await_annotations(*, stopped: bool, instances: int) -> dict[str, str]:
    """Hibernation and Pulumi's await settings for the Cluster object.

    Running: wait for `ready_expressions` (a JSON list: all must hold,
    pulumi-kubernetes provider/pkg/metadata/overrides.go, ReadyCondition), at
    most READY_TIMEOUT_SECONDS. Stopped: hibernation deletes the instance pods
    and keeps the volumes and `spec.instances`; the Cluster stays `Ready` (its
    phase is left healthy: pkg/reconciler/hibernation/reconciler.go, Reconcile
    returns before any phase change) with no ready instance. Pulumi does not wait:
    the one proof, the `cnpg.io/hibernation` condition at True, never comes while the
    Cluster is unhealthy (pkg/reconciler/hibernation/status.go, EnrichStatus defers
    hibernation), and a stop should not hang on a broken database.
    """
    if stopped:
        return {HIBERNATION: "on", "pulumi.com/skipAwait": "true"}
    return {
        HIBERNATION: "off",
        "pulumi.com/waitFor": json.dumps(ready_expressions(instances)),
        "pulumi.com/timeoutSeconds": str(READY_TIMEOUT_SECONDS),
    }


def inherited_labels(labels: Mapping[str, str]) -> dict[str, str]:
    """The labels the operator copies to the Cluster's pods, Jobs and PVCs: only keys it does
    not set itself. With one of its keys the PVC label reconciler never converges: it
    checks our value, then writes its own (newLabelReconciler), on every reconcile."""
    return {key: value for key, value in labels.items() if key not in OPERATOR_LABEL_KEYS}


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
    """The Cluster's spec. Its objects inherit the keys of `labels` the operator leaves alone."""
    instances = cnpg.instance_count(environment)
    storage: dict[str, Any] = {"size": postgres.storage}
    if postgres.storage_class is not None:
        storage["storageClass"] = postgres.storage_class
    resources = {k: v for k, v in postgres.resources.model_dump().items() if v}
    spec: dict[str, Any] = {
        "instances": instances,
        "storage": storage,
        "bootstrap": {"initdb": {"database": DATABASE, "owner": OWNER}},
        "inheritedMetadata": {"labels": inherited_labels(labels)},
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


def scheduled_backup_spec(
    cluster_name: pulumi.Input[str], backup: CnpgBackup, *, stopped: bool
) -> dict[str, Any]:
    """A base backup on `backup.schedule`, the first one as soon as it exists.

    - suspend while stopped: the operator refuses to back up a hibernated Cluster
      and records each refusal as a failed Backup (internal/controller/
      backup_controller.go: "cannot backup a hibernated cluster"); the schedule
      controller only skips a suspended one (scheduledbackup_controller.go,
      Reconcile). `immediate` acts only on the first check (LastCheckTime nil);
      on a start, a slot missed while suspended is taken at once, one backup for all
      (reconcileScheduledBackup: the next slot after LastCheckTime is past). The
      resume comes after the Cluster's wait (it depends on the Cluster), so that
      backup, like the first, finds a serving primary.
    - backupOwnerReference `cluster`: the Backup objects, the catalogue of what is in
      the object store, live as long as the Cluster whose data they describe, not as
      long as one schedule (a changed cluster reference replaces the ScheduledBackup:
      the CRD makes it immutable). The object store keeps the backups either way;
      `retentionPolicy` prunes them.
    """
    return {
        "cluster": {"name": cluster_name},
        "schedule": backup.schedule,
        "immediate": True,
        "suspend": stopped,
        "backupOwnerReference": "cluster",
        "method": "barmanObjectStore",
    }


def pod_selector(cluster_name: pulumi.Input[str]) -> dict[str, pulumi.Input[str]]:
    """Every pod of the Cluster (instances and Jobs): the operator's own label."""
    return {CLUSTER_LABEL: cluster_name}


def peer_rules(
    cluster_name: pulumi.Input[str], operator_namespace: str
) -> tuple[NetworkPolicyIngressRuleArgs, ...]:
    """Ingress the Cluster needs beyond the backend (its "Networking" and "Security" docs,
    checked against v1.30.0's source):
    - the instances among themselves: replication on 5432, and on 8000 the instance
      manager's liveness isolation check, which pings every other instance
      (pkg/management/postgres/webserver/probes/pinger.go, ensureInstancesAreReachable);
    - a new replica's join Job: `pg_basebackup` from the `-rw` Service on 5432
      (pkg/specs/jobs.go, JoinReplicaInstance); it has no podRole label, so the
      instances' rule does not admit it, and without it no replica ever joins;
    - the operator, from its namespace, on both ports (status on 8000, SQL on 5432).
    Selected by the operator's labels, which it sets on every such pod whatever
    `inheritedMetadata` holds."""
    both = [NetworkPolicyPortArgs(protocol="TCP", port=port) for port in (PORT, STATUS_PORT)]

    def cluster_pods(role_key: str, role: str) -> NetworkPolicyPeerArgs:
        labels = {**pod_selector(cluster_name), role_key: role}
        return NetworkPolicyPeerArgs(pod_selector=LabelSelectorArgs(match_labels=labels))

    return (
        NetworkPolicyIngressRuleArgs(from_=[cluster_pods(POD_ROLE_LABEL, "instance")], ports=both),
        NetworkPolicyIngressRuleArgs(
            from_=[cluster_pods(JOB_ROLE_LABEL, "join")],
            ports=[NetworkPolicyPortArgs(protocol="TCP", port=PORT)],
        ),
        NetworkPolicyIngressRuleArgs(
            from_=[
                NetworkPolicyPeerArgs(
                    namespace_selector=LabelSelectorArgs(
                        match_labels={"kubernetes.io/metadata.name": operator_namespace}
                    )
                )
            ],
            ports=both,
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
    """Our labels for the Cluster's objects; its pods inherit only `inherited_labels`."""
    pod_selector: dict[str, pulumi.Input[str]]
    """Selects every pod of the Cluster (its NetworkPolicy's podSelector)."""

    def __init__(
        self, name: str, args: CnpgClusterArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        super().__init__("tims-stack:k8s:CnpgCluster", name, None, opts)
        # The object is optional: every field has a default.
        cnpg = args.config.cloudnativepg or CloudNativePG()
        labels = pods.labels(args.environment, "database", "postgres")
        instances = cnpg.instance_count(args.environment)
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
            metadata=pods.metadata(
                args.namespace,
                labels,
                await_annotations(stopped=args.stopped, instances=instances),
            ),
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
        self.pod_selector = pod_selector(self.name)
        if cnpg.backup is not None:
            # After the Cluster: created once it is ready (the immediate backup needs a
            # primary), and deleted before it on destroy.
            CustomResource(
                name,
                api_version=API_VERSION,
                kind="ScheduledBackup",
                metadata=pods.metadata(args.namespace, labels),
                spec=scheduled_backup_spec(self.name, cnpg.backup, stopped=args.stopped),
                opts=pulumi.ResourceOptions(parent=self, depends_on=[cluster]),
            )
        self.register_outputs(
            {
                "name": self.name,
                "host": self.host,
                "port": self.port,
                "database": self.database,
                "credentials_secret": self.credentials_secret,
            }
        )
