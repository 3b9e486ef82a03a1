"""The validated configuration of one environment: the public interface.

`load_config` reads the Pulumi runtime config and calls `parse_config`, which
turns the raw config strings into a frozen `StackConfig` or raises one
`ConfigError` listing every problem. Components take the resulting
`StackConfig`; they never call `pulumi.Config()`.

Where things are:
- `stack.models`: the schema, every `tims-stack:*` key declared once as
  pydantic fields (types, bounds, defaults, descriptions). Its docstring says
  how to add a key.
- `stack.resolve`: rules between keys, derived defaults, secrets handling.
- `stack.keys`: the key set, and what to say about an unknown key.
- `stack.rules`: syntax checks (DNS names, quantities, refs, images).
- `stack.errors`: `ConfigError`, and how pydantic's errors become messages.
- `stack.contract`: fixed names and defaults of the contract.
- `stack.generate`: Pulumi.yaml's config block, docs/config.md's key table and
  schema/stack-config.schema.json, generated from the models.

Why the rules are as they are: docs/contributing/architecture.md, "Config decisions".
"""

from __future__ import annotations

import json
import math
import os
from typing import Any

import pulumi
import pulumi.runtime

from stack.contract import (
    BACKEND_CONTRACT_ENV,
    DEFAULT_BUILD_INPUTS,
    DEFAULT_MIGRATION_STEPS,
    DEFAULT_POSTGRES_IMAGE,
    DEFAULT_REDIS_IMAGE,
    FRONTEND_CONTRACT_ENV,
    HOW_TO_SET_TOKEN,
    NS,
    PASSWORD_KEY,
    PROJECT,
    REDIS_URL_KEY,
    SECRET_ALLOWED_KEYS,
    TOKEN_ENV,
    TOKEN_KEY,
)
from stack.errors import ConfigError, ConfigIssue
from stack.image_sources import ImagesConfig
from stack.keys import GITHUB_KEYS, TOP_LEVEL_KEYS
from stack.models import (
    AppConfig,
    BuildConfig,
    MigrationsConfig,
    PostgresConfig,
    RedisConfig,
    Resources,
    RoutingConfig,
)
from stack.resolve import GitHubConfig, StackConfig, parse_config
from stack.rules import build_ref_problem, is_label

__all__ = [
    "BACKEND_CONTRACT_ENV",
    "DEFAULT_BUILD_INPUTS",
    "DEFAULT_MIGRATION_STEPS",
    "DEFAULT_POSTGRES_IMAGE",
    "DEFAULT_REDIS_IMAGE",
    "FRONTEND_CONTRACT_ENV",
    "GITHUB_KEYS",
    "NS",
    "PASSWORD_KEY",
    "PROJECT",
    "REDIS_URL_KEY",
    "SECRET_ALLOWED_KEYS",
    "TOKEN_ENV",
    "TOKEN_KEY",
    "TOP_LEVEL_KEYS",
    "AppConfig",
    "BuildConfig",
    "ConfigError",
    "ConfigIssue",
    "GitHubConfig",
    "ImagesConfig",
    "MigrationsConfig",
    "PostgresConfig",
    "RedisConfig",
    "Resources",
    "RoutingConfig",
    "Secrets",
    "StackConfig",
    "build_ref_problem",
    "is_label",
    "load_config",
    "parse_config",
    "runtime_config",
    "runtime_string",
]


class Secrets:
    """Secret inputs, kept out of the pydantic model so they are never printed.

    `github_token` is an `Output[str]` marked secret (from `github:token` via
    `get_secret`, or env GITHUB_TOKEN wrapped in `Output.secret`), or None when
    no token is configured.
    """

    def __init__(
        self,
        github_token: pulumi.Output[str] | None,
        postgres_password: pulumi.Output[str] | None = None,
        redis_url: pulumi.Output[str] | None = None,
    ) -> None:
        self.github_token = github_token
        self.postgres_password = postgres_password
        """`tims-stack:postgresPassword` (secret), read only with postgres.mode external."""
        self.redis_url = redis_url
        """`tims-stack:redisUrl` (secret), read only with redis.mode external."""

    def require_github_token(self) -> pulumi.Output[str]:
        """The token, where config has already required one (build mode, private images)."""
        if self.github_token is None:
            raise ValueError(f"github:token: {HOW_TO_SET_TOKEN}")
        return self.github_token

    def __repr__(self) -> str:
        token = "<secret>" if self.github_token else None
        password = "<secret>" if self.postgres_password else None
        redis_url = "<secret>" if self.redis_url else None
        return f"Secrets(github_token={token}, postgres_password={password}, redis_url={redis_url})"


