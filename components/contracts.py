"""What one group of components hands another: the types on the seams between folders.

The data stores produce a `DatabaseConnection` and a `RedisConnection` that the
backend consumes, and a `ProtectedService` that the network policies consume;
neither side owns them.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import pulumi
from pulumi_kubernetes.networking.v1 import NetworkPolicyIngressRuleArgs


@dataclass(frozen=True)
class DatabaseConnection:
    """How the backend and the migration Job reach Postgres, whichever mode runs it."""

    host: pulumi.Input[str]
    port: pulumi.Input[int]
    name: pulumi.Input[str]
    user: pulumi.Input[str]
    password: pulumi.Input[str] | None
    """Secret; None when `credentials_secret` provides it."""
    tls: bool = False
    """Whether the server speaks TLS: the app then connects with sslmode=require."""
    credentials_secret: pulumi.Input[str] | None = None
    """A Secret with `username` and `password` keys (CloudNativePG's `<cluster>-app`): the
    pods read DB_USER and DB_PASSWORD from it by secretKeyRef, so they follow its rotation
    and the program never holds the password."""


@dataclass(frozen=True)
class RedisConnection:
    """How the backend and the migration Job reach Redis (REDIS_URL), whichever mode runs it."""

    url: pulumi.Input[str]
    secret: bool = False
    """True when the URL holds a password (a managed Redis): it is then a secret entry of
    the env Secret, and the plain entries are built without it, so they stay readable."""


@dataclass(frozen=True)
class ProtectedService:
    """A data store only the app's own pods may reach: its pods, its port, extra peers."""

    pod_labels: Mapping[str, str]
    port: int
    also_from: tuple[NetworkPolicyIngressRuleArgs, ...] = ()
    """Further ingress rules, e.g. a CloudNativePG cluster's replication and operator."""
    selector: Mapping[str, pulumi.Input[str]] | None = None
    """The protected pods' match labels when they do not carry `pod_labels` (a
    CloudNativePG Cluster's pods carry the operator's); None: from `pod_labels`."""
