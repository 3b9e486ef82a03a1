"""The config's key set, and what to say about a key outside it.

`TOP_LEVEL_KEYS`, `OBJECT_KEYS` and `GITHUB_KEYS` come from the models
(`stack.settings`). An unknown `tims-stack:*` key gets "did you mean", the
object it may belong to, or, for a dotted key that `pulumi config set` stored
without --path, how to set the field instead.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel

from stack.contract import NS
from stack.errors import closest, did_you_mean, model_in
from stack.settings import GitHubSettings, StackSettings

TOP_LEVEL_KEYS: tuple[str, ...] = tuple(f.alias or n for n, f in StackSettings.model_fields.items())
"""Every `tims-stack:*` key of the config contract, as the stack file spells it."""

OBJECT_KEYS: tuple[str, ...] = tuple(
    f.alias or n for n, f in StackSettings.model_fields.items() if model_in(f.annotation)
)
"""The `tims-stack:*` keys whose value is an object (JSON text in Pulumi's runtime)."""

GITHUB_KEYS: tuple[str, ...] = tuple(f.alias or n for n, f in GitHubSettings.model_fields.items())
"""The `github:*` keys this program reads."""


NAMESPACES = (NS.removesuffix(":"), "github", "kubernetes", "random", "pulumi")
"""This program's, its providers' (their default provider's config) and Pulumi's own."""


def unknown_namespace(key: str) -> str | None:
    """What to say about `key` when nothing here reads its namespace, else None."""
    namespace, _, name = key.partition(":")
    if namespace in NAMESPACES:
        return None
    fix = closest(namespace, NAMESPACES)
    rename = f": rename the key to {fix}:{name}" if fix else ""
    return (
        f"{did_you_mean(namespace, NAMESPACES, 'namespace')}. Nothing here reads "
        f"'{namespace}:*' keys, so this one would be ignored{rename}"
    )


def unknown_top_level(name: str) -> str:
    if "." in name and name.split(".", 1)[0] in OBJECT_KEYS:
        return _literal_path(name)
    inside = [
        f"{NS}{f.alias or key}.{name}"
        for key, f in StackSettings.model_fields.items()
        if (model := model_in(f.annotation)) is not None
        and name in [g.alias or n for n, g in model.model_fields.items()]
    ]
    if inside:
        return (
            f"unknown key {name!r}; it is a field of an object: did you mean "
            f"{' or '.join(inside)}? Set it with `pulumi config set --path {inside[0]} <value>`"
        )
    return did_you_mean(name, TOP_LEVEL_KEYS)


def _literal_path(name: str) -> str:
    """A key like `backend.replicas`: `pulumi config set` without --path keeps the dots."""
    top, *fields = name.split(".")
    head = (
        f"unknown key {name!r}: `pulumi config set` without --path keeps the dots in a key's name"
    )
    typo, field_path = "", NS + name
    model = model_in(_field(StackSettings, top).annotation)
    for at, part in enumerate(fields):
        names = [f.alias or n for n, f in model.model_fields.items()] if model else []
        if names and part not in names:
            where = ".".join([top, *fields[:at]])
            typo, field_path = (
                f". In {NS}{where}: {did_you_mean(part, names)}",
                f"{NS}{where}.<field>",
            )
            break
        model = model_in(_field(model, part).annotation) if part in names and model else None
    return (
        f"{head}{typo}. Remove this key with `pulumi config rm {NS}{name}` and set the field with "
        f"`pulumi config set --path {field_path} <value>`"
    )


def _field(model: type[BaseModel], alias: str) -> Any:
    return next(f for n, f in model.model_fields.items() if alias in (n, f.alias))
