"""Check HTTP exchanges against GitHub's own OpenAPI description.

The GitHub API emulator passes every request it receives and every response
it returns through `SpecChecker`, so the emulator cannot drift from the real
API and a client cannot send something GitHub does not document.

openapi-core does the schema work. This module adds what openapi-core does
not check by itself:

- query parameters GitHub does not document (openapi-core ignores extras);
- body fields GitHub does not document: the spec is loaded with
  `additional_properties_default_policy="forbid"`, so a schema that does not
  say `additionalProperties` admits only its documented properties;
- `format: uri`, which openapi-core's format checker does not know;
- `x-multi-segment` path parameters (`/git/ref/{ref}` with `ref` =
  `heads/main`), a GitHub extension openapi-core does not honour.

A status the description does not document for an operation (GitHub answers
404 for an unknown run, but `actions/get-workflow-run` documents only 200)
cannot be validated. Such answers are reported as *unvalidated*, never as
valid; their bodies must still have the shape of GitHub's error object.
"""

from __future__ import annotations

import json
import re
import threading
import weakref
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlsplit

from openapi_core import Config, OpenAPI
from openapi_core.testing import MockRequest, MockResponse
from werkzeug.datastructures import ImmutableMultiDict

SPEC_RELATIVE_PATH = "github-openapi/api.github.com.subset.json"
ISSUES_SUPPLEMENT = Path(__file__).parent / "openapi" / "issues.subset.json"
"""The issue operations (drift issues), excerpted here from the same package: see its README."""
# The description's only server. Requests are checked as if sent there, so the
# emulator's ephemeral loopback address plays no part in path matching.
GITHUB_API_URL = "https://api.github.com"

# Places where GitHub's description is known to be wrong, so a request that
# works on GitHub is accepted as unvalidated instead of reported as a violation.
# Keyed by (operationId, query parameter).
KNOWN_UNDOCUMENTED_QUERY_PARAMETERS: dict[tuple[str, str], str] = {
    # GitHub paginates this list like every other one, but the description
    # omits page/per_page: https://github.com/github/rest-api-description/issues/1651
    (
        "packages/get-all-package-versions-for-package-owned-by-user",
        "page",
    ): "github/rest-api-description#1651",
    (
        "packages/get-all-package-versions-for-package-owned-by-user",
        "per_page",
    ): "github/rest-api-description#1651",
}
# `created` on the workflow-run lists takes GitHub's search date syntax
# (`>=2026-05-28T10:00:00Z`, `a..b`) although the schema says `format: date-time`:
# https://github.com/github/rest-api-description/issues/2195
_DATE_RANGE_GAP = "github/rest-api-description#2195"


def _is_uri(value: Any) -> bool:
    if not isinstance(value, str):
        return True  # the type check reports non-strings
    parts = urlsplit(value)
    return bool(parts.scheme) and (parts.scheme not in ("http", "https") or bool(parts.netloc))


def _flatten_object_all_of(node: Any) -> Any:
    """`allOf` of object schemas as one object schema (properties and required merged).

    Loaded with additionalProperties "forbid", each branch of an `allOf` would refuse the
    other branches' properties, so no object could pass: `issues/update` answers
    `allOf: [Issue, {suggestions}]`. One merged schema admits exactly their union.
    """
    if isinstance(node, list):
        return [_flatten_object_all_of(item) for item in node]
    if not isinstance(node, dict):
        return node
    node = {key: _flatten_object_all_of(value) for key, value in node.items()}
    branches = node.get("allOf")
    if isinstance(branches, list) and all(
        isinstance(b, dict) and b.get("type") == "object" and "additionalProperties" not in b
        for b in branches
    ):
        merged: dict[str, Any] = {k: v for k, v in node.items() if k != "allOf"}
        merged["type"] = "object"
        merged["properties"] = {}
        required: list[str] = []
        for branch in branches:
            merged["properties"].update(branch.get("properties", {}))
            required += [r for r in branch.get("required", []) if r not in required]
        if required:
            merged["required"] = required
        return merged
    return node


