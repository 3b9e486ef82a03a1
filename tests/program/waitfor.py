"""A test double of how pulumi-kubernetes decides an object is ready from its annotations.

Behaves as provider/pkg at v4.32.0 (the newest tag in the mirror; the files are the
same at its newest commit) does, for one observed state of the object:
- metadata/overrides.go, ReadyCondition: `pulumi.com/skipAwait` -> ready at once;
  no `pulumi.com/waitFor` -> no wait; a JSON string list -> every expression must
  hold (await/condition/all.go, All.Satisfied), else the value is one expression;
  each starts with `jsonpath=` or `condition=`;
- await/condition/custom.go (NewCustom) + kubectl.go (checkCondition): the first
  status.conditions entry whose type equals (case-insensitively) decides; its status
  is compared case-insensitively; a condition's observedGeneration, else
  status.observedGeneration, below metadata.generation means not ready;
- await/condition/jsonpath.go (JSONPath.Satisfied): status.observedGeneration below
  metadata.generation means not ready; then jsonpath/jsonpath.go (Parse, Matches):
  the path selects nothing -> not ready; only the FIRST selected value counts; a
  list or map is a match only without a value (with one: an error); otherwise the
  value printed as Go's fmt.Sprint would must equal the expected text.
JSONPath selection covers the RFC 9535 subset the program uses (github.com/theory/
jsonpath): `.name`, `[*]`, `[n]`, `[?(@.key=="text")]` / `[?@.key=='text']`.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from typing import Any

WAIT_FOR = "pulumi.com/waitFor"
SKIP_AWAIT = "pulumi.com/skipAwait"


class WaitForError(ValueError):
    """What the provider would report as an error instead of waiting."""


_SEGMENT = re.compile(
    r"""\.(?P<name>[A-Za-z_][\w-]*)
      | \[\*\] | \.\*
      | \[(?P<index>-?\d+)\]
      | \[\?\(?\s*@\.(?P<key>[A-Za-z_][\w-]*)\s*==\s*(?P<q>["'])(?P<text>.*?)(?P=q)\s*\)?\]""",
    re.VERBOSE,
)


def select(path: str, obj: Any) -> list[Any]:
    """The nodes an RFC 9535 path of the supported subset selects, in document order."""
    nodes = [obj]
    rest = path.removeprefix("$")
    while rest:
        match = _SEGMENT.match(rest)
        if not match:
            raise WaitForError(f"unsupported JSONPath segment in {path!r} at {rest!r}")
        rest = rest[match.end() :]
        found: list[Any] = []
        for node in nodes:
            if match.group("name"):
                if isinstance(node, dict) and match.group("name") in node:
                    found.append(node[match.group("name")])
            elif match.group("index") is not None:
                index = int(match.group("index"))
                if isinstance(node, list) and -len(node) <= index < len(node):
                    found.append(node[index])
            elif match.group("key"):
                children = node if isinstance(node, list) else []
                if isinstance(node, dict):
                    children = list(node.values())
                key, text = match.group("key"), match.group("text")
                found += [c for c in children if isinstance(c, dict) and c.get(key) == text]
            elif isinstance(node, list):
                found += node
            elif isinstance(node, dict):
                found += list(node.values())
        nodes = found
    return nodes


def _go_sprint(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def _stale(obj: Mapping[str, Any], observed: Any) -> bool:
    generation = obj.get("metadata", {}).get("generation")
    return isinstance(generation, int) and isinstance(observed, int) and observed < generation


def _jsonpath_satisfied(expression: str, obj: Mapping[str, Any]) -> bool:
    raw = expression.removeprefix("jsonpath=")
    parts = raw.replace("==", "\0").split("=")
    if len(parts) > 2 or (len(parts) == 2 and not parts[1]):
        raise WaitForError(f"format should be {{.path}}=value or {{.path}}, got {raw!r}")
    path, value = parts[0].replace("\0", "=="), (parts[1].replace("\0", "==") if parts[1:] else "")
    bracketed = re.search(r"\{\s*(.*?)\s*\}", path)
    if not bracketed:
        raise WaitForError(f"{path} should be wrapped in brackets {{ ... }}")
    if _stale(obj, obj.get("status", {}).get("observedGeneration")):
        return False
    results = select(bracketed.group(1), obj)
    if not results:
        return False
    first = results[0]
    if isinstance(first, list | dict):
        if value:
            raise WaitForError(f"{path!r} has a non-primitive value ({first})")
        return True
    return not value or value == _go_sprint(first)


def _condition_satisfied(expression: str, obj: Mapping[str, Any]) -> bool:
    wanted = expression.removeprefix("condition=")
    # NewCustom: "True" only when there is no "="; `condition=Ready=` wants an empty status.
    kind, equals, status = wanted.partition("=")
    status = status if equals else "True"
    conditions = obj.get("status", {}).get("conditions")
    if not isinstance(conditions, list):
        return False
    for condition in conditions:
        if str(condition.get("type", "")).lower() != kind.lower() or "status" not in condition:
            continue
        observed = condition.get(
            "observedGeneration", obj.get("status", {}).get("observedGeneration")
        )
        if _stale(obj, observed):
            return False
        return str(condition["status"]).lower() == status.lower()
    return False


def ready(annotations: Mapping[str, str], obj: Mapping[str, Any]) -> bool:
    """Whether the provider would end its wait on an object in state `obj`."""
    if annotations.get(SKIP_AWAIT) == "true":
        return True
    value = annotations.get(WAIT_FOR, "")
    if not value:
        return True
    # json.Unmarshal into []string: JSON null is an empty list; anything else that is not
    # a list of strings fails, and the whole value is then one expression.
    try:
        expressions = json.loads(value)
    except json.JSONDecodeError:
        expressions = [value]
    if expressions is None:
        expressions = []
    elif not isinstance(expressions, list) or not all(isinstance(e, str) for e in expressions):
        expressions = [value]
    if not expressions:
        raise WaitForError("at least one condition must be specified")
    checks = []
    for expression in expressions:
        if expression.startswith("jsonpath="):
            checks.append((_jsonpath_satisfied, expression))
        elif expression.startswith("condition="):
            checks.append((_condition_satisfied, expression))
        else:
            raise WaitForError(f'expected a "jsonpath=" or "condition=" prefix, got {expression!r}')
    # All.Satisfied: in order, the first unsatisfied expression ends the check.
    return all(check(expression, obj) for check, expression in checks)
