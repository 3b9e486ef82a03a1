"""The top-level keys: `StackSettings` (every `tims-stack:*` key) and `GitHubSettings`.

Pulumi's runtime holds every value as a string; the `Runtime*` and `Derived`
validators (`stack.fields`) read those strings. See `stack.models` for how
to add a key.
"""

from __future__ import annotations

import json
from typing import Annotated, Any

from pydantic import (
    AfterValidator,
    BeforeValidator,
    ConfigDict,
    Field,
    ValidationInfo,
)

from stack import rules
from stack.contract import (
    DEFAULT_CLUSTER_ISSUER,
    DEFAULT_GITHUB_API,
    NS,
)
from stack.errors import fail, model_in
from stack.fields import (
    SUBDOMAIN,
    ConfigModel,
    Derived,
    DnsName,
    Label,
    Namespace,
    RuntimeBool,
    declared,
    matches,
)
from stack.models import (
    BackendConfig,
    BuildConfig,
    FrontendConfig,
    ImagesSettings,
    MigrationsConfig,
    PostgresConfig,
    RedisConfig,
    RoutingConfig,
)


def _runtime_object(value: Any, info: ValidationInfo) -> Any:
    """Pulumi's runtime holds an object key as its JSON text."""
    if not isinstance(value, str):
        return value
    try:
        return json.loads(value)
    except ValueError:
        name = info.field_name or ""
        declared = StackSettings.model_fields[name]
        key = NS + (declared.alias or name)
        model = model_in(declared.annotation)
        fields = [f.alias or n for n, f in model.model_fields.items()] if model else []
        allowed = (
            f"an object with the keys {', '.join(fields)}, "
            f"e.g. `pulumi config set --path {key}.<field> <value>`"
        )
        raise fail(allowed, f"is not JSON; expected {allowed}") from None


RuntimeObject = BeforeValidator(_runtime_object)