def load_github_openapi(path: Path, *supplements: Path) -> OpenAPI:
    """Load GitHub's description with the strictness the emulator relies on (~1 s).

    `supplements` are further excerpts of the same description (same format): their
    paths and `info.x-operations` are added to the first one's.
    """
    data = json.loads(path.read_text(encoding="utf-8"))
    for extra in supplements:
        more = json.loads(extra.read_text(encoding="utf-8"))
        clash = set(data["paths"]) & set(more["paths"])
        if clash:
            raise ValueError(f"{extra.name} repeats paths of {path.name}: {sorted(clash)}")
        data["paths"].update(_flatten_object_all_of(more["paths"]))
        data["info"]["x-operations"] = sorted(
            set(data["info"].get("x-operations", [])) | set(more["info"]["x-operations"])
        )
    config = Config(
        additional_properties_default_policy="forbid",
        extra_format_validators={"uri": _is_uri},
    )
    return OpenAPI.from_dict(data, config=config)


def _parse_search_date(text: str) -> bool:
    try:
        if "T" in text:
            datetime.fromisoformat(text.replace("Z", "+00:00"))
        else:
            date.fromisoformat(text)
    except ValueError:
        return False
    return True


def is_search_date_range(value: str) -> bool:
    """True for GitHub search syntax dates: `>=D`, `<D`, `D..D`, `D..*`, `*..D`, `D`."""
    for prefix in (">=", "<=", ">", "<"):
        if value.startswith(prefix):
            return _parse_search_date(value[len(prefix) :])
    if ".." in value:
        low, _, high = value.partition("..")
        return all(part == "*" or _parse_search_date(part) for part in (low, high)) and (
            low,
            high,
        ) != ("*", "*")
    return _parse_search_date(value)


@dataclass(frozen=True)
class Operation:
    """One documented (method, path template) pair."""

    method: str
    template: str
    operation_id: str
    pattern: re.Pattern[str]
    multi_segment: frozenset[str]
    query_parameters: frozenset[str]
    statuses: frozenset[str]

    def match(self, path: str) -> dict[str, str] | None:
        found = self.pattern.fullmatch(path)
        return found.groupdict() if found else None

    def documents(self, status: int) -> bool:
        return str(status) in self.statuses or "default" in self.statuses


def _compile_template(template: str, multi_segment: frozenset[str]) -> re.Pattern[str]:
    regex = ""
    for piece in re.split(r"(\{[^}]+\})", template):
        if piece.startswith("{") and piece.endswith("}"):
            name = piece[1:-1]
            regex += f"(?P<{name}>.+)" if name in multi_segment else f"(?P<{name}>[^/]+)"
        else:
            regex += re.escape(piece)
    return re.compile(regex)


def _index_operations(data: Mapping[str, Any]) -> list[Operation]:
    operations: list[Operation] = []
    for template, item in data["paths"].items():
        shared = item.get("parameters", [])
        for method, op in item.items():
            if method not in ("get", "post", "put", "patch", "delete", "head"):
                continue
            params = [*shared, *op.get("parameters", [])]
            multi = frozenset(p["name"] for p in params if p.get("x-multi-segment"))
            operations.append(
                Operation(
                    method=method.upper(),
                    template=template,
                    operation_id=op["operationId"],
                    pattern=_compile_template(template, multi),
                    multi_segment=multi,
                    query_parameters=frozenset(p["name"] for p in params if p["in"] == "query"),
                    statuses=frozenset(op.get("responses", {})),
                )
            )
    # Literal paths before templated ones: `/user/packages` must not be taken
    # for `/users/{username}`-style templates.
    operations.sort(key=lambda o: o.template.count("{"))
    return operations


def _error_properties(data: Mapping[str, Any]) -> dict[str, str]:
    """{property: JSON type} over every error object the description defines
    (Basic Error, Validation Error, the 503 object)."""
    found: dict[str, str] = {}
    for item in data["paths"].values():
        for op in item.values():
            if not isinstance(op, dict):
                continue
            for status, response in op.get("responses", {}).items():
                if status[0] not in "45":
                    continue
                schema = response.get("content", {}).get("application/json", {}).get("schema", {})
                for name, prop in schema.get("properties", {}).items():
                    found.setdefault(name, prop.get("type", "string"))
    return found


def _is_nullable_enum_null(schema_error: Any) -> bool:
    """A null where the schema says `nullable: true` but its enum omits null.

    OpenAPI 3.0.3 reads `nullable` as widening `type` only, so such a null fails
    the enum (OAI/OpenAPI-Specification#1900); GitHub's description has this
    pattern (e.g. a job's `conclusion`) while GitHub sends null until a job ends.
    """
    schema = getattr(schema_error, "schema", None)
    return (
        getattr(schema_error, "validator", None) == "enum"
        and getattr(schema_error, "instance", 0) is None
        and isinstance(schema, Mapping)
        and schema.get("nullable") is True
    )


