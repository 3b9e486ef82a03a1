"""From raw config strings to one resolved, frozen `StackConfig`, or one `ConfigError`.

`stack.models` checks each key on its own (pydantic collects every error);
this module applies the rules between keys (host under domain, images from
build and owner, a token where one is needed), derives defaults (environment,
namespace, host, tls, image repositories) and handles secrets: which keys may
be secret, and encrypted values read offline (`SECRET_PLACEHOLDER`).
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Callable, Collection, Mapping
from typing import Any, TypeVar

from pydantic import BaseModel, ConfigDict, ValidationError

from stack import naming, rules
from stack.contract import (
    DEFAULT_GITHUB_API,
    HOW_TO_SET_TOKEN,
    NS,
    PASSWORD_KEY,
    REDIS_URL_KEY,
    SECRET_ALLOWED_KEYS,
    SECRET_PLACEHOLDER,
    TOKEN_ENV,
    TOKEN_KEY,
)
from stack.errors import ConfigError, Reporter
from stack.image_sources import ImagesConfig, Judging, resolve_images, template_push_mismatches
from stack.keys import OBJECT_KEYS, TOP_LEVEL_KEYS, unknown_namespace, unknown_top_level
from stack.models import (
    AppConfig,
    BuildConfig,
    MigrationsConfig,
    PostgresConfig,
    RedisConfig,
    RoutingConfig,
)
from stack.production import REDIS_URL_FORMS, redis_url_problem
from stack.settings import GitHubSettings, StackSettings

M = TypeVar("M", bound=BaseModel)


class _Resolved(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class GitHubConfig(_Resolved):
    """`github:owner`, `github:baseUrl`; whether a token is present (never its value)."""

    owner: str | None = None
    base_url: str = DEFAULT_GITHUB_API
    has_token: bool = False


class StackConfig(_Resolved):
    """One environment, fully resolved (defaults applied, cross-key checks done)."""

    environment: str
    namespace: str
    allow_namespace_change: bool  # `tims-stack:allowNamespaceChange`
    domain: str | None
    host: str | None  # public host; None when domain is unset
    routing: RoutingConfig
    tls: bool
    cluster_issuer: str
    stopped: bool
    run_as_non_root: bool  # `tims-stack:runAsNonRoot` for the app containers
    images: ImagesConfig
    build: BuildConfig
    backend: AppConfig
    frontend: AppConfig
    postgres: PostgresConfig
    redis: RedisConfig
    github: GitHubConfig
    migrations: MigrationsConfig

    @property
    def public_url(self) -> str | None:
        """`https://<host>` (or http:// without TLS); None when there is no public host."""
        if self.host is None:
            return None
        return f"{'https' if self.tls else 'http'}://{self.host}"


def parse_config(
    raw: Mapping[str, str],
    *,
    stack: str,
    env: Mapping[str, str],
    secret_keys: Collection[str] = (),
    warn: Callable[[str], None] | None = None,
) -> StackConfig:
    """Validate raw config and resolve every default; raise ConfigError listing all problems.

    `raw` maps fully qualified keys (`tims-stack:backend`, `github:owner`) to the
    strings Pulumi's runtime holds: objects as JSON, booleans as "true"/"false".
    `env` is the process environment (only GITHUB_TOKEN is read). Values of
    `secret_keys` never appear in an error. `warn` receives non-fatal notes.
    """
    run, keys = Judging(Reporter(secret_keys, raw)), frozenset(secret_keys)
    given = _readable(raw, keys, run)
    stack_input = {k[len(NS) :]: v for k, v in given.items() if k.startswith(NS)}
    github_input = {k[7:]: v for k, v in given.items() if k.startswith("github:")}
    github_input.pop("token", None)  # only its presence matters; never validated or echoed
    settings = _validate(StackSettings, stack_input, NS, run)
    github = _validate(GitHubSettings, github_input, "github:", run)
    has_token = _token(raw, keys, env, run)
    password = ("the database user's password", "<password>")
    _mode_secret(raw, keys, run, PASSWORD_KEY, ("postgres", settings.postgres.mode), password)
    url = (f"the managed Redis's URL, {REDIS_URL_FORMS}", "<url>")
    redis = ("redis", settings.redis.mode)
    _mode_secret(raw, keys, run, REDIS_URL_KEY, redis, url, _redis_url_problem)
    _production_notes(settings, given, run)
    config = _resolve(settings, github, has_token, stack, run)
    if run.report.issues:
        raise ConfigError(run.report.issues, stack=stack)
    if warn is not None:
        for note in run.notes:
            warn(note)
    return config


def _readable(raw: Mapping[str, str], secret_keys: frozenset[str], run: Judging) -> dict[str, Any]:
    """The keys to validate, objects decoded; unknown keys and misplaced secrets reported."""
    given: dict[str, Any] = {}
    for key, value in raw.items():
        if key.startswith(NS) and key[len(NS) :] not in TOP_LEVEL_KEYS:
            run.report.add(key, unknown_top_level(key[len(NS) :]), value_free=True)
            continue
        if not key.startswith((NS, "github:")):
            if (problem := unknown_namespace(key)) is not None:
                run.report.add(key, problem, value_free=True)
            continue
        if key in secret_keys and value and key not in SECRET_ALLOWED_KEYS:
            run.report.add(key, _READ_AS_PLAIN_TEXT.format(key=key), value_free=True)
        if key in secret_keys and SECRET_PLACEHOLDER in value:
            # Read offline, never decrypted: the value is unknown, so it is not judged.
            object_key = key.removeprefix(NS) in OBJECT_KEYS  # a string has no fields
            if key in SECRET_ALLOWED_KEYS and object_key and value == SECRET_PLACEHOLDER:
                run.notes.append(
                    f"{key} is encrypted as a whole, so its fields cannot be checked offline; "
                    "its defaults stand in for it here"
                )
            if value == SECRET_PLACEHOLDER or key not in SECRET_ALLOWED_KEYS:
                run.broken.add(key.removeprefix(NS))  # given, but not judged
                continue
        given[key] = value
        if key[len(NS) :] in OBJECT_KEYS and key.startswith(NS):
            with contextlib.suppress(ValueError):  # not JSON: the model says so
                given[key] = json.loads(value)
    return given


_READ_AS_PLAIN_TEXT = (
    "is set as a secret, but the program reads this key as plain text: its value would be "
    "stored unencrypted in the Pulumi state (e.g. the ImageBuild inputs) and shown in previews. "
    "Only github:token, tims-stack:postgresPassword, tims-stack:redisUrl, tims-stack:backend "
    "and tims-stack:frontend (their env maps go into Kubernetes Secrets) may be secret. Set it "
    "again without --secret (`pulumi config set {key} <value>`, with --path for a field of "
    "an object), or move a secret value into tims-stack:backend.env or tims-stack:frontend.env"
)


def _validate(model: type[M], data: dict[str, Any], prefix: str, run: Judging) -> M:
    """`model` from `data`, every error reported; failing values dropped so the rest resolves."""
    for _attempt in range(4):
        try:
            return model.model_validate(data, by_alias=True, by_name=False)
        except ValidationError as error:
            if _attempt == 0:
                run.report.validation_error(error, prefix, model)
            paths = {tuple(str(p) for p in e["loc"] if p != "[key]") for e in error.errors()}
            for path in paths:
                run.broken.add(("" if prefix == NS else prefix) + ".".join(path))
                _drop(data, path if _attempt < 2 else path[:1])
    return model.model_validate({}, by_alias=True, by_name=False)


def _drop(data: Any, path: tuple[str, ...]) -> None:
    for part in path[:-1]:
        if not isinstance(data, dict) or part not in data:
            return
        data = data[part]
    if isinstance(data, dict) and path:
        data.pop(path[-1], None)


def _token(
    raw: Mapping[str, str], secret_keys: frozenset[str], env: Mapping[str, str], run: Judging
) -> bool:
    in_config = bool(raw.get(TOKEN_KEY))
    if in_config and TOKEN_KEY not in secret_keys:
        run.report.add(TOKEN_KEY, PLAIN_TEXT_REFUSAL, value_free=True)
    return in_config or bool(env.get(TOKEN_ENV))


def _mode_secret(
    raw: Mapping[str, str],
    secret_keys: frozenset[str],
    run: Judging,
    key: str,
    mode: tuple[str, str],
    what: tuple[str, str],
    problem: Callable[[str], str | None] = lambda _value: None,
) -> None:
    """A secret-only key needed exactly in a store's external mode: tims-stack:postgresPassword
    for postgres.mode, tims-stack:redisUrl for redis.mode. `mode` is (store, its mode);
    `what` is (what the value is, its placeholder in the `pulumi config set` line).

    Judged from `raw`: offline (render) the encrypted value is a placeholder that
    `_readable` keeps out of the settings, yet it is set; `problem` does not judge it
    then. Every message is value-free (a URL holds the password: not even its host or
    scheme is quoted back)."""
    (store, current), value = mode, raw.get(key, "")
    how = f"`pulumi config set --secret {key} {what[1]}`"
    if value and key not in secret_keys:
        run.report.add(
            key,
            f"is stored in plain text; remove it with `pulumi config rm {key}` and set it "
            f"again with {how}",
            value_free=True,
        )
    elif value and SECRET_PLACEHOLDER not in value and (found := problem(value)):
        run.report.add(key, f"{found}. Set it again with {how}", value_free=True)
    if current == "external" and not value and not run.hit(store):
        run.report.add(
            key,
            f"is required with {store}.mode 'external': {what[0]}, set with {how}",
            value_free=True,
        )
    elif value and current != "external":
        run.notes.append(f"{key} is set but {store}.mode is {current!r}: it is not used")


def _redis_url_problem(value: str) -> str | None:
    if (problem := redis_url_problem(value)) is None:
        return None
    return f"is not a Redis URL: the value {problem}; expected {REDIS_URL_FORMS}"


def _production_notes(s: StackSettings, given: Mapping[str, Any], run: Judging) -> None:
    """Settings the production profile makes unused (docs/production.md)."""
    for part in ("backend", "frontend"):
        fields = given.get(NS + part)
        if isinstance(fields, dict) and "replicas" in fields and "autoscaling" in fields:
            run.notes.append(
                f"{NS}{part}.replicas is not used: {NS}{part}.autoscaling sets the replicas"
            )
    if s.postgres.allow_mode_change:  # left on, it would let a later change through unasked
        run.notes.append(
            f"{NS}postgres.allowModeChange is true: a postgres.mode change is not refused; "
            f"remove it after the migration's `up` (`pulumi config rm --path "
            f"{NS}postgres.allowModeChange`)"
        )
    if s.redis.allow_mode_change:
        run.notes.append(
            f"{NS}redis.allowModeChange is true: a redis.mode change is not refused; remove "
            f"it after the switch's `up` (`pulumi config rm --path {NS}redis.allowModeChange`)"
        )
    redis = given.get(NS + "redis")
    unused = sorted(set(redis) - {"mode", "allowModeChange"}) if isinstance(redis, dict) else []
    if s.redis.mode == "external" and unused:
        run.notes.append(
            f"{NS}redis.{', '.join(unused)} not used with redis.mode 'external' (no Redis "
            "runs in the cluster)"
        )
    postgres = given.get(NS + "postgres")
    if s.postgres.mode != "inCluster" and isinstance(postgres, dict) and "image" in postgres:
        run.notes.append(
            f"{NS}postgres.image is not used with postgres.mode {s.postgres.mode!r}"
            + (" (set postgres.cloudnativepg.image)" if s.postgres.mode == "cloudnativepg" else "")
        )


PLAIN_TEXT_REFUSAL = (
    "is stored in plain text; remove it with `pulumi config rm github:token` and set it "
    "again with `pulumi config set --secret github:token <token>`"
)


def _resolve(
    s: StackSettings, github: GitHubSettings, has_token: bool, stack: str, run: Judging
) -> StackConfig:
    environment, env_ok = _environment(s, stack, run)
    namespace = s.namespace or (naming.default_namespace(environment) if env_ok else "invalid")
    host = _host(s, environment, env_ok, run)
    tls = _tls(s, run)
    if s.domain is None and s.routing != RoutingConfig() and not run.hit("domain"):
        run.notes.append(
            "tims-stack:routing is set but tims-stack:domain is not: no Ingress or HTTPRoute "
            "is created and URLs are cluster-internal"
        )
    images = resolve_images(s.images, s.build, github.owner, github.base_url, run)
    if images is not None and (images.private or images.source == "build") and not has_token:
        reason = "images.source is build" if images.source == "build" else "images.private is true"
        run.report.add(
            TOKEN_KEY,
            f"is required because {reason} (the program calls the GitHub API and makes the "
            f"registry pull secret); {HOW_TO_SET_TOKEN}",
            value_free=True,
        )
    if not any("{correlation_id}" in v for v in s.build.inputs.values()):
        run.notes.append(
            "tims-stack:build.inputs passes no {correlation_id}: if the GitHub server does "
            "not return the run id on dispatch, the run cannot be identified"
        )
    if images is not None:
        run.notes.extend(template_push_mismatches(s.build, images))
    return StackConfig(
        environment=environment,
        namespace=namespace,
        allow_namespace_change=s.allow_namespace_change,
        domain=s.domain,
        host=host if s.domain is not None else None,
        routing=s.routing,
        tls=tls,
        cluster_issuer=s.cluster_issuer,
        stopped=s.stopped,
        run_as_non_root=s.run_as_non_root,
        images=images or ImagesConfig(source="prebuilt", backend="invalid", frontend="invalid"),
        build=s.build,
        backend=s.backend,
        frontend=s.frontend,
        postgres=s.postgres,
        redis=s.redis,
        github=GitHubConfig(owner=github.owner, base_url=github.base_url, has_token=has_token),
        migrations=s.migrations,
    )


def _environment(s: StackSettings, stack: str, run: Judging) -> tuple[str, bool]:
    if run.hit("environment"):
        return "invalid", False
    if s.environment is not None:
        return s.environment, True
    if rules.is_label(stack):
        return stack, True
    run.report.add(
        NS + "environment",
        f"not set, and the stack name {stack!r} is not {rules.LABEL_RULE}; set one with "
        f"`pulumi config set {NS}environment {rules.suggest_label(stack)}`",
        value_free=True,  # quotes the stack name, not a config value
    )
    return stack, False


def _host(s: StackSettings, environment: str, env_ok: bool, run: Judging) -> str | None:
    key, domain = NS + "host", s.domain
    domain_given = domain is not None or run.hit("domain")
    if s.host is not None:
        if not domain_given:
            run.report.add(
                key,
                f"got {run.report.show(key, s.host)} but tims-stack:domain is not set; set the "
                "domain too (the backend derives its cookie domain and CSRF origins from it)",
                allowed="a host under tims-stack:domain, which must be set too",
            )
        elif domain is not None and s.host != domain and not s.host.endswith("." + domain):
            run.report.add(
                key,
                f"got {run.report.show(key, s.host)}, which is not {domain!r} or a name under "
                "it; the backend's session cookie is scoped to the domain",
                allowed="tims-stack:domain itself or a name under it (the session cookie is "
                "scoped to the domain)",
                about=(NS + "domain",),
            )
        return s.host
    if domain is None or not env_ok or run.hit("host"):
        return None
    host = naming.default_host(environment, domain)
    if (problem := rules.dns_name_problem(host)) is not None:
        run.report.add(
            key,
            f"the default host {host[:40]!r}... {problem}; set {key} or use a shorter "
            "environment id",
            allowed=f"a default host backend-<environment>.<domain> that is "
            f"{rules.DNS_NAME_RULE}; set {key} or use a shorter environment id",
            about=(NS + "domain", NS + "environment"),
        )
    return host


def _tls(s: StackSettings, run: Judging) -> bool:
    domain_given = s.domain is not None or run.hit("domain")
    if s.tls is None:
        return domain_given
    if s.tls and not domain_given:
        run.report.add(
            NS + "tls",
            "is true but tims-stack:domain is not set; TLS needs a public host name",
            allowed="false, or set tims-stack:domain (TLS needs a public host name)",
        )
    return s.tls
