"""Config errors: one `ConfigError` listing every problem, each naming its key, never a secret.

Validators in `stack.models` raise `fail(...)`; `Reporter.validation_error`
turns pydantic's collected errors into `ConfigIssue`s keyed like
`tims-stack:backend.replicas`. The `Reporter` decides per issue whether a
value may be shown: an issue about a secret key (or derived from one) keeps
only the key and what is allowed. Messages are built from keys and rules, not
from secret values; a scrub of whole secret values is only the last net.
"""

from __future__ import annotations

import contextlib
import difflib
import json
import typing
from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

import pulumi
from pydantic import BaseModel, ValidationError
from pydantic_core import PydanticCustomError

from stack.contract import SECRET_ONLY_KEYS, SECRET_PLACEHOLDER, TOKEN_KEY

ERROR_TYPE = "tims_stack"
"""The pydantic error type of our own validators' errors."""


@dataclass(frozen=True)
class ConfigIssue:
    """One problem: the full key (`tims-stack:backend.replicas`) and what is wrong."""

    key: str
    message: str

    def __str__(self) -> str:
        return f"{self.key}: {self.message}"


class ConfigError(pulumi.RunError):
    """Every problem found in one stack's config.

    A `pulumi.RunError`, so the Pulumi CLI shows the message without a Python
    traceback. Values of secret keys never appear in the text.
    """

    def __init__(self, issues: Collection[ConfigIssue], stack: str | None = None) -> None:
        self.issues: list[ConfigIssue] = list(issues)
        self.stack = stack
        super().__init__(self._render())

    def _render(self) -> str:
        where = f" of stack '{self.stack}'" if self.stack else ""
        count = len(self.issues)
        head = f"invalid configuration{where} ({count} problem{'s' if count != 1 else ''}):"
        return "\n".join([head, *(f"  - {issue}" for issue in self.issues)])

    def __str__(self) -> str:
        return self._render()


@dataclass(frozen=True)
class Finding:
    """One problem a validator found, at `at` below the value it validated."""

    allowed: str
    problem: str | None = None
    """Follows "got <value>, which"; None: the message is "got <value>; expected <allowed>"."""
    at: tuple[str, ...] = ()
    value: Any = None
    has_value: bool = False
    """Whether `value` is what was found at `at` (else the validated input is shown)."""
    value_free: bool = False
    """`problem` is the whole message and quotes no config value (shown for secret keys too)."""


def fail(
    allowed: str,
    problem: str | None = None,
    *,
    value_free: bool = False,
) -> PydanticCustomError:
    """The error a validator raises: pydantic collects it with every other one."""
    return fail_all([Finding(allowed=allowed, problem=problem, value_free=value_free)])


def fail_all(findings: Iterable[Finding]) -> PydanticCustomError:
    """One error carrying several findings (e.g. one per env variable of a map)."""
    found = tuple(findings)
    summary = "; ".join(f.problem or f"expected {f.allowed}" for f in found)
    return PydanticCustomError(ERROR_TYPE, "{summary}", {"summary": summary, "findings": found})


def short(value: Any, limit: int = 60) -> str:
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def closest(name: str, allowed: Collection[str]) -> str | None:
    """The allowed name `name` most likely misspells, if one is close."""

    def fold(text: str) -> str:
        return text.lower().replace("-", "").replace("_", "")

    folded = fold(name)
    same = [a for a in allowed if fold(a) == folded]
    prefix = [a for a in allowed if len(folded) >= 3 and fold(a).startswith(folded)]
    close = same or difflib.get_close_matches(name, list(allowed), n=1, cutoff=0.6) or prefix
    return close[0] if close else None


def did_you_mean(name: str, allowed: Collection[str], what: str = "key") -> str:
    """'unknown key ...; did you mean ...?' with the closest allowed key, if one is close."""
    close = closest(name, allowed)
    hint = f"; did you mean {close!r}?" if close else "."
    return f"unknown {what} {name!r}{hint} Allowed: {', '.join(allowed)}"


_MIN_SCRUBBED = 4
"""Shorter secret strings are not scrubbed: they would mangle ordinary words."""


def _leaf_strings(value: Any) -> list[str]:
    """Every string inside a decoded JSON value (not object keys: those are config keys)."""
    if isinstance(value, str):
        return [value]
    if isinstance(value, dict):
        return [leaf for item in value.values() for leaf in _leaf_strings(item)]
    if isinstance(value, list):
        return [leaf for item in value for leaf in _leaf_strings(item)]
    return []


def _secret_strings(values: Collection[str]) -> tuple[str, ...]:
    """Secret raw values and strings in them, longest first (SECRET_PLACEHOLDER is none)."""
    leaves: set[str] = set()
    for text in values:
        leaves.add(text)
        with contextlib.suppress(ValueError):  # a plain string is its own only leaf
            leaves.update(_leaf_strings(json.loads(text)))
    leaves.discard(SECRET_PLACEHOLDER)
    return tuple(sorted((v for v in leaves if len(v) >= _MIN_SCRUBBED), key=len, reverse=True))


_ALLOWED: dict[str, str] = {
    "int_type": "an integer (a JSON number without quotes or decimals)",
    "int_parsing": "an integer (a JSON number without quotes or decimals)",
    "int_from_float": "an integer (a JSON number without quotes or decimals)",
    "greater_than_equal": "an integer >= {ge}",
    "less_than_equal": "an integer <= {le}",
    "bool_type": "a JSON boolean, true or false (not a string)",
    # `pulumi config set --path` stores true/false and integers as such: --type keeps a string.
    "string_type": 'a string: quote numbers and booleans in the stack file (e.g. "true"); with '
    "`pulumi config set --path`, add `--type string` (Pulumi CLI 3.148 or newer)",
    "string_too_short": "a non-empty string",
    "literal_error": "{expected}",
    "dict_type": "an object of names to values",
    "too_long": "at most {max_length} entries",
}