def _schema_errors(error: BaseException) -> list[Any]:
    found: list[Any] = []
    cause: BaseException | None = error
    seen: set[int] = set()
    while cause is not None and id(cause) not in seen:
        seen.add(id(cause))
        found.extend(getattr(cause, "schema_errors", None) or ())
        cause = cause.__cause__ or cause.__context__
    return found


def _describe_schema_error(schema_error: Any) -> str:
    where = "/".join(str(p) for p in getattr(schema_error, "absolute_path", []))
    message = getattr(schema_error, "message", str(schema_error))
    return f"at '{where or '<root>'}': {message}"


def describe_error(error: BaseException, *, skip: Iterable[Any] = ()) -> str:
    """One line naming every schema error inside an openapi-core exception."""
    head = type(error).__name__
    name = getattr(error, "name", None)
    if isinstance(name, str):
        head += f"({name!r})"
    skipped = {id(e) for e in skip}
    parts = [head]
    schema_errors = _schema_errors(error)
    parts += [_describe_schema_error(e) for e in schema_errors if id(e) not in skipped]
    if not schema_errors:
        cause = error.__cause__ or error.__context__
        if cause is not None:
            parts.append(f"{type(cause).__name__}: {cause}")
        elif str(error):
            parts.append(str(error))
    return "; ".join(parts)


@dataclass(frozen=True)
class Exchange:
    """What the checker needs to know about one HTTP request."""

    method: str
    path: str  # as received, percent-encoded, without the query
    query: list[tuple[str, str]]
    headers: Mapping[str, str]
    body: bytes


