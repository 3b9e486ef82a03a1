"""Which entries of each Secret the program built from no secret value.

The Kubernetes SDK wraps a Secret's whole `data`/`stringData` map in one secret
before it is sent, so the entries are read where the program passes them in.
"""

from __future__ import annotations

import contextvars
from collections.abc import Mapping
from typing import Any

import pulumi
import pulumi_kubernetes.core.v1 as k8s_core
from pulumi.runtime.sync_await import _sync_await

_SECRET_FIELDS = {"data": "data", "string_data": "stringData"}
_SECRET_INPUTS: contextvars.ContextVar[list[tuple[pulumi.Resource, dict[str, Any]]] | None] = (
    contextvars.ContextVar("tims_stack_mockrun_secret_inputs", default=None)
)


def _record_secret_inputs() -> None:
    """Wrap `Secret._internal_init` once, to see the entries before the SDK wraps them."""
    original = k8s_core.Secret._internal_init
    if getattr(original, "_tims_stack_recorder", False):
        return

    def recording(self: k8s_core.Secret, resource_name: str, *args: Any, **kwargs: Any) -> None:
        recorded = _SECRET_INPUTS.get()
        if recorded is not None:
            fields = {wire: kwargs.get(arg) for arg, wire in _SECRET_FIELDS.items()}
            recorded.append((self, {k: v for k, v in fields.items() if v is not None}))
        original(self, resource_name, *args, **kwargs)

    recording._tims_stack_recorder = True  # type: ignore[attr-defined]
    k8s_core.Secret._internal_init = recording  # type: ignore[method-assign,assignment]


def _readable(value: Any) -> bool:
    """Whether an entry as the program passed it is no secret (resolved after the run)."""
    if isinstance(value, pulumi.Output):
        return not bool(_sync_await(value.is_secret()))
    # A plain value is no secret; an awaitable or anything else is not known to be.
    return isinstance(value, (str, int, float, bool))


def _readable_entries(
    recorded: list[tuple[pulumi.Resource, dict[str, Any]]],
) -> dict[str, frozenset[tuple[str, str]]]:
    """Per Secret URN, the (field, key) entries that hold no secret value.

    A field passed as one Output (not a map of entries) counts as all secret.
    """
    readable: dict[str, frozenset[tuple[str, str]]] = {}
    for resource, fields in recorded:
        urn = str(_sync_await(resource.urn.future()))
        readable[urn] = frozenset(
            (field_name, str(key))
            for field_name, entries in fields.items()
            if isinstance(entries, Mapping)
            for key, value in entries.items()
            if _readable(value)
        )
    return readable