class Reporter:
    """Collects issues; never shows the value of a secret key."""

    def __init__(self, secret_keys: Collection[str], raw: Mapping[str, str]) -> None:
        self.issues: list[ConfigIssue] = []
        # Secret even when a user stored them in plain text by mistake.
        self.secret_keys = frozenset(secret_keys) | {TOKEN_KEY, *SECRET_ONLY_KEYS}
        self._secrets = _secret_strings([v for k, v in raw.items() if k in self.secret_keys and v])

    def is_secret(self, key: str) -> bool:
        return key.split(".", 1)[0] in self.secret_keys

    def show(self, key: str, value: Any) -> str:
        if self.is_secret(key):
            return "<secret value>"
        # Scrubbed before shortening: a cut-off secret would slip past the scrub in `add`.
        return short(self.scrub(value) if isinstance(value, str) else value)

    def scrub(self, text: str) -> str:
        """The last net: `text` without any whole secret value.

        Messages are built from keys and rules, and issues about a secret key
        keep only what is allowed (`add`), so this should never find anything.
        """
        for secret in self._secrets:
            text = text.replace(secret, "<secret>")
        return text

    def add(
        self,
        key: str,
        message: str,
        *,
        allowed: str | None = None,
        about: Collection[str] = (),
        value_free: bool = False,
    ) -> None:
        """Record an issue for `key`.

        `allowed` says what is allowed; it is all that is kept of the message
        when `key` or a key in `about` (keys the message is derived from) is
        secret. `value_free=True` promises the message quotes no config value.
        """
        secret = next((k for k in (key, *about) if self.is_secret(k)), None)
        if secret is not None and not value_free:
            top = secret.split(".", 1)[0]
            message = (
                f"is not valid; {top} is secret, so neither its value nor what is wrong with it "
                "is shown"
                + (
                    f"; expected {allowed}"
                    if allowed
                    else "; see docs/config.md for allowed values"
                )
            )
        self.issues.append(ConfigIssue(key, self.scrub(message)))

    def bad(self, key: str, value: Any, allowed: str, problem: str | None = None) -> None:
        """The common shapes: "got X; expected Y" or "got X, which <problem>"."""
        shown = self.show(key, value)
        message = f"got {shown}, which {problem}" if problem else f"got {shown}; expected {allowed}"
        self.add(key, message, allowed=allowed)

    def validation_error(self, error: ValidationError, prefix: str, model: type[BaseModel]) -> None:
        """Record every error pydantic collected, keyed `<prefix><dotted location>`."""
        for item in error.errors():
            loc = tuple(str(part) for part in item["loc"])
            path = tuple(part for part in loc if part != "[key]")
            key = prefix + ".".join(path)
            ctx: dict[str, Any] = dict(item.get("ctx") or {})
            if item["type"] == ERROR_TYPE:
                for found in ctx["findings"]:
                    self._finding(key, item.get("input"), found)
            elif item["type"] == "extra_forbidden":
                names = _field_names(_model_at(model, path[:-1]))
                self.add(key, did_you_mean(path[-1], names), value_free=True)
            elif item["type"] == "missing":
                # pydantic's input here is the object holding the field: never shown.
                self.add(key, _required(_model_at(model, path[:-1]), path[-1]), value_free=True)
            elif item["type"] in ("model_type", "model_attributes_type"):
                names = _field_names(_model_at(model, path))
                self.bad(key, item.get("input"), f"an object with the keys {', '.join(names)}")
            else:
                allowed = _ALLOWED.get(item["type"], item["msg"]).format(**ctx)
                self.bad(key, item.get("input"), allowed)

    def _finding(self, key: str, value: Any, found: Finding) -> None:
        key = ".".join((key, *found.at))
        value = found.value if found.has_value else value
        if found.value_free and found.problem:
            self.add(key, found.problem, value_free=True)
        else:
            self.bad(key, value, found.allowed, found.problem)


def _required(model: type[BaseModel] | None, name: str) -> str:
    """'is required: <what the field holds>' for a missing field of `model`."""
    fields = model.model_fields.items() if model is not None else []
    what = next((f.description or "" for n, f in fields if name in (n, f.alias)), "")
    if what[1:2].islower():  # "Fewest replicas" -> "fewest replicas"; "DNS name" stays
        what = what[0].lower() + what[1:]
    return f"is required: {what.rstrip('.')}" if what else "is required"


def _field_names(model: type[BaseModel] | None) -> list[str]:
    if model is None:
        return []
    return [field.alias or name for name, field in model.model_fields.items()]


def model_in(annotation: Any) -> type[BaseModel] | None:
    """The pydantic model inside an annotation (`X`, `X | None`, `Annotated[X, ...]`), or None."""
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    for arg in typing.get_args(annotation):
        if (found := model_in(arg)) is not None:
            return found
    return None


def _model_at(root: type[BaseModel], path: tuple[str, ...]) -> type[BaseModel] | None:
    """The model validating the value at `path` below `root` (None for a non-model value)."""
    model: type[BaseModel] | None = root
    for part in path:
        if model is None:
            return None
        field = next(
            (f for n, f in model.model_fields.items() if part in (n, f.alias)),
            None,
        )
        model = model_in(field.annotation) if field is not None else None
    return model