class SpecChecker:
    """Validates requests and responses against one loaded description."""

    def __init__(self, api: OpenAPI) -> None:
        self.api = api
        with api.spec.open() as data:
            self.operations = _index_operations(data)
            self.all_operation_ids = frozenset(data["info"].get("x-operations", []))
            self._error_properties = _error_properties(data)
        # openapi-core keeps caches that are not documented as thread-safe, and
        # the emulator serves requests from several threads.
        self._lock = threading.Lock()

    def operation(self, method: str, path: str) -> tuple[Operation, dict[str, str]] | None:
        for op in self.operations:
            if op.method != method.upper():
                continue
            params = op.match(path)
            if params is not None:
                return op, params
        return None

    def _mock_request(self, exchange: Exchange, op: Operation, params: dict[str, str]) -> Any:
        path = exchange.path
        if op.multi_segment:
            # Hand openapi-core one segment per parameter, as it expects.
            path = op.template
            for name, value in params.items():
                encoded = quote(value, safe="") if name in op.multi_segment else value
                path = path.replace("{" + name + "}", encoded)
        return MockRequest(
            GITHUB_API_URL,
            exchange.method.lower(),
            path,
            args=_multi(exchange.query),
            headers=dict(exchange.headers),
            data=exchange.body or None,
            content_type=exchange.headers.get("content-type", "application/json"),
        )

    def check_request(self, exchange: Exchange) -> tuple[list[str], list[str]]:
        """(violations, unvalidated notes) for one request."""
        label = f"{exchange.method} {exchange.path}"
        found = self.operation(exchange.method, exchange.path)
        if found is None:
            return [
                f"{label}: no operation of the OpenAPI description matches (unknown path or method)"
            ], []
        op, params = found
        violations: list[str] = []
        notes: list[str] = []
        for name in sorted({name for name, _ in exchange.query}):
            if name in op.query_parameters:
                continue
            gap = KNOWN_UNDOCUMENTED_QUERY_PARAMETERS.get((op.operation_id, name))
            if gap:
                notes.append(
                    f"{label}: query parameter {name!r} is not in the description of "
                    f"{op.operation_id} but works on GitHub ({gap})"
                )
            else:
                violations.append(
                    f"{label}: query parameter {name!r} is not documented for {op.operation_id} "
                    f"(documented: {', '.join(sorted(op.query_parameters)) or 'none'})"
                )
        documented_query = [(k, v) for k, v in exchange.query if k in op.query_parameters]
        checked = Exchange(
            exchange.method, exchange.path, documented_query, exchange.headers, exchange.body
        )
        with self._lock:
            errors = list(self.api.iter_request_errors(self._mock_request(checked, op, params)))
        for error in errors:
            parameter = getattr(error, "name", None)
            if parameter == "created" and any(
                k == "created" and is_search_date_range(v) for k, v in exchange.query
            ):
                notes.append(
                    f"{label}: 'created' uses GitHub's date range syntax, which the "
                    f"description types as a plain date-time ({_DATE_RANGE_GAP})"
                )
                continue
            violations.append(
                f"{label}: request invalid for {op.operation_id}: {describe_error(error)}"
            )
        return violations, notes

    def check_response(
        self,
        exchange: Exchange,
        status: int,
        headers: Mapping[str, str],
        body: bytes,
        *,
        origin: str = "emulator",
    ) -> tuple[list[str], list[str], bool]:
        """(violations, unvalidated notes, validated) for the answer to `exchange`.

        `validated` is True when the answer was checked against the operation's
        documented response for its status.
        """
        label = f"{exchange.method} {exchange.path} -> {status}"
        found = self.operation(exchange.method, exchange.path)
        if found is None:
            return (
                [],
                [f"{label}: no documented operation to validate the {origin} answer against"],
                False,
            )
        op, params = found
        if not op.documents(status):
            undocumented = (
                f"{label}: status {status} is not documented for {op.operation_id} "
                f"({origin} answer not validated against the description)"
            )
            return self._check_error_shape(label, status, body), [undocumented], False
        content_type = headers.get("content-type", "application/json").split(";")[0].strip()
        response = MockResponse(
            body, status_code=status, headers=dict(headers), content_type=content_type
        )
        with self._lock:
            errors = list(
                self.api.iter_response_errors(self._mock_request(exchange, op, params), response)
            )
        violations: list[str] = []
        notes: list[str] = []
        for error in errors:
            schema_errors = _schema_errors(error)
            tolerated = [e for e in schema_errors if _is_nullable_enum_null(e)]
            for schema_error in tolerated:
                notes.append(
                    f"{label}: {_describe_schema_error(schema_error)} is accepted: the description "
                    "marks it nullable but leaves null out of its enum "
                    "(OAI/OpenAPI-Specification#1900)"
                )
            if schema_errors and len(tolerated) == len(schema_errors):
                continue
            violations.append(
                f"{label}: {origin} response invalid for {op.operation_id}: "
                f"{describe_error(error, skip=tolerated)}"
            )
        return violations, notes, True

    def _check_error_shape(self, label: str, status: int, body: bytes) -> list[str]:
        """Problems with an error body, checked against GitHub's error objects."""
        if status < 400 or not body:
            return []
        try:
            payload = json.loads(body)
        except ValueError:
            return []  # a proxy's HTML error page, as GitHub's edge sends for some 5xx
        if not isinstance(payload, dict):
            return [f"{label}: error body is {type(payload).__name__}, not a GitHub error object"]
        problems = []
        if not isinstance(payload.get("message"), str):
            problems.append("'message' (a string) is missing")
        for key, value in payload.items():
            expected = self._error_properties.get(key)
            if expected is None:
                problems.append(f"{key!r} is not a property of GitHub's error object")
            elif not isinstance(value, _JSON_TYPES.get(expected, object)):
                problems.append(f"{key!r} must be of type {expected}, got {value!r}")
        return [f"{label}: error body is not a GitHub error object: {p}" for p in problems]


def _multi(pairs: Iterable[tuple[str, str]]) -> Any:
    return ImmutableMultiDict(list(pairs))


_JSON_TYPES: dict[str, type | tuple[type, ...]] = {
    "string": str,
    "integer": int,
    "array": list,
    "object": dict,
    "boolean": bool,
}

_CHECKERS: weakref.WeakKeyDictionary[OpenAPI, SpecChecker] = weakref.WeakKeyDictionary()
_CHECKERS_LOCK = threading.Lock()


def checker_for(api: OpenAPI) -> SpecChecker:
    """The (cached) checker of a loaded description."""
    with _CHECKERS_LOCK:
        checker = _CHECKERS.get(api)
        if checker is None:
            checker = _CHECKERS[api] = SpecChecker(api)
        return checker