def _go_integral(value: Any) -> Any:
    """Integral floats as ints inside objects: Go's json.Marshal writes float64(2) as 2."""
    if (
        isinstance(value, float)
        and math.isfinite(value)
        and value.is_integer()
        and abs(value) < 1e21
    ):
        return int(value)
    if isinstance(value, dict):
        return {str(k): _go_integral(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_go_integral(v) for v in value]
    return value


def runtime_string(value: Any) -> str:
    """A config value as the string Pulumi's runtime holds (what the CLI puts in PULUMI_CONFIG).

    Strings as they are, booleans "true"/"false", numbers as written; objects and
    arrays as the CLI's Go `json.Marshal` writes them: compact, keys sorted,
    non-ASCII kept, `<`, `>`, `&` escaped as \u003c, \u003e, \u0026, integral
    numbers without a fraction. Used by `runtime_config`, `stack.stackfile` and
    the mocks, so all three hand `parse_config` the same text.
    """
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return str(value)
    text = json.dumps(
        _go_integral(value), separators=(",", ":"), sort_keys=True, ensure_ascii=False
    )
    return (
        text.replace("<", "\\u003c")
        .replace(">", "\\u003e")
        .replace("&", "\\u0026")
        .replace("\u2028", "\\u2028")
        .replace("\u2029", "\\u2029")
    )


def runtime_config() -> tuple[dict[str, str], set[str]]:
    """Every config value Pulumi passed, and the secret ones. The engine passes the stack's
    whole config, decrypted (pulumi pkg/resource/deploy/source_eval.go, evalSource.Iterate),
    in PULUMI_CONFIG; tests and providers set it with `set_all_config`, which wins."""
    merged: dict[str, Any] = dict(pulumi.runtime.get_config_env())
    merged.update(pulumi.runtime.config.CONFIG.get())
    raw = {k: runtime_string(v) for k, v in merged.items() if v is not None}
    return raw, {k for k in raw if is_secure(k)}


def is_secure(key: str) -> bool:
    """Whether the stack file stores `key` (or a part of it, set with --path) as secure."""
    return (
        pulumi.runtime.is_config_secret(key) or key in pulumi.runtime.get_config_secret_keys_env()
    )


def load_config() -> tuple[StackConfig, Secrets]:
    """Read and validate this stack's config once; the token comes back as a secret Output."""
    raw, secret_keys = runtime_config()
    config = parse_config(
        raw,
        stack=pulumi.get_stack(),
        env=os.environ,
        secret_keys=secret_keys,
        warn=pulumi.log.warn,
    )
    token: pulumi.Output[str] | None = None
    if raw.get(TOKEN_KEY):
        token = pulumi.Config("github").get_secret("token")
    elif os.environ.get(TOKEN_ENV):
        token = pulumi.Output.secret(os.environ[TOKEN_ENV])
    password: pulumi.Output[str] | None = None
    if config.postgres.mode == "external":  # parse_config required it, as a secret
        password = pulumi.Config(PROJECT).require_secret(PASSWORD_KEY.removeprefix(NS))
    redis_url: pulumi.Output[str] | None = None
    if config.redis.mode == "external":  # parse_config required it, as a secret
        redis_url = pulumi.Config(PROJECT).require_secret(REDIS_URL_KEY.removeprefix(NS))
    return config, Secrets(github_token=token, postgres_password=password, redis_url=redis_url)
