"""The guards as Pulumi resources: a store's mode guard and its component; the namespace guard.

Postgres and Redis differ only in type tokens and in the store the provider
(components/data/mode_guard.py) words its refusal for. Each guard sits in a component
of its own, so the stores' URNs stay as they were before the modes existed. The
namespace guard sits in `NamespaceName`; the K8s Namespace (components/kube/namespace.py)
depends on the guard.
"""

from __future__ import annotations

from typing import Any, ClassVar

import pulumi
import pulumi.dynamic

from components.data.mode_guard import (
    ALLOW,
    ALLOW_NAMESPACE,
    MODE,
    NAMESPACE,
    POSTGRES,
    REDIS,
    ModeGuardProvider,
    guard_id,
)


class ModeGuard(pulumi.dynamic.Resource):
    """State: the recorded mode. A subclass names its store and its component's type."""

    store: ClassVar[str]
    component: ClassVar[str]
    mode: pulumi.Output[str]

    def __init__(
        self, name: str, mode: str, allow_change: bool, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        props: dict[str, Any] = {MODE: mode, ALLOW: allow_change}
        super().__init__(ModeGuardProvider(self.store), name, props, opts)


class PostgresModeGuard(ModeGuard, module="tims-stack", name="PostgresModeGuard"):
    """Type token `pulumi-python:dynamic/tims-stack:PostgresModeGuard`."""

    store, component = POSTGRES, "tims-stack:k8s:PostgresMode"


class RedisModeGuard(ModeGuard, module="tims-stack", name="RedisModeGuard"):
    """Type token `pulumi-python:dynamic/tims-stack:RedisModeGuard`."""

    store, component = REDIS, "tims-stack:k8s:RedisMode"


class NamespaceGuard(pulumi.dynamic.Resource, module="tims-stack", name="NamespaceGuard"):
    """Type token `pulumi-python:dynamic/tims-stack:NamespaceGuard`. State: the namespace name."""

    namespace: pulumi.Output[str]

    def __init__(
        self, namespace: str, allow_change: bool, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        props: dict[str, Any] = {NAMESPACE: namespace, ALLOW_NAMESPACE: allow_change}
        super().__init__(ModeGuardProvider(NAMESPACE), guard_id(NAMESPACE), props, opts)


class StoreMode(pulumi.ComponentResource):
    """Holds one store's guard, named `<store>-mode`; the store's resources depend on it."""

    guard: ModeGuard

    def __init__(self, guard: type[ModeGuard], mode: str, allow_change: bool) -> None:
        name = guard_id(guard.store)
        super().__init__(guard.component, name, None, None)
        self.guard = guard(name, mode, allow_change, pulumi.ResourceOptions(parent=self))
        self.register_outputs({"mode": self.guard.mode})


class NamespaceName(pulumi.ComponentResource):
    """Holds the namespace guard, named `namespace-guard`; the K8s Namespace depends on it."""

    guard: NamespaceGuard

    def __init__(self, namespace: str, allow_change: bool) -> None:
        name = guard_id(NAMESPACE)
        super().__init__("tims-stack:k8s:NamespaceName", name, None, None)
        self.guard = NamespaceGuard(namespace, allow_change, pulumi.ResourceOptions(parent=self))
        self.register_outputs({"namespace": self.guard.namespace})
