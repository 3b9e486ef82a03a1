"""A data store's mode guard as Pulumi resources: the guard, and the component holding it.

The guards of Postgres and Redis differ only in their type tokens and in the store
their provider (components/data/mode_guard.py) words its refusal for. Each sits in a
component of its own (`tims-stack:k8s:PostgresMode`, `tims-stack:k8s:RedisMode`), so
the stores' URNs stay as they were before the modes existed.
"""

from __future__ import annotations

from typing import Any, ClassVar

import pulumi
import pulumi.dynamic

from components.data.mode_guard import ALLOW, MODE, POSTGRES, REDIS, ModeGuardProvider


class ModeGuard(pulumi.dynamic.Resource):
    """State: the recorded mode. A subclass names the store and the type tokens."""

    store: ClassVar[str]
    component: ClassVar[str]
    """The type token of the `StoreMode` that holds this guard."""
    mode: pulumi.Output[str]

    def __init__(
        self, name: str, mode: str, allow_change: bool, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        props: dict[str, Any] = {MODE: mode, ALLOW: allow_change}
        super().__init__(ModeGuardProvider(self.store), name, props, opts)


class PostgresModeGuard(ModeGuard, module="tims-stack", name="PostgresModeGuard"):
    """Type token `pulumi-python:dynamic/tims-stack:PostgresModeGuard`."""

    store = POSTGRES
    component = "tims-stack:k8s:PostgresMode"


class RedisModeGuard(ModeGuard, module="tims-stack", name="RedisModeGuard"):
    """Type token `pulumi-python:dynamic/tims-stack:RedisModeGuard`."""

    store = REDIS
    component = "tims-stack:k8s:RedisMode"


class StoreMode(pulumi.ComponentResource):
    """Holds one store's guard, registered before the store, which depends on it."""

    guard: ModeGuard

    def __init__(
        self,
        guard: type[ModeGuard],
        name: str,
        mode: str,
        allow_change: bool,
        opts: pulumi.ResourceOptions | None = None,
    ) -> None:
        super().__init__(guard.component, name, None, opts)
        self.guard = guard(name, mode, allow_change, pulumi.ResourceOptions(parent=self))
        self.register_outputs({"mode": self.guard.mode})
