"""What a `pulumi preview --json` (or `refresh --preview-only --json`) says will change.

The JSON is Pulumi's preview digest, `display.PreviewDigest` in pulumi/pulumi
`pkg/display/json.go`, filled by `ShowPreviewDigest` in
`pkg/backend/display/json.go`: `steps` (one per resource step: `op`, `urn`,
`oldState`/`newState` with their `type`, `diffReasons`, `replaceReasons`) and
`changeSummary` (count per op). The ops are the `deploy.Op*` strings of
`pkg/resource/deploy/step.go`. A replacement, delete-before-replace or not, is
one `replace` step: the digest drops the non-logical `create-replacement` and
`delete-replaced` steps unless `--show-replacement-steps` (`shouldShow` in
`pkg/backend/display/display.go`); both are still read, should someone add the
flag. A removal is `delete`. Which ops count as changes follows
`engine.HasChanges` (`pkg/engine/update.go`): every op except `same`, `read`,
`discard` and `read-replacement`. A `refresh --preview-only` digest keeps the op
`refresh` for a resource it found unchanged (ShowPreviewDigest swaps in the
result only for an update with a detailed diff or a delete), so `refresh` is
no change either.

Only property *names* are read from the digest, never values: the comment and
the issue built from it can be public, and a value could be a secret.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

NO_CHANGE_OPS = frozenset({"same", "read", "discard", "read-replacement", "refresh"})
"""Ops `engine.HasChanges` does not count, and `refresh` (a refresh that found no change)."""
DATA_LOSS_OPS = frozenset({"replace", "create-replacement", "delete-replaced", "delete"})
"""Ops that end a resource's life: its replacement starts empty."""

STATEFUL_TYPES: Mapping[str, str] = {
    "kubernetes:apps/v1:StatefulSet": "a StatefulSet (Postgres or Redis) and its volume claims",
    "kubernetes:postgresql.cnpg.io/v1:Cluster": "the CloudNativePG Cluster and its databases",
    "kubernetes:core/v1:PersistentVolumeClaim": "a volume claim and its data",
    "kubernetes:core/v1:Namespace": "the namespace, with everything in it",
    # components/data/mode_guard.py: losing a guard forgets the recorded mode (or namespace),
    # so the next `up` could change it (and delete the store) unchecked.
    "pulumi-python:dynamic/tims-stack:PostgresModeGuard": "the guard of the database mode",
    "pulumi-python:dynamic/tims-stack:RedisModeGuard": "the guard of the Redis mode",
    "pulumi-python:dynamic/tims-stack:NamespaceGuard": "the guard of the namespace name",
}
"""Resource types whose replacement or deletion loses data, with what is lost."""


class DigestError(ValueError):
    pass


@dataclass(frozen=True)
class Step:
    op: str
    urn: str
    type: str
    name: str
    properties: tuple[str, ...]
    """Names of the properties that differ (replace reasons first)."""


@dataclass(frozen=True)
class StatefulChange:
    op: str
    """`replace` or `delete`."""
    type: str
    name: str
    urn: str
    reasons: tuple[str, ...]
    """The properties that force a replacement (empty for a delete)."""

    @property
    def what(self) -> str:
        return STATEFUL_TYPES[self.type]


def parse(text: str) -> dict[str, Any]:
    """The digest from the CLI's stdout; anything but a JSON object raises DigestError."""
    try:
        digest = json.loads(text)
    except ValueError as exc:
        raise DigestError(f"the preview printed no JSON digest ({exc})") from None
    if not isinstance(digest, dict):
        raise DigestError(f"the preview printed a JSON {type(digest).__name__}, not an object")
    return digest


def urn_type_and_name(urn: str) -> tuple[str, str]:
    """`urn:pulumi:<stack>::<project>::<parent$...$type>::<name>` -> (type, name)."""
    parts = urn.split("::", 3)
    if len(parts) != 4 or not parts[0].startswith("urn:pulumi:"):
        raise DigestError(f"not a Pulumi URN: {urn!r}")
    return parts[2].rsplit("$", 1)[-1], parts[3]


def _names(values: object) -> tuple[str, ...]:
    if not isinstance(values, list):
        return ()
    return tuple(str(v) for v in values)


def steps(digest: Mapping[str, Any]) -> list[Step]:
    """Every step of the digest, in order."""
    raw = digest.get("steps") or []
    if not isinstance(raw, list):
        raise DigestError("`steps` of the preview digest is not a list")
    found: list[Step] = []
    for index, entry in enumerate(raw, start=1):
        if not isinstance(entry, dict) or not isinstance(entry.get("urn"), str):
            # Named by its place only: the step's states hold values (see the module doc).
            raise DigestError(f"step {index} of the preview digest has no urn")
        urn_type, name = urn_type_and_name(entry["urn"])
        state = entry.get("newState") or entry.get("oldState") or {}
        kind = state.get("type") if isinstance(state, dict) else None
        reasons = _names(entry.get("replaceReasons"))
        diffs = tuple(d for d in _names(entry.get("diffReasons")) if d not in reasons)
        found.append(
            Step(str(entry.get("op", "")), entry["urn"], kind or urn_type, name, reasons + diffs)
        )
    return found


def changed_steps(digest: Mapping[str, Any]) -> list[Step]:
    """The steps that change something, one per URN and op."""
    seen: set[tuple[str, str]] = set()
    changed = []
    for step in steps(digest):
        if step.op in NO_CHANGE_OPS or (step.urn, step.op) in seen:
            continue
        seen.add((step.urn, step.op))
        changed.append(step)
    return changed


def stateful_changes(digest: Mapping[str, Any]) -> list[StatefulChange]:
    """Replacements and deletions of stateful resources, one per resource."""
    by_urn: dict[str, StatefulChange] = {}
    for step in steps(digest):
        if step.op not in DATA_LOSS_OPS or step.type not in STATEFUL_TYPES:
            continue
        op = "delete" if step.op == "delete" else "replace"
        known = by_urn.get(step.urn)
        reasons = tuple(dict.fromkeys((known.reasons if known else ()) + _replace_reasons(step)))
        # A resource both replaced and deleted is reported as replaced (the stronger word).
        if known is not None and known.op == "replace":
            op = "replace"
        by_urn[step.urn] = StatefulChange(op, step.type, step.name, step.urn, reasons)
    return list(by_urn.values())


def _replace_reasons(step: Step) -> tuple[str, ...]:
    return step.properties if step.op in ("replace", "create-replacement") else ()


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("`", "'").replace("\n", " ")


def steps_table(changed: Iterable[Step], limit: int = 150) -> list[str]:
    """A Markdown table of the changed steps (property names only), cut at `limit` rows."""
    rows = list(changed)
    lines = ["| change | type | name | properties |", "|---|---|---|---|"]
    for step in rows[:limit]:
        props = ", ".join(step.properties[:8]) + (" ..." if len(step.properties) > 8 else "")
        lines.append(
            f"| {_cell(step.op)} | `{_cell(step.type)}` | `{_cell(step.name)}` | {_cell(props)} |"
        )
    if len(rows) > limit:
        lines.append(f"| ... | {len(rows) - limit} more | | |")
    return lines


def stateful_lines(changes: Iterable[StatefulChange]) -> list[str]:
    """One bullet per stateful replacement or deletion."""
    lines = []
    for change in changes:
        verb = "replaced" if change.op == "replace" else "deleted"
        because = f" (because of {', '.join(change.reasons)})" if change.reasons else ""
        lines.append(f"- `{_cell(change.name)}`, {change.what}: **{verb}**{because}")
    return lines
