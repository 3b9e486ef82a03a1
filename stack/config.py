"""The validated configuration of one environment.

INTERFACE SKELETON (integration contract between helpers): the field names,
types and meaning below are what `components/` and `__main__.py` consume.
Validation, defaults resolution and loading from `pulumi.Config` are filled in
by the config work; do not rename fields without updating every consumer.

Every model is frozen. Field names are snake_case in Python and camelCase in
the stack file (aliases), e.g. `routing.className`, `build.deleteImagesOnDestroy`.
"""

from __future__ import annotations

from typing import Literal

import pulumi
from pydantic import BaseModel, ConfigDict, Field


class _Model(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid", populate_by_name=True)


class Resources(_Model):
    """Kubernetes resource requests and limits, e.g. {"cpu": "250m", "memory": "256Mi"}."""

    requests: dict[str, str] = Field(default_factory=dict)
    limits: dict[str, str] = Field(default_factory=dict)


class AppConfig(_Model):
    """`tims-stack:backend` / `tims-stack:frontend`."""

    replicas: int
    env: dict[str, str] = Field(default_factory=dict)
    resources: Resources = Field(default_factory=Resources)


class RoutingConfig(_Model):
    """`tims-stack:routing`."""

    kind: Literal["ingress", "gateway"] = "ingress"
    class_name: str | None = Field(default=None, alias="className")
    gateway: str | None = None
    gateway_namespace: str | None = Field(default=None, alias="gatewayNamespace")
    section_name: str | None = Field(default=None, alias="sectionName")


class ImagesConfig(_Model):
    """`tims-stack:images`, resolved: `source` is never None after loading."""

    source: Literal["build", "prebuilt"]
    backend: str  # repository without tag, e.g. ghcr.io/acme/tims-stack-backend-image-prod
    frontend: str
    tag: str | None = None  # prebuilt only
    private: bool = False


class BuildConfig(_Model):
    """`tims-stack:build` (only meaningful when images.source == "build")."""

    repository: str | None = None  # owner/name
    workflow: str = "build-images.yml"
    ref: str = "main"
    inputs: dict[str, str] | None = None  # None: the default mapping for our template
    timeout: int = 1800  # seconds
    delete_images_on_destroy: bool = Field(default=True, alias="deleteImagesOnDestroy")


class PostgresConfig(_Model):
    """`tims-stack:postgres`."""

    image: str = "postgres:18-alpine"
    storage: str = "1Gi"
    storage_class: str | None = Field(default=None, alias="storageClass")
    resources: Resources = Field(default_factory=Resources)


class RedisConfig(_Model):
    """`tims-stack:redis`."""

    image: str = "redis:7.4-alpine"
    resources: Resources = Field(default_factory=Resources)


class GitHubConfig(_Model):
    """`github:owner`, `github:baseUrl`; whether a token is present (never its value)."""

    owner: str | None = None
    base_url: str = "https://api.github.com"
    has_token: bool = False


class StackConfig(_Model):
    """One environment, fully resolved (defaults applied, cross-field checks done)."""

    environment: str
    namespace: str
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

    @property
    def public_url(self) -> str | None:
        """`https://<host>` (or http:// without TLS); None when there is no public host."""
        if self.host is None:
            return None
        return f"{'https' if self.tls else 'http'}://{self.host}"


class Secrets:
    """Secret inputs, kept out of the pydantic model so they are never printed.

    `github_token` is an `Output[str]` marked secret (from `github:token` via
    `require_secret`/`get_secret`, or env GITHUB_TOKEN wrapped in
    `Output.secret`), or None when no token is configured.
    """

    def __init__(self, github_token: pulumi.Output[str] | None) -> None:
        self.github_token = github_token

    def __repr__(self) -> str:
        return f"Secrets(github_token={'<secret>' if self.github_token else None})"
