"""What a mocked run returns: the registered resources, outputs, invokes and logs."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from scripts.mockrun.values import integral, reveal


@dataclass(frozen=True)
class Registered:
    """One resource the program registered."""

    urn: str
    type: str
    name: str
    parent: str | None
    """URN of the parent resource (the stack's URN for top-level resources)."""
    custom: bool
    """False for component resources."""
    inputs: dict[str, Any]
    """As the SDK sent them (camelCase keys, secrets wrapped)."""
    outputs: dict[str, Any]
    """What the mocks returned, i.e. what the program saw as this resource's state."""
    dependencies: tuple[str, ...]
    """URNs this resource depends on."""
    ignore_changes: tuple[str, ...] = ()
    """Property paths the engine ignores in updates (`ignore_changes`, camelCase paths)."""
    retain_on_delete: bool = False
    """True when removing the resource from the program leaves the cluster object alone."""
    delete_before_replace: bool = False
    """True when a replacement deletes the old object before creating the new one."""

    @property
    def is_kubernetes(self) -> bool:
        return self.custom and self.type.startswith("kubernetes:")

    @property
    def kind(self) -> str:
        return str(reveal(self.outputs).get("kind", ""))

    def manifest(self) -> dict[str, Any]:
        """The Kubernetes object this resource would create: auto-name set, secrets revealed."""
        state = integral(reveal(self.outputs))
        return {k: v for k, v in state.items() if k not in ("id", "urn")}


@dataclass(frozen=True)
class ProgramRun:
    resources: list[Registered]
    outputs: dict[str, Any]
    """Stack outputs, resolved; secret ones included with their value."""
    secret_outputs: frozenset[str]
    invokes: list[tuple[str, dict[str, Any]]] = field(default_factory=list)
    """Provider functions the program called: (token, arguments)."""
    logs: list[str] = field(default_factory=list)
    """Warnings and errors the program logged."""
    error: BaseException | None = None
    """What the program raised, if anything (resources hold what it registered before)."""
    readable_entries: Mapping[str, frozenset[tuple[str, str]]] = field(default_factory=dict)
    """Per Secret URN, its (`data`|`stringData`, key) entries built from no secret value."""

    def kubernetes_objects(self) -> list[Registered]:
        return [r for r in self.resources if r.is_kubernetes]

    def of_type(self, type_: str) -> list[Registered]:
        return [r for r in self.resources if r.type == type_]

    def by_urn(self, urn: str) -> Registered:
        return next(r for r in self.resources if r.urn == urn)

    def plaintext_outputs(self) -> dict[str, Any]:
        """Outputs as `pulumi stack output` shows them without --show-secrets."""
        return {k: v for k, v in self.outputs.items() if k not in self.secret_outputs}
