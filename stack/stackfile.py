"""Raw config from `Pulumi.<stack>.yaml` and `Pulumi.yaml`, as Pulumi's runtime would hold it.

Used offline (`make render`, tests) where no Pulumi engine hands the program
its config. The result feeds `stack.config.parse_config` unchanged:
- scalars become strings (`true` -> "true", `3` -> "3");
- objects and arrays become JSON, as the CLI's Go `json.Marshal` writes them
  (`stack.config.runtime_string`: sorted keys, no spaces, integral numbers
  without a fraction);
- `secure:` values are never decrypted: they become SECRET_PLACEHOLDER and
  their top-level key is listed in `secret_keys` (`stack.resolve` then judges
  what it can without the value, as `pulumi up` would with it);
- a plain-text `github:token` is refused here, with the program's message:
  offline readers (render) put a fake token in its place, so the program
  would never see the plain one.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from stack.config import runtime_string
from stack.contract import SECRET_PLACEHOLDER, TOKEN_KEY
from stack.errors import ConfigError, ConfigIssue, did_you_mean
from stack.naming import PROJECT
from stack.resolve import PLAIN_TEXT_REFUSAL

__all__ = [
    "SECRET_PLACEHOLDER",
    "PulumiYamlLoader",
    "RawStackConfig",
    "StackFileError",
    "load_yaml",
    "raw_config_for_stack",
    "raw_config_from_project_file",
    "raw_config_from_stack_file",
]


class StackFileError(ValueError):
    """A stack or project file that cannot be read as Pulumi config."""


@dataclass(frozen=True)
class RawStackConfig:
    """Raw config values by fully qualified key, and which keys hold secrets."""

    values: dict[str, str] = field(default_factory=dict)
    secret_keys: frozenset[str] = frozenset()

    def overlay(self, top: RawStackConfig) -> RawStackConfig:
        """`top`'s values win, as a stack's own values win over Pulumi.yaml defaults."""
        secret = (self.secret_keys - top.values.keys()) | top.secret_keys
        return RawStackConfig(values={**self.values, **top.values}, secret_keys=secret)


class PulumiYamlLoader(yaml.SafeLoader):
    """YAML as the Pulumi CLI (Go, yaml.v3) reads it: only true/false are booleans.

    PyYAML follows YAML 1.1, where `yes`, `no`, `on` and `off` are booleans and
    `2024-01-01` a date; yaml.v3 keeps those as strings.
    """


PulumiYamlLoader.yaml_implicit_resolvers = {
    first: [
        (tag, regexp)
        for tag, regexp in resolvers
        if tag not in ("tag:yaml.org,2002:bool", "tag:yaml.org,2002:timestamp")
    ]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}
PulumiYamlLoader.add_implicit_resolver(
    "tag:yaml.org,2002:bool",
    re.compile(r"^(?:true|True|TRUE|false|False|FALSE)$"),
    list("tTfF"),
)


def load_yaml(path: Path) -> Any:
    """A Pulumi YAML file (project or stack) parsed as the CLI parses it; StackFileError if not."""
    try:
        return yaml.load(path.read_text(encoding="utf-8"), Loader=PulumiYamlLoader)  # noqa: S506 - a SafeLoader subclass
    except FileNotFoundError:
        raise StackFileError(f"{path}: no such file") from None
    except yaml.YAMLError as exc:
        raise StackFileError(f"{path}: not valid YAML: {yaml_problem(exc)}") from None


def yaml_problem(exc: yaml.YAMLError) -> str:
    """What is wrong and where, without the snippet PyYAML quotes: the offending line may
    hold a plain-text secret, and this message reaches terminals, CI logs and render's
    RENDER-FAILED.txt."""
    if not isinstance(exc, yaml.MarkedYAMLError):
        return type(exc).__name__
    parts = [
        f"{text} at line {mark.line + 1}, column {mark.column + 1}"
        for text, mark in ((exc.context, exc.context_mark), (exc.problem, exc.problem_mark))
        if text and mark is not None
    ]
    return "; ".join(parts) or type(exc).__name__


def _is_secure(value: Any) -> bool:
    return (
        isinstance(value, dict) and list(value) == ["secure"] and isinstance(value["secure"], str)
    )


def _plain(value: Any) -> tuple[Any, bool]:
    """(value with every secure leaf replaced, whether there was one)."""
    if _is_secure(value):
        return SECRET_PLACEHOLDER, True
    if isinstance(value, dict):
        found = False
        result: dict[str, Any] = {}
        for key, item in value.items():
            result[str(key)], secret = _plain(item)
            found = found or secret
        return result, found
    if isinstance(value, list):
        items = [_plain(item) for item in value]
        return [item for item, _ in items], any(secret for _, secret in items)
    if (
        isinstance(value, float)
        and math.isfinite(value)
        and value.is_integer()
        and abs(value) < 1e21
    ):
        return int(value), False  # Go's json.Marshal writes float64(2) as 2
    return value, False


def _config_map(path: Path, document: Any, what: str) -> Mapping[Any, Any]:
    if document is None:
        return {}
    if not isinstance(document, dict):
        raise StackFileError(
            f"{path}: expected a YAML mapping at the top, found {type(document).__name__}"
        )
    config = document.get("config")
    if config is None:
        return {}
    if not isinstance(config, dict):
        raise StackFileError(f"{path}: '{what}' must be a mapping of config keys")
    return config


_STACK_FILE_KEYS = ("config", "environment", "secretsprovider", "encryptedkey", "encryptionsalt")
"""`ProjectStack`'s fields (pulumi sdk/go/common/workspace/project.go); the CLI ignores others."""