class StackSettings(ConfigModel):
    """Every `tims-stack:*` key, as given (derived values unresolved)."""

    environment: Annotated[Label | None, Derived] = Field(
        default=None,
        description="Environment id, an RFC 1123 label (lowercase letters, digits, '-', at most "
        "63). Empty: the stack name, which must then be a valid label.",
    )
    namespace: Annotated[Namespace | None, Derived] = Field(
        default=None,
        description="Kubernetes namespace (RFC 1123 label), owned by the environment: destroy "
        "deletes it, so default and kube-* are refused. Empty: tims-stack-<environment>, cut to "
        "63 characters with a 6-hex-digit hash suffix when longer.",
    )
    allow_namespace_change: Annotated[bool, RuntimeBool] = Field(
        alias="allowNamespaceChange",
        default=False,
        description="true lets `up` change the namespace of a live environment (a changed "
        "namespace or environment): it makes a new, empty namespace and deletes the old one "
        "with its databases and volumes. Set it for one `up` after a dump, then remove it.",
    )
    domain: Annotated[DnsName | None, Derived] = Field(
        default=None,
        description="Base domain, e.g. example.com. Empty: no Ingress or HTTPRoute; URLs are "
        "cluster-internal. Session cookies and CSRF trust stay with each environment's own host.",
    )
    host: Annotated[DnsName | None, Derived] = Field(
        default=None,
        description="Public host name. Empty: backend-<environment>.<domain>. Needs domain, and "
        "must be the domain or a name under it.",
    )
    routing: Annotated[RoutingConfig, RuntimeObject] = Field(
        default_factory=RoutingConfig, description="Ingress or Gateway API routing."
    )
    tls: Annotated[bool | None, RuntimeBool, Derived] = Field(
        default=None,
        description="TLS through cert-manager on the Ingress (with a Gateway, TLS is the "
        "listener's; this only picks https:// and wss:// URLs). Empty: true when domain is set. "
        "true without domain is an error.",
    )
    cluster_issuer: Annotated[
        str, SUBDOMAIN, declared(f"a ClusterIssuer name, {rules.SUBDOMAIN_RULE}")
    ] = Field(
        alias="clusterIssuer",
        default=DEFAULT_CLUSTER_ISSUER,
        description="cert-manager ClusterIssuer for the Ingress certificate.",
    )
    stopped: Annotated[bool, RuntimeBool] = Field(
        default=False,
        description="Scale every workload to 0 and keep data (PVC, Secrets); false brings back "
        "the configured replicas. See make stop / make start.",
    )
    run_as_non_root: Annotated[bool, RuntimeBool] = Field(
        alias="runAsNonRoot",
        default=False,
        description="Set runAsNonRoot on the backend and frontend containers.",
    )
    images: Annotated[ImagesSettings, RuntimeObject] = Field(
        default_factory=ImagesSettings, description="Where the application images come from."
    )
    build: Annotated[BuildConfig, RuntimeObject] = Field(
        default_factory=BuildConfig,
        description='How images are built (images.source "build"). Needs github:token.',
    )
    backend: Annotated[BackendConfig, RuntimeObject] = Field(
        default_factory=BackendConfig, description="The Django backend. May be secret."
    )
    frontend: Annotated[FrontendConfig, RuntimeObject] = Field(
        default_factory=FrontendConfig, description="The Next.js frontend. May be secret."
    )
    postgres: Annotated[PostgresConfig, RuntimeObject] = Field(
        default_factory=PostgresConfig,
        description="Postgres: the in-cluster StatefulSet, a managed database or a "
        "CloudNativePG Cluster (mode; docs/production.md).",
    )
    redis: Annotated[RedisConfig, RuntimeObject] = Field(
        default_factory=RedisConfig,
        description="Redis: the in-cluster StatefulSet or a managed Redis (mode; "
        "docs/production.md).",
    )
    migrations: Annotated[MigrationsConfig, RuntimeObject] = Field(
        default_factory=MigrationsConfig,
        description="The Job that runs the backend's run-once start-up steps (migrate, admin "
        "user, test users) before each backend rollout. See docs/app-runtime.md.",
    )
    postgres_password: Annotated[str | None, Derived] = Field(
        alias="postgresPassword",
        default=None,
        description="SECRET. Password of postgres.external.user, required with postgres.mode "
        "external: `pulumi config set --secret tims-stack:postgresPassword <password>` (a "
        "plain-text value is refused).",
    )
    redis_url: Annotated[str | None, Derived] = Field(
        alias="redisUrl",
        default=None,
        description="SECRET. URL of the managed Redis, required with redis.mode external: "
        "redis://[[<user>]:<password>@]<host>[:<port>][/<db>], or rediss://... for TLS. "
        "`pulumi config set --secret tims-stack:redisUrl <url>` (a plain-text value is refused).",
    )


def _base_url(value: str) -> str:
    url = value.rstrip("/")
    if (problem := rules.base_url_problem(url)) is not None:
        allowed = "an https:// URL such as https://api.github.com (http only for loopback)"
        if "@" in url.split("//", 1)[-1].split("/", 1)[0]:
            # A URL with credentials is not echoed: the password is a secret.
            raise fail(allowed, f"got a URL, which {problem}", value_free=True)
        raise fail(allowed, problem)
    return url


class GitHubSettings(ConfigModel):
    """The `github:*` keys this program reads; other pulumi-github keys are left alone."""

    model_config = ConfigDict(extra="ignore")

    token: str | None = Field(
        default=None,
        description="Secret GitHub token; required when images.source is build or images.private "
        "is true. `pulumi config set --secret github:token <token>`, or export GITHUB_TOKEN. A "
        "plain-text value is refused. The pulumi-github provider reads the same key.",
    )
    owner: Annotated[
        Annotated[
            str,
            matches(
                lambda v: bool(rules.GITHUB_LOGIN.match(v)),
                "a GitHub user or organisation login: letters, digits and single inner '-', "
                "at most 39",
            ),
        ]
        | None,
        Derived,
    ] = Field(
        default=None,
        description="GitHub user or organisation owning the default image repositories "
        "(ghcr.io/<owner>/...). Default: the owner of build.repository.",
    )
    base_url: Annotated[
        str, BeforeValidator(lambda v: v or DEFAULT_GITHUB_API), AfterValidator(_base_url)
    ] = Field(
        alias="baseUrl",
        default=DEFAULT_GITHUB_API,
        description="GitHub API URL, https. For GitHub Enterprise Server https://<host>/api/v3.",
    )