def _stack_document(path: Path) -> Any:
    document = load_yaml(path)
    unknown = [str(k) for k in document if k not in _STACK_FILE_KEYS] if document else []
    if unknown or not isinstance(document, dict) or "config" not in document:
        what = did_you_mean(unknown[0], _STACK_FILE_KEYS, "top-level key") if unknown else ""
        raise StackFileError(
            f"{path}: {what or 'no `config:` mapping'}; a stack file holds its keys under "
            "`config:` (see Pulumi.example.yaml), and Pulumi ignores any other top-level key"
        )
    return document


def raw_config_from_stack_file(path: str | Path) -> RawStackConfig:
    """The `config:` map of a `Pulumi.<stack>.yaml` as the program's runtime would see it.

    Raises ConfigError for a plain-text `github:token` (never quoting it).
    """
    path = Path(path)
    values: dict[str, str] = {}
    secret: set[str] = set()
    for key, value in _config_map(path, _stack_document(path), "config").items():
        if not isinstance(key, str) or ":" not in key:
            raise StackFileError(
                f"{path}: config key {key!r} has no namespace; stack files use full keys "
                f"such as '{PROJECT}:domain' or 'github:owner'"
            )
        if value is None:
            continue
        plain, is_secret = _plain(value)
        values[key] = runtime_string(plain)
        if is_secret:
            secret.add(key)
    if values.get(TOKEN_KEY) and TOKEN_KEY not in secret:
        stack = path.name.removeprefix("Pulumi.").removesuffix(".yaml") or None
        raise ConfigError([ConfigIssue(TOKEN_KEY, PLAIN_TEXT_REFUSAL)], stack=stack)
    return RawStackConfig(values=values, secret_keys=frozenset(secret))


_DECLARATION_FIELDS = frozenset({"type", "description", "default", "value", "secret", "items"})


def raw_config_from_project_file(path: str | Path) -> RawStackConfig:
    """The values `Pulumi.yaml`'s `config:` block gives every stack (declared defaults and values).

    A key declared without a default or value gives nothing (the CLI would
    require it instead); a plain scalar is a value for every stack.
    """
    path = Path(path)
    document = load_yaml(path)
    project = document.get("name", PROJECT) if isinstance(document, dict) else PROJECT
    values: dict[str, str] = {}
    for key, declaration in _config_map(path, document, "config").items():
        full_key = key if ":" in str(key) else f"{project}:{key}"
        if isinstance(declaration, dict) and set(declaration) <= _DECLARATION_FIELDS:
            if "default" in declaration:
                value = declaration["default"]
            elif "value" in declaration:
                value = declaration["value"]
            else:
                continue
        else:
            value = declaration
        if value is not None:
            values[full_key] = runtime_string(_plain(value)[0])
    return RawStackConfig(values=values)


def raw_config_for_stack(
    stack_file: str | Path, project_file: str | Path | None = None
) -> RawStackConfig:
    """What the program sees for one stack: Pulumi.yaml's defaults under the stack file's values."""
    stack = raw_config_from_stack_file(stack_file)
    if project_file is None:
        return stack
    return raw_config_from_project_file(project_file).overlay(stack)
