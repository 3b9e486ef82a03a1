"""The validated configuration of one environment.

`parse_config` turns the raw config strings Pulumi hands the program into a
frozen `StackConfig`, or raises one `ConfigError` listing every problem found.
`load_config` reads the Pulumi runtime config and calls it. Components take
the resulting `StackConfig`; they never call `pulumi.Config()`.

Field names are snake_case in Python and camelCase in the stack file
(aliases), e.g. `routing.className`, `build.deleteImagesOnDestroy`.

Decisions worth knowing (README documents them for users):
- An empty string for `environment`, `namespace`, `domain`, `host` or `tls`
  means "derive it". Pulumi.yaml declares these keys with default "" because
  a declared key without a default would be required by the Pulumi CLI.
- `host` needs `domain` and must be `domain` itself or a name under it: the
  backend sets its session cookie domain and CSRF origins from `domain`, so a
  host outside it would break logins.
- `images.private` defaults to true with `source=build`: GHCR makes a newly
  pushed package private, and build mode has a token for the pull secret anyway.
- `github:baseUrl` may be plain `http://` only for a loopback host (local API
  emulators); anything else must be https.
- Only `github:token`, `tims-stack:backend` and `tims-stack:frontend` may be
  secret: every other value is read as plain text and would land unencrypted
  in state (ImageBuild inputs) and previews.
- An error never shows any part of a secret value (see `_Checker`).
- Namespaces `default` and `kube-*` are refused: destroy deletes the namespace.
"""

from __future__ import annotations

import contextlib
import difflib
import ipaddress
import json
import math
import os
import re
from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Any, Literal
from urllib.parse import urlsplit

import pulumi
import pulumi.runtime
from pydantic import BaseModel, ConfigDict, Field

from stack import naming

PROJECT = naming.PROJECT
NS = f"{PROJECT}:"

DEFAULT_BUILD_INPUTS: dict[str, str] = {
    "ref": "{ref}",
    "sha": "{sha}",
    "tag": "{tag}",
    "environment": "{environment}",
    "correlation_id": "{correlation_id}",
}
"""Default `build.inputs`: workflow input name -> value template, fits templates/github/."""

BUILD_PLACEHOLDERS: tuple[str, ...] = (
    "ref",
    "sha",
    "tag",
    "environment",
    "owner",
    "correlation_id",
)
MAX_WORKFLOW_INPUTS = 25  # GitHub's limit for workflow_dispatch inputs
MAX_BUILD_TIMEOUT = 21600  # seconds; GitHub-hosted jobs are cancelled after 6 hours
DEFAULT_CLUSTER_ISSUER = "letsencrypt-prod"
DEFAULT_GITHUB_API = "https://api.github.com"
DEFAULT_POSTGRES_IMAGE = "postgres:18-alpine"
DEFAULT_REDIS_IMAGE = "redis:7.4-alpine"
GHCR = "ghcr.io"

TOP_LEVEL_KEYS: tuple[str, ...] = (
    "environment",
    "namespace",
    "domain",
    "host",
    "routing",
    "tls",
    "clusterIssuer",
    "stopped",
    "runAsNonRoot",
    "images",
    "build",
    "backend",
    "frontend",
    "postgres",
    "redis",
)
"""Every `tims-stack:*` key of the config contract (Pulumi.yaml declares each)."""

OBJECT_FIELDS: dict[str, tuple[str, ...]] = {
    "routing": ("kind", "className", "gateway", "gatewayNamespace", "sectionName"),
    "images": ("source", "backend", "frontend", "tag", "private"),
    "build": ("repository", "workflow", "ref", "inputs", "timeout", "deleteImagesOnDestroy"),
    "backend": ("replicas", "env", "resources"),
    "frontend": ("replicas", "env", "resources"),
    "postgres": ("image", "storage", "storageClass", "resources"),
    "redis": ("image", "storage", "storageClass", "resources"),
}
"""The fields of each object key."""

BACKEND_CONTRACT_ENV: dict[str, str] = {
    "DB_ENGINE": "the database engine the image contract needs",
    "DB_NAME": "the connection to the environment's Postgres",
    "DB_USER": "the connection to the environment's Postgres",
    "DB_PASSWORD": "the generated Postgres password",
    "DB_HOST": "the connection to the environment's Postgres",
    "DB_PORT": "the connection to the environment's Postgres",
    "DB_NO_SSL": "the in-cluster Postgres, which has no TLS",
    "REDIS_URL": "the environment's Redis Service",
    "DJANGO_SECRET_KEY": "a generated key that must never be a literal",
    "PRODUCTION": "the image's cluster mode",
    "ROOT_URL": "the public (or in-cluster) URL",
    "ROOT_HOST": "the domain, for CSRF trusted origins",
    "SESSION_COOKIE_DOMAIN": "the domain, so logins work on the environment's host",
    "NEXTJS_HOST_URL": "the frontend Service the backend renders pages through",
    "USE_NEXTJS_PROXY_ROUTES": "the server-side rendering mode the routes are built for",
    "UNIQUE_ID": "the namespace, from which the image derives the Redis host",
    "BASE_ADMIN_USERNAME": "the admin account exported as a stack output",
    "BASE_ADMIN_USER_PASSWORD": "a generated password that must never be a literal",
}
"""Backend variables the program sets from the image contract, with the reason; not settable."""

BACKEND_SETTINGS_ENV: tuple[str, ...] = (
    "DJANGO_DEBUG",
    "DJANGO_ALLOWED_HOSTS",
    "EXTRA_TRUSTED_ORIGINS",
)
"""Contract variables that are settings: DJANGO_DEBUG replaces the program's "false";
the two comma lists are appended to the hosts/origins the program needs."""

FRONTEND_CONTRACT_ENV: dict[str, str] = {
    "ROOT_URL": "the backend URL browsers use",
    "WEBSOCKET_PROTOCOL": "whether that URL is served over TLS (wss://) or not (ws://)",
}
"""Frontend variables the program sets from the image contract; not settable."""

GITHUB_KEYS: tuple[str, ...] = ("token", "owner", "baseUrl")
"""The `github:*` keys this program reads; other pulumi-github keys are left alone."""

TOKEN_KEY = "github:token"  # noqa: S105 - a config key name, not a credential
TOKEN_ENV = "GITHUB_TOKEN"  # noqa: S105 - an environment variable name
_HOW_TO_SET_TOKEN = (
    f"set it with `pulumi config set --secret {TOKEN_KEY} <token>` or export {TOKEN_ENV}"
)


# --------------------------------------------------------------------------- models


class _Model(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid", populate_by_name=True)


class Resources(_Model):
    """Kubernetes resource requests and limits, e.g. {"cpu": "250m", "memory": "256Mi"}."""

    requests: dict[str, str] = Field(default_factory=dict)
    limits: dict[str, str] = Field(default_factory=dict)


class AppConfig(_Model):
    """`tims-stack:backend` / `tims-stack:frontend`."""

    replicas: int = Field(ge=0)
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
    inputs: dict[str, str] = Field(default_factory=lambda: dict(DEFAULT_BUILD_INPUTS))
    """Workflow input name -> value, placeholders ({ref}, {sha}, ...) unexpanded.

    Validated: each value holds only `{name}` placeholders from BUILD_PLACEHOLDERS
    and no other brace.
    """
    timeout: int = Field(default=1800, gt=0, le=MAX_BUILD_TIMEOUT)  # seconds
    delete_images_on_destroy: bool = Field(default=True, alias="deleteImagesOnDestroy")

    @property
    def tag(self) -> str | None:
        """The tag name when `ref` is `refs/tags/<name>`; None when `ref` is a branch."""
        if self.ref.startswith(TAG_REF_PREFIX):
            return self.ref.removeprefix(TAG_REF_PREFIX)
        return None

    @property
    def owner(self) -> str | None:
        """Owner part of `repository` (as written), or None."""
        return self.repository.split("/", 1)[0] if self.repository else None


class PostgresConfig(_Model):
    """`tims-stack:postgres`."""

    image: str = DEFAULT_POSTGRES_IMAGE
    storage: str = "1Gi"
    storage_class: str | None = Field(default=None, alias="storageClass")
    resources: Resources = Field(default_factory=Resources)

    @property
    def major(self) -> int:
        """PostgreSQL major version pinned by the image tag (18 for `postgres:18-alpine`)."""
        return _official_image(self.image, _POSTGRES_NAMES).major


class RedisConfig(_Model):
    """`tims-stack:redis`."""

    image: str = DEFAULT_REDIS_IMAGE
    storage: str = "256Mi"
    """Claim for the append-only file (queued Celery tasks)."""
    storage_class: str | None = Field(default=None, alias="storageClass")
    resources: Resources = Field(default_factory=Resources)

    @property
    def major(self) -> int:
        """Major version pinned by the image tag (7 for `redis:7.4-alpine`)."""
        return _official_image(self.image, _REDIS_NAMES).major


class GitHubConfig(_Model):
    """`github:owner`, `github:baseUrl`; whether a token is present (never its value)."""

    owner: str | None = None
    base_url: str = DEFAULT_GITHUB_API
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
    `get_secret`, or env GITHUB_TOKEN wrapped in `Output.secret`), or None when
    no token is configured.
    """

    def __init__(self, github_token: pulumi.Output[str] | None) -> None:
        self.github_token = github_token

    def require_github_token(self) -> pulumi.Output[str]:
        """The token, where config has already required one (build mode, private images)."""
        if self.github_token is None:
            raise ValueError(f"github:token: {_HOW_TO_SET_TOKEN}")
        return self.github_token

    def __repr__(self) -> str:
        return f"Secrets(github_token={'<secret>' if self.github_token else None})"


# --------------------------------------------------------------------------- errors


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


# --------------------------------------------------------------------------- syntax

_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
_GITHUB_LOGIN = re.compile(r"^[A-Za-z0-9](?:[A-Za-z0-9]|-(?=[A-Za-z0-9])){0,38}$")
_GITHUB_REPO_NAME = re.compile(r"^[A-Za-z0-9._-]{1,100}$")
_WORKFLOW_FILE = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.-]*\.ya?ml$")
_WORKFLOW_INPUT = re.compile(r"^[A-Za-z_][A-Za-z0-9_-]*$")
_ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_DOCKER_TAG = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$")
_DIGEST = re.compile(r"^sha256:[a-f0-9]{64}$")
_HOST_LABEL = r"(?:[a-z0-9]|[a-z0-9][a-z0-9-]*[a-z0-9])"
_REGISTRY = rf"{_HOST_LABEL}(?:\.{_HOST_LABEL})*(?::[0-9]+)?"
_PATH_COMPONENT = r"[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*"
_REPOSITORY = re.compile(rf"^(?:{_REGISTRY}/)?{_PATH_COMPONENT}(?:/{_PATH_COMPONENT})*$")
_PINNED_TAG = re.compile(r"^(?P<major>[0-9]+)(?:\.[0-9]+)*(?:-[a-z0-9][a-z0-9.]*)*$")
_PLACEHOLDER = re.compile(r"\{([^{}]*)\}")
_QUANTITY = re.compile(
    r"^(?P<num>[+-]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+))"
    r"(?P<suffix>Ki|Mi|Gi|Ti|Pi|Ei|[numkMGTPE]|[eE][+-]?[0-9]+)?$"
)
_BINARY = {"Ki": 2**10, "Mi": 2**20, "Gi": 2**30, "Ti": 2**40, "Pi": 2**50, "Ei": 2**60}
_DECIMAL = {
    "n": Decimal("1e-9"),
    "u": Decimal("1e-6"),
    "m": Decimal("1e-3"),
    "": Decimal(1),
    "k": Decimal("1e3"),
    "M": Decimal("1e6"),
    "G": Decimal("1e9"),
    "T": Decimal("1e12"),
    "P": Decimal("1e15"),
    "E": Decimal("1e18"),
}
RESOURCE_NAMES: tuple[str, ...] = ("cpu", "memory", "ephemeral-storage")

_POSTGRES_NAMES = ("postgres", "library/postgres", "docker.io/library/postgres")
_REDIS_NAMES = (
    "redis",
    "library/redis",
    "docker.io/library/redis",
    "valkey/valkey",
    "docker.io/valkey/valkey",
)
# Mirrors and pull-through caches keep Docker Hub's path after their own host
# (mirror.gcr.io/library/redis, public.ecr.aws/docker/library/postgres).
_MIRRORED_PATHS = {
    _POSTGRES_NAMES: ("library/postgres",),
    _REDIS_NAMES: ("library/redis", "valkey/valkey"),
}


def _is_official(name: str, names: tuple[str, ...]) -> bool:
    """`name` is one of `names`, or Docker Hub's path of one behind a mirror's host."""
    if name in names:
        return True
    host, _, path = name.partition("/")
    mirrored = ("." in host or ":" in host or host == "localhost") and any(
        path == p or path.endswith("/" + p) for p in _MIRRORED_PATHS[names]
    )
    return mirrored


_LABEL_RULE = (
    "an RFC 1123 label: lowercase letters, digits and '-', starting and ending "
    "alphanumeric, at most 63 characters"
)
_SUBDOMAIN_RULE = "a DNS-1123 subdomain: dot-separated RFC 1123 labels, at most 253 characters"
_DNS_NAME_RULE = (
    "a lowercase DNS host name: dot-separated labels of letters, digits and inner '-' "
    "(at most 63 characters each, 253 in all), no trailing dot, no wildcard, not an IP address"
)

SECRET_ALLOWED_KEYS: tuple[str, ...] = (TOKEN_KEY, f"{NS}backend", f"{NS}frontend")
"""Keys whose values the program keeps secret: the token, and the app objects whose env
maps go into Kubernetes Secrets. Any other key is read as plain text."""

RESERVED_NAMESPACES: tuple[str, ...] = ("default",)
RESERVED_NAMESPACE_PREFIX = "kube-"
"""Namespaces the program must not own: destroy deletes the namespace it created."""


def namespace_problem(namespace: str) -> str | None:
    """Why the program must not own `namespace` (a valid label), or None."""
    if namespace in RESERVED_NAMESPACES or namespace.startswith(RESERVED_NAMESPACE_PREFIX):
        return (
            "is a namespace the cluster itself uses ('default' and 'kube-*'); the program owns "
            "its namespace and `pulumi destroy` deletes it with everything in it"
        )
    return None


def is_label(value: str) -> bool:
    """RFC 1123 label (Kubernetes namespace and Service names)."""
    return len(value) <= naming.MAX_LABEL and bool(_LABEL.match(value))


def is_subdomain(value: str) -> bool:
    """DNS-1123 subdomain (most Kubernetes object names)."""
    return 0 < len(value) <= 253 and all(_LABEL.match(part) for part in value.split("."))


def dns_name_problem(value: str) -> str | None:
    """Why `value` is not a usable lowercase DNS host name, or None when it is."""
    if not value:
        return "is empty"
    if value != value.lower():
        return "has uppercase letters (Kubernetes host names are lowercase)"
    if value.endswith("."):
        return "ends with '.' (write the name without the trailing dot)"
    if "*" in value:
        return "is a wildcard (give one concrete name)"
    try:
        ipaddress.ip_address(value)
    except ValueError:
        pass
    else:
        return "is an IP address (routes need a DNS name)"
    if len(value) > 253:
        return f"is {len(value)} characters long (at most 253)"
    for label in value.split("."):
        if len(label) > naming.MAX_LABEL:
            return f"has the label {label[:20]!r}... of {len(label)} characters (at most 63)"
        if not _LABEL.match(label):
            return f"has the label {label!r}, which is not letters, digits and inner '-'"
    return None


def git_ref_problem(ref: str) -> str | None:
    """Why `ref` is not a valid git ref name (git check-ref-format rules), or None."""
    if not ref:
        return "is empty"
    if ref == "@" or "@{" in ref:
        return "contains '@{' or is '@'"
    if ref.startswith(("/", "-")) or ref.endswith(("/", ".")):
        return "starts with '/' or '-', or ends with '/' or '.'"
    if "//" in ref or ".." in ref:
        return "contains '//' or '..'"
    bad = [ch for ch in ref if ord(ch) < 0x20 or ord(ch) == 0x7F or ch in " ~^:?*[\\"]
    if bad:
        return f"contains {bad[0]!r} (not allowed: space, control characters, ~ ^ : ? * [ \\)"
    for part in ref.split("/"):
        if part.startswith(".") or part.endswith(".lock"):
            return f"has the component {part!r} (none may start with '.' or end with '.lock')"
    return None


_COMMIT_SHA = re.compile(r"^(?:[0-9a-fA-F]{40}|[0-9a-fA-F]{64})$")
TAG_REF_PREFIX = "refs/tags/"
_BUILD_REF_ALLOWED = "a branch name (e.g. main) or a tag as refs/tags/<name>"
_BUILD_REF_RULE = f"expected {_BUILD_REF_ALLOWED}"


def build_ref_problem(ref: str) -> str | None:
    """Why `ref` cannot be `build.ref`, or None.

    A commit sha is refused: GitHub dispatches a workflow only on a branch or
    tag (422 otherwise), and the program resolves the sha itself. Tags are
    written `refs/tags/<name>` so they are never mistaken for a branch.
    """
    if _COMMIT_SHA.match(ref):
        return (
            "is a commit sha; a workflow dispatch needs a branch or tag, and the program "
            f"resolves the commit itself: {_BUILD_REF_RULE}"
        )
    if ref.startswith("refs/") and not ref.startswith(TAG_REF_PREFIX):
        return f"is a qualified ref other than refs/tags/<name>; {_BUILD_REF_RULE}"
    name = ref.removeprefix(TAG_REF_PREFIX)
    if (problem := git_ref_problem(name)) is not None:
        return f"{problem}; {_BUILD_REF_RULE}"
    return None


def parse_quantity(value: str) -> Decimal | None:
    """A Kubernetes quantity as a number (bytes, cores), or None when it is not one."""
    match = _QUANTITY.match(value)
    if not match:
        return None
    try:
        number = Decimal(match["num"])
    except InvalidOperation:  # pragma: no cover - the pattern admits only decimals
        return None
    suffix = match["suffix"] or ""
    if suffix in _BINARY:
        return number * _BINARY[suffix]
    if suffix in _DECIMAL:
        return number * _DECIMAL[suffix]
    return number.scaleb(int(suffix[1:]))


@dataclass(frozen=True)
class _ImageRef:
    name: str
    tag: str
    major: int


def _split_image(image: str) -> tuple[str, str | None, str | None]:
    """(name, tag, digest) of an image reference."""
    rest, _, digest = image.partition("@")
    slash = rest.rfind("/")
    colon = rest.rfind(":")
    if colon > slash:
        return rest[:colon], rest[colon + 1 :], digest or None
    return rest, None, digest or None


def _official_image_problem(
    image: str, names: tuple[str, ...], min_major: int, example: str
) -> str | None:
    name, tag, digest = _split_image(image)
    if not _is_official(name, names):
        mirrors = " or ".join(f"<mirror host>/.../{p}" for p in _MIRRORED_PATHS[names])
        return f"is not an official image: use one of {', '.join(names)} (or {mirrors})"
    if digest is not None and not _DIGEST.match(digest):
        return "has a digest that is not sha256:<64 hex digits>"
    if tag is None or tag == "latest":
        return f"does not pin a major version: add a tag such as {example!r} (not 'latest')"
    pinned = _PINNED_TAG.match(tag)
    if not pinned:
        return f"has the tag {tag!r}, which does not start with a version number (e.g. {example!r})"
    if int(pinned["major"]) < min_major:
        return f"pins major {pinned['major']}; versions before {min_major} are not supported"
    return None


def _official_image(image: str, names: tuple[str, ...]) -> _ImageRef:
    """Parse an image that passed validation (raises ValueError otherwise)."""
    name, tag, _ = _split_image(image)
    pinned = _PINNED_TAG.match(tag or "")
    if not _is_official(name, names) or tag is None or not pinned:
        raise ValueError(f"{image!r} is not an official image with a pinned major version")
    return _ImageRef(name=name, tag=tag, major=int(pinned["major"]))


def suggest_label(value: str) -> str:
    """A valid RFC 1123 label close to `value` (for error messages)."""
    label = re.sub(r"[^a-z0-9-]+", "-", value.lower()).strip("-")[: naming.MAX_LABEL]
    return label.strip("-") or "dev"


# --------------------------------------------------------------------------- parsing


def _short(value: Any, limit: int = 60) -> str:
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _did_you_mean(name: str, allowed: Collection[str]) -> str:
    """'unknown key ...; did you mean ...?' with the closest allowed key, if one is close."""

    def fold(text: str) -> str:
        return text.lower().replace("-", "").replace("_", "")

    folded = fold(name)
    same = [a for a in allowed if fold(a) == folded]
    prefix = [a for a in allowed if len(folded) >= 3 and fold(a).startswith(folded)]
    close = same or difflib.get_close_matches(name, list(allowed), n=1, cutoff=0.6) or prefix
    hint = f"; did you mean {close[0]!r}?" if close else "."
    return f"unknown key {name!r}{hint} Allowed: {', '.join(allowed)}"


_MIN_FRAGMENT = 4
"""Shorter pieces of a secret are not scrubbed: they would mangle ordinary words."""
_SCRUBBED = "<secret>"


def _leaf_strings(value: Any) -> list[str]:
    """Every string inside a decoded JSON value (not object keys: those are config keys)."""
    if isinstance(value, str):
        return [value]
    if isinstance(value, dict):
        return [leaf for item in value.values() for leaf in _leaf_strings(item)]
    if isinstance(value, list):
        return [leaf for item in value for leaf in _leaf_strings(item)]
    return []


def _secret_fragments(values: Collection[str]) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """(whole strings, word pieces) of secret raw values, longest first, for scrubbing."""
    leaves: set[str] = set()
    for text in values:
        leaves.add(text)
        with contextlib.suppress(ValueError):  # a plain string is its own only leaf
            leaves.update(_leaf_strings(json.loads(text)))
    pieces = {p for leaf in leaves for p in re.split(r"[^A-Za-z0-9]+", leaf)}
    return (
        tuple(sorted((v for v in leaves if len(v) >= _MIN_FRAGMENT), key=len, reverse=True)),
        tuple(sorted((p for p in pieces if len(p) >= _MIN_FRAGMENT), key=len, reverse=True)),
    )


class _Checker:
    """Collects issues; never shows the value of a secret key, nor any part of it.

    Rules write messages that echo what they found (a label, a character, a
    path component). Rather than trusting every rule to check secrecy, the
    checker decides when recording: an issue about a secret key, or derived
    from one (`about`), gets a value-free message that keeps only the key and
    what is allowed. Every message, whatever its key, is then scrubbed of the
    secret values and their word pieces as a second net (e.g. a default host
    built from a secret domain).
    """

    def __init__(self, secret_keys: Collection[str], raw: Mapping[str, str] | None = None) -> None:
        self.issues: list[ConfigIssue] = []
        # The token is secret even when a user stored it in plain text by mistake.
        self.secret_keys = frozenset(secret_keys) | {TOKEN_KEY}
        values = [v for k, v in (raw or {}).items() if k in self.secret_keys and v]
        self._leaves, self._pieces = _secret_fragments(values)

    def is_secret(self, key: str) -> bool:
        return key.split(".", 1)[0] in self.secret_keys

    def show(self, key: str, value: Any) -> str:
        if self.is_secret(key):
            return "<secret value>"
        # Scrubbed before shortening: a cut-off secret would slip past the scrub in `error`.
        return _short(self.scrub(value) if isinstance(value, str) else value)

    def scrub(self, text: str) -> str:
        """`text` without any secret value or word piece of one."""
        for leaf in self._leaves:
            text = text.replace(leaf, _SCRUBBED)
        for piece in self._pieces:
            text = re.sub(
                rf"(?<![A-Za-z0-9]){re.escape(piece)}(?![A-Za-z0-9])",
                _SCRUBBED,
                text,
                flags=re.IGNORECASE,
            )
        return text

    def error(
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
        secret. `value_free=True` promises the message quotes no config value
        (only key names and rules), so it is kept for secret keys too.
        """
        secret = next((k for k in (key, *about) if self.is_secret(k)), None)
        if secret is not None and not value_free:
            top = secret.split(".", 1)[0]
            message = (
                f"is not valid; {top} is secret, so neither its value nor what is wrong with it "
                "is shown"
                + (f"; expected {allowed}" if allowed else "; see the README for allowed values")
            )
        self.issues.append(ConfigIssue(key, self.scrub(message)))

    def bad(self, key: str, value: Any, allowed: str) -> None:
        """The common shape: what was given, then what is allowed."""
        self.error(key, f"got {self.show(key, value)}; expected {allowed}", allowed=allowed)

    # typed field readers ------------------------------------------------------

    def string(self, key: str, value: Any) -> str | None:
        if isinstance(value, str) and value:
            return value
        self.bad(key, value, "a non-empty string")
        return None

    def boolean(self, key: str, value: Any) -> bool | None:
        if isinstance(value, bool):
            return value
        self.bad(key, value, "a JSON boolean, true or false (not a string)")
        return None

    def integer(
        self, key: str, value: Any, *, minimum: int, maximum: int | None = None
    ) -> int | None:
        rule = f"an integer >= {minimum}" + (f" and <= {maximum}" if maximum is not None else "")
        if isinstance(value, bool) or not isinstance(value, int):
            self.bad(key, value, f"{rule} (a JSON number without quotes or decimals)")
            return None
        if value < minimum or (maximum is not None and value > maximum):
            self.bad(key, value, rule)
            return None
        return value

    def obj(self, key: str, value: Any, allowed: Collection[str]) -> dict[str, Any] | None:
        """A JSON object with only `allowed` fields (null fields dropped), or None."""
        if not isinstance(value, dict):
            self.bad(key, value, f"an object with the keys {', '.join(allowed)}")
            return None
        result: dict[str, Any] = {}
        for field, item in value.items():
            if field not in allowed:
                self.error(f"{key}.{field}", _did_you_mean(str(field), allowed), value_free=True)
            elif item is not None:
                result[field] = item
        return result

    def top_object(
        self, raw: Mapping[str, str], name: str, allowed: Collection[str]
    ) -> dict[str, Any]:
        """Decode `tims-stack:<name>` (a JSON string) into its fields; {} when unset or bad."""
        key = NS + name
        text = raw.get(key)
        if text is None:
            return {}
        try:
            value = json.loads(text)
        except (TypeError, ValueError):
            rule = (
                f"an object with the keys {', '.join(allowed)}, "
                f"e.g. `pulumi config set --path {key}.<field> <value>`"
            )
            self.error(
                key, f"got {self.show(key, text)}, which is not JSON; expected {rule}", allowed=rule
            )
            return {}
        return self.obj(key, value, allowed) or {}

    def top_bool(self, raw: Mapping[str, str], name: str, default: bool) -> bool:
        key = NS + name
        text = raw.get(key)
        if text is None:
            return default
        if text in ("true", "false"):
            return text == "true"
        self.bad(key, text, "true or false")
        return default


def _resources(c: _Checker, key: str, value: Any) -> Resources:
    fields = c.obj(key, value, ("requests", "limits"))
    if fields is None:
        return Resources()
    parsed: dict[str, dict[str, str]] = {"requests": {}, "limits": {}}
    amounts: dict[str, dict[str, Decimal]] = {"requests": {}, "limits": {}}
    for part in ("requests", "limits"):
        entries = c.obj(f"{key}.{part}", fields.get(part, {}), RESOURCE_NAMES)
        for resource, amount in (entries or {}).items():
            item_key = f"{key}.{part}.{resource}"
            if isinstance(amount, bool) or not isinstance(amount, int | float | str):
                c.bad(item_key, amount, "a Kubernetes quantity such as '250m', '512Mi' or 1")
                continue
            text = str(amount)
            number = parse_quantity(text)
            if number is None or number < 0:
                c.bad(
                    item_key, amount, "a non-negative Kubernetes quantity such as '250m' or '512Mi'"
                )
                continue
            if resource != "cpu" and text.endswith("m"):
                c.bad(
                    item_key,
                    amount,
                    f"bytes; 'm' means thousandths here: did you mean '{text[:-1]}Mi'?",
                )
                continue
            parsed[part][resource] = text
            amounts[part][resource] = number
    for resource, request in amounts["requests"].items():
        limit = amounts["limits"].get(resource)
        if limit is not None and request > limit:
            c.error(
                f"{key}.requests.{resource}",
                f"request {parsed['requests'][resource]!r} exceeds the limit "
                f"{parsed['limits'][resource]!r}; Kubernetes requires request <= limit",
                allowed="a request no larger than the limit",
            )
    return Resources(requests=parsed["requests"], limits=parsed["limits"])


def _app(c: _Checker, raw: Mapping[str, str], name: str, default_replicas: int) -> AppConfig:
    key = NS + name
    fields = c.top_object(raw, name, OBJECT_FIELDS[name])
    replicas = default_replicas
    if "replicas" in fields:
        replicas = c.integer(f"{key}.replicas", fields["replicas"], minimum=0) or 0
    env: dict[str, str] = {}
    reserved = BACKEND_CONTRACT_ENV if name == "backend" else FRONTEND_CONTRACT_ENV
    if "env" in fields:
        entries = fields["env"]
        if not isinstance(entries, dict):
            c.bad(f"{key}.env", entries, "an object of environment variable name -> string value")
        else:
            for var, val in entries.items():
                var_key = f"{key}.env.{var}"
                if not _ENV_NAME.match(var):
                    c.error(
                        var_key,
                        f"{var!r} is not an environment variable name: letters, digits and '_', "
                        "not starting with a digit",
                        value_free=True,  # the name is part of the key
                    )
                elif var in reserved:
                    c.error(
                        var_key,
                        f"is set by the program from the image contract ({reserved[var]}); "
                        f"remove it from {key}.env",
                        value_free=True,
                    )
                elif not isinstance(val, str):
                    c.bad(var_key, val, 'a string (quote numbers and booleans, e.g. "true")')
                elif var == "DJANGO_DEBUG" and name == "backend" and val not in ("true", "false"):
                    c.bad(var_key, val, '"true" or "false" (the settings compare with "true")')
                else:
                    env[var] = val
    resources = (
        _resources(c, f"{key}.resources", fields["resources"])
        if "resources" in fields
        else Resources()
    )
    return AppConfig(replicas=replicas, env=env, resources=resources)


def _repository_problem(value: str) -> str | None:
    """Why `value` is not an image repository without tag or digest, or None."""
    if "@" in value:
        return (
            "has a digest ('@sha256:...'); give the repository only and set the tag with images.tag"
        )
    if ":" in value.rsplit("/", 1)[-1]:
        return "has a tag; give the repository only and set the tag with images.tag"
    if value != value.lower():
        return "has uppercase letters; image repositories are lowercase (GHCR requires it)"
    if not _REPOSITORY.match(value):
        return "is not an image repository such as ghcr.io/acme/tims-stack-backend-image-prod"
    return None


def _placeholder_problem(template: str) -> str | None:
    for match in _PLACEHOLDER.finditer(template):
        if match[1] not in BUILD_PLACEHOLDERS:
            allowed = ", ".join("{" + p + "}" for p in BUILD_PLACEHOLDERS)
            return f"has the unknown placeholder {match[0]!r}; allowed: {allowed}"
    if "{" in _PLACEHOLDER.sub("", template) or "}" in _PLACEHOLDER.sub("", template):
        return "has a '{' or '}' that is not part of a {placeholder}"
    return None


def _base_url_problem(url: str) -> str | None:
    parts = urlsplit(url)
    if parts.scheme not in ("https", "http") or not parts.hostname:
        return "is not an https:// URL such as https://api.github.com"
    if parts.username or parts.password:
        return "contains credentials; put the token in github:token instead"
    if parts.query or parts.fragment:
        return "has a query or fragment"
    if parts.scheme == "https":
        return None
    if parts.scheme == "http" and parts.hostname in ("127.0.0.1", "localhost", "::1"):
        return None
    return "is not an https:// URL (plain http is allowed only for a loopback host)"


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
    c = _Checker(secret_keys, raw)
    notes: list[str] = []

    for key in raw:
        name = key[len(NS) :]
        if key.startswith(NS) and name not in TOP_LEVEL_KEYS:
            inside = [
                f"{NS}{obj}.{name}" for obj, fields in OBJECT_FIELDS.items() if name in fields
            ]
            if inside:
                c.error(
                    key,
                    f"unknown key {name!r}; it is a field of an object: did you mean "
                    f"{' or '.join(inside)}? Set it with "
                    f"`pulumi config set --path {inside[0]} <value>`",
                    value_free=True,
                )
            else:
                c.error(key, _did_you_mean(name, TOP_LEVEL_KEYS), value_free=True)

    read_plain = [NS + k for k in TOP_LEVEL_KEYS] + [f"github:{k}" for k in GITHUB_KEYS]
    for key in read_plain:
        if key in secret_keys and raw.get(key) and key not in SECRET_ALLOWED_KEYS:
            c.error(
                key,
                "is set as a secret, but the program reads this key as plain text: its value "
                "would be stored unencrypted in the Pulumi state (e.g. the ImageBuild inputs) "
                "and shown in previews. Only github:token, tims-stack:backend and "
                "tims-stack:frontend (their env maps go into Kubernetes Secrets) may be secret. "
                f"Set it again without --secret (`pulumi config set {key} <value>`, with --path "
                "for a field of an object), "
                "or move a secret value into tims-stack:backend.env or tims-stack:frontend.env",
                value_free=True,
            )

    def top_str(name: str) -> str | None:
        """A top-level string key; "" means unset (Pulumi.yaml declares "" defaults)."""
        value = raw.get(NS + name)
        return value or None

    # environment and namespace ---------------------------------------------------
    env_key = NS + "environment"
    environment = top_str("environment")
    env_ok = True
    if environment is None:
        environment = stack
        if not is_label(stack):
            env_ok = False
            c.error(
                env_key,
                f"not set, and the stack name {stack!r} is not {_LABEL_RULE}; set one with "
                f"`pulumi config set {env_key} {suggest_label(stack)}`",
                value_free=True,  # quotes the stack name, not a config value
            )
    elif not is_label(environment):
        env_ok = False
        c.bad(env_key, environment, _LABEL_RULE)

    ns_key = NS + "namespace"
    namespace = top_str("namespace")
    if namespace is not None and not is_label(namespace):
        c.bad(ns_key, namespace, _LABEL_RULE)
    elif namespace is None:
        namespace = naming.default_namespace(environment) if env_ok else "invalid"
    if (problem := namespace_problem(namespace)) is not None:
        c.error(
            ns_key,
            f"got {c.show(ns_key, namespace)}, which {problem}; set {ns_key} to a namespace "
            "of its own, e.g. tims-stack-<environment>",
            allowed="a namespace of its own, not 'default' or 'kube-*'",
            about=(env_key,),
        )

    # domain, host, tls, routing --------------------------------------------------
    domain = top_str("domain")
    domain_ok = True
    if domain is not None and (problem := dns_name_problem(domain)):
        domain_ok = False
        c.error(
            NS + "domain",
            f"got {c.show(NS + 'domain', domain)}, which {problem}",
            allowed=_DNS_NAME_RULE,
        )
    host_key = NS + "host"
    host = top_str("host")
    if host is not None:
        if (problem := dns_name_problem(host)) is not None:
            c.error(
                host_key, f"got {c.show(host_key, host)}, which {problem}", allowed=_DNS_NAME_RULE
            )
        elif domain is None:
            c.error(
                host_key,
                f"got {c.show(host_key, host)} but tims-stack:domain is not set; set the domain "
                "too (the backend derives its cookie domain and CSRF origins from it)",
                allowed="a host under tims-stack:domain, which must be set too",
            )
        elif domain_ok and host != domain and not host.endswith("." + domain):
            c.error(
                host_key,
                f"got {c.show(host_key, host)}, which is not {domain!r} or a name under it; "
                "the backend's session cookie is scoped to the domain",
                allowed="tims-stack:domain itself or a name under it (the session cookie is "
                "scoped to the domain)",
                about=(NS + "domain",),
            )
    elif domain is not None and domain_ok and env_ok:
        host = naming.default_host(environment, domain)
        if (problem := dns_name_problem(host)) is not None:
            c.error(
                host_key,
                f"the default host {host[:40]!r}... {problem}; set {host_key} or use a "
                "shorter environment id",
                allowed=f"a default host backend-<environment>.<domain> that is {_DNS_NAME_RULE}; "
                f"set {host_key} or use a shorter environment id",
                about=(NS + "domain", env_key),
            )

    tls_key = NS + "tls"
    tls_text = raw.get(tls_key) or ""
    if tls_text not in ("", "true", "false"):
        c.bad(tls_key, tls_text, "true or false (unset: true when tims-stack:domain is set)")
        tls = domain is not None
    else:
        tls = domain is not None if tls_text == "" else tls_text == "true"
    if tls and domain is None and tls_text == "true":
        c.error(
            tls_key,
            "is true but tims-stack:domain is not set; TLS needs a public host name",
            allowed="false, or set tims-stack:domain (TLS needs a public host name)",
        )

    issuer_key = NS + "clusterIssuer"
    cluster_issuer = raw.get(issuer_key, DEFAULT_CLUSTER_ISSUER)
    if not is_subdomain(cluster_issuer):
        c.bad(issuer_key, cluster_issuer, f"a ClusterIssuer name, {_SUBDOMAIN_RULE}")

    routing = _routing(c, raw)
    if domain is None and routing != RoutingConfig():
        notes.append(
            "tims-stack:routing is set but tims-stack:domain is not: no Ingress or HTTPRoute "
            "is created and URLs are cluster-internal"
        )

    stopped = c.top_bool(raw, "stopped", False)
    run_as_non_root = c.top_bool(raw, "runAsNonRoot", False)

    # github ----------------------------------------------------------------------
    owner = raw.get("github:owner") or None
    owner_broken = False
    if owner is not None and not _GITHUB_LOGIN.match(owner):
        c.bad(
            "github:owner",
            owner,
            "a GitHub user or organisation login: letters, digits and single inner '-', at most 39",
        )
        owner = None
        owner_broken = True
    base_url = (raw.get("github:baseUrl") or DEFAULT_GITHUB_API).rstrip("/")
    if (problem := _base_url_problem(base_url)) is not None:
        # A URL with credentials in it is not echoed: the password is a secret.
        shown = "a URL" if urlsplit(base_url).password else c.show("github:baseUrl", base_url)
        c.error(
            "github:baseUrl",
            f"got {shown}, which {problem}",
            allowed="an https:// URL such as https://api.github.com (http only for loopback)",
        )
    token_in_config = bool(raw.get(TOKEN_KEY))
    has_token = token_in_config or bool(env.get(TOKEN_ENV))
    if token_in_config and TOKEN_KEY not in secret_keys:
        c.error(
            TOKEN_KEY,
            "is stored in plain text; remove it with `pulumi config rm github:token` and set it "
            "again with `pulumi config set --secret github:token <token>`",
            value_free=True,
        )

    # build and images --------------------------------------------------------------
    build = _build(c, raw, notes)
    # A repository that was given but is invalid has its own error; say nothing
    # about what it would have provided (build mode, the image owner).
    repo_broken = build.repository is None and _given(raw, "build", "repository")
    images = _images(c, raw, build, owner, owner_broken or repo_broken, repo_broken)
    if images is not None:
        notes.extend(_template_push_mismatches(build, images))

    if (images is not None and (images.private or images.source == "build")) and not has_token:
        reason = "images.source is build" if images.source == "build" else "images.private is true"
        c.error(
            TOKEN_KEY,
            f"is required because {reason} (the program calls the GitHub API and makes the "
            f"registry pull secret); {_HOW_TO_SET_TOKEN}",
            value_free=True,
        )

    backend = _app(c, raw, "backend", 2)
    frontend = _app(c, raw, "frontend", 1)
    postgres = _postgres(c, raw)
    redis = _redis(c, raw)

    if c.issues:
        raise ConfigError(c.issues, stack=stack)
    assert images is not None  # no issue recorded means _images resolved
    if warn is not None:
        for note in notes:
            warn(note)
    return StackConfig(
        environment=environment,
        namespace=namespace,
        domain=domain,
        host=host if domain is not None else None,
        routing=routing,
        tls=tls,
        cluster_issuer=cluster_issuer,
        stopped=stopped,
        run_as_non_root=run_as_non_root,
        images=images,
        build=build,
        backend=backend,
        frontend=frontend,
        postgres=postgres,
        redis=redis,
        github=GitHubConfig(owner=owner, base_url=base_url, has_token=has_token),
    )


def _routing(c: _Checker, raw: Mapping[str, str]) -> RoutingConfig:
    key = NS + "routing"
    fields = c.top_object(raw, "routing", OBJECT_FIELDS["routing"])
    kind = fields.get("kind", "ingress")
    if kind not in ("ingress", "gateway"):
        c.bad(f"{key}.kind", kind, "'ingress' or 'gateway'")
        return RoutingConfig()
    values: dict[str, str] = {}
    for field in ("className", "gateway", "gatewayNamespace", "sectionName"):
        if field in fields and (text := c.string(f"{key}.{field}", fields[field])) is not None:
            values[field] = text
    if kind == "ingress":
        for field in ("gateway", "gatewayNamespace", "sectionName"):
            if field in values:
                c.error(
                    f"{key}.{field}",
                    f"got {c.show(key, values[field])}, which applies only to kind 'gateway'; "
                    "remove it or set kind to 'gateway'",
                    allowed=f"no {field} with kind 'ingress'",
                )
        if "className" in values and not is_subdomain(values["className"]):
            c.bad(
                f"{key}.className", values["className"], f"an IngressClass name, {_SUBDOMAIN_RULE}"
            )
    else:
        if "className" in values:
            c.error(
                f"{key}.className",
                f"got {c.show(key, values['className'])}, which applies only to kind 'ingress'; "
                "a Gateway has its own class",
                allowed="no className with kind 'gateway'",
            )
        if "gateway" not in fields:
            c.error(
                f"{key}.gateway",
                "is required with kind 'gateway': the name of the shared Gateway to attach to",
                value_free=True,
            )
        elif "gateway" in values and not is_subdomain(values["gateway"]):
            c.bad(f"{key}.gateway", values["gateway"], f"a Gateway name, {_SUBDOMAIN_RULE}")
        if "gatewayNamespace" in values and not is_label(values["gatewayNamespace"]):
            c.bad(
                f"{key}.gatewayNamespace", values["gatewayNamespace"], f"a namespace, {_LABEL_RULE}"
            )
        if "sectionName" in values and not is_subdomain(values["sectionName"]):
            c.bad(
                f"{key}.sectionName", values["sectionName"], f"a listener name, {_SUBDOMAIN_RULE}"
            )
    return RoutingConfig.model_validate({"kind": kind, **values})


def _template_push_mismatches(build: BuildConfig, images: ImagesConfig) -> list[str]:
    """Notes for images the shipped workflow template would not push where ImageBuild looks.

    templates/github/build-images.yml pushes to
    ghcr.io/<repository owner>/tims-stack-<image>-image-prod. A note, not an
    error: a user may have edited the copy in their repository.
    """
    template = BuildConfig()
    if (
        images.source != "build"
        or build.owner is None
        or build.workflow != template.workflow
        or build.inputs != template.inputs
    ):
        return []
    notes = []
    for image, repo in (("backend", images.backend), ("frontend", images.frontend)):
        pushed = f"{GHCR}/{build.owner.lower()}/{PROJECT}-{image}-image-prod"
        if repo != pushed:
            notes.append(
                f"{NS}images.{image} is {repo}, but the shipped workflow template pushes to "
                f"{pushed}: ImageBuild would fail after the build, not finding the image; edit "
                "the image name in your copy of the workflow or remove the setting"
            )
    return notes


def _build(c: _Checker, raw: Mapping[str, str], notes: list[str]) -> BuildConfig:
    key = NS + "build"
    fields = c.top_object(raw, "build", OBJECT_FIELDS["build"])
    values: dict[str, Any] = {}
    if "repository" in fields and (repo := c.string(f"{key}.repository", fields["repository"])):
        owner, _, name = repo.partition("/")
        if (
            not _GITHUB_LOGIN.match(owner)
            or not _GITHUB_REPO_NAME.match(name)
            or name in (".", "..")
        ):
            c.bad(
                f"{key}.repository",
                repo,
                "'owner/name': a GitHub login (letters, digits, inner '-') and a repository "
                "name (letters, digits, '.', '_', '-')",
            )
        else:
            values["repository"] = repo
    if "workflow" in fields and (workflow := c.string(f"{key}.workflow", fields["workflow"])):
        if not _WORKFLOW_FILE.match(workflow):
            c.bad(
                f"{key}.workflow",
                workflow,
                "a workflow file name ending in .yml or .yaml, e.g. build-images.yml",
            )
        else:
            values["workflow"] = workflow
    if "ref" in fields and (ref := c.string(f"{key}.ref", fields["ref"])):
        if (problem := build_ref_problem(ref)) is not None:
            c.error(
                f"{key}.ref",
                f"got {c.show(key, ref)}, which {problem}",
                allowed=f"{_BUILD_REF_ALLOWED}, a valid git ref name",
            )
        else:
            values["ref"] = ref
    if "inputs" in fields:
        values["inputs"] = _inputs(c, f"{key}.inputs", fields["inputs"])
        # The workflow must learn the tag to push: ImageBuild waits for images
        # with exactly that tag (the provider's check refuses this too, but
        # only at preview time, after other resources were registered).
        if isinstance(fields["inputs"], dict) and not any(
            "{tag}" in v for v in values["inputs"].values()
        ):
            c.error(
                f"{key}.inputs",
                "passes no {tag} to the workflow, so the images could not be found after the "
                'build; map the input that names the image tag, e.g. "tag": "{tag}"',
                allowed='an input that passes {tag}, e.g. "tag": "{tag}"',
            )
        if not any("{correlation_id}" in v for v in values["inputs"].values()):
            notes.append(
                "tims-stack:build.inputs passes no {correlation_id}: if the GitHub server does "
                "not return the run id on dispatch, the run cannot be identified"
            )
    if "timeout" in fields:
        timeout = c.integer(
            f"{key}.timeout", fields["timeout"], minimum=1, maximum=MAX_BUILD_TIMEOUT
        )
        if timeout is not None:
            values["timeout"] = timeout
    if "deleteImagesOnDestroy" in fields:
        flag = c.boolean(f"{key}.deleteImagesOnDestroy", fields["deleteImagesOnDestroy"])
        if flag is not None:
            values["deleteImagesOnDestroy"] = flag
    return BuildConfig.model_validate(values)


def _inputs(c: _Checker, key: str, value: Any) -> dict[str, str]:
    if not isinstance(value, dict):
        c.bad(key, value, "an object of workflow input name -> value template")
        return dict(DEFAULT_BUILD_INPUTS)
    if len(value) > MAX_WORKFLOW_INPUTS:
        c.error(
            key,
            f"has {len(value)} inputs; GitHub accepts at most {MAX_WORKFLOW_INPUTS}",
            allowed=f"at most {MAX_WORKFLOW_INPUTS} inputs",
        )
    inputs: dict[str, str] = {}
    for name, template in value.items():
        item_key = f"{key}.{name}"
        if not _WORKFLOW_INPUT.match(name):
            c.error(
                item_key,
                f"{name!r} is not a workflow input name: letters, digits, '-' and '_', "
                "not starting with a digit or '-'",
                value_free=True,  # the name is part of the key
            )
        elif not isinstance(template, str):
            c.bad(item_key, template, "a string, e.g. '{sha}'")
        elif (problem := _placeholder_problem(template)) is not None:
            c.error(
                item_key,
                f"got {c.show(item_key, template)}, which {problem}",
                allowed="a template using only the placeholders "
                + ", ".join("{" + p + "}" for p in BUILD_PLACEHOLDERS),
            )
        else:
            inputs[name] = template
    return inputs


def _given(raw: Mapping[str, str], name: str, field: str) -> bool:
    """Whether object key `name` has `field` set (to anything), judged from the raw JSON."""
    try:
        value = json.loads(raw.get(NS + name) or "{}")
    except ValueError:
        return False
    return isinstance(value, dict) and value.get(field) is not None


# --- begin issue 8: GHES container registry ---------------------------------------------
def _github_registry_hosts(raw: Mapping[str, str]) -> tuple[str, ...]:
    """Registries GitHub serves: ghcr.io, plus `containers.<host>` (GitHub Enterprise
    Server with subdomain isolation) when github:baseUrl is that server's `/api/v3`."""
    parts = urlsplit((raw.get("github:baseUrl") or DEFAULT_GITHUB_API).rstrip("/"))
    if parts.path == "/api/v3" and parts.hostname:
        return (GHCR, f"containers.{parts.hostname}")
    return (GHCR,)


# --- end issue 8 --------------------------------------------------------------------------


def _images(
    c: _Checker,
    raw: Mapping[str, str],
    build: BuildConfig,
    owner: str | None,
    owner_broken: bool,
    repo_broken: bool,
) -> ImagesConfig | None:
    key = NS + "images"
    fields = c.top_object(raw, "images", OBJECT_FIELDS["images"])
    source = fields.get("source", "build" if build.repository or repo_broken else "prebuilt")
    if source not in ("build", "prebuilt"):
        c.bad(f"{key}.source", source, "'build' or 'prebuilt'")
        return None
    if source == "build" and not build.repository and not repo_broken:
        c.error(
            NS + "build.repository",
            "is required with images.source 'build': the application repository 'owner/name' "
            "whose workflow builds the images",
            value_free=True,
        )
    registry_owner = (owner or build.owner or "").lower() or None
    repos: dict[str, str] = {}
    for image in ("backend", "frontend"):
        image_key = f"{key}.{image}"
        if image in fields:
            repo = c.string(image_key, fields[image])
            if repo is None:
                continue
            if (problem := _repository_problem(repo)) is not None:
                c.error(
                    image_key,
                    f"got {c.show(image_key, repo)}, which {problem}",
                    allowed="a lowercase image repository without tag or digest, e.g. "
                    f"ghcr.io/acme/{PROJECT}-{image}-image-prod",
                )
                continue
            repos[image] = repo
        elif registry_owner:
            repos[image] = f"{GHCR}/{registry_owner}/{PROJECT}-{image}-image-prod"
        elif not owner_broken:  # a bad github:owner already has its own error
            c.error(
                image_key,
                "has no default because neither github:owner nor build.repository is set; "
                f"set {image_key} (e.g. ghcr.io/acme/{PROJECT}-{image}-image-prod) or github:owner",
                value_free=True,
            )
    private: bool = source == "build"
    if "private" in fields and (flag := c.boolean(f"{key}.private", fields["private"])) is not None:
        private = flag
    # --- begin issue 8: GHES container registry (port as one rule to the new schema) ---
    hosts = _github_registry_hosts(raw)
    where = " or ".join(hosts)
    for image, repo in repos.items():
        on_ghcr = repo.split("/", 1)[0] in hosts
        # --- end issue 8 ---
        if source == "build" and not on_ghcr:
            c.error(
                f"{key}.{image}",
                f"got {c.show(key, repo)}; with source 'build' images go to {where} (the "
                "workflow pushes there and destroy deletes them there)",
                allowed=f"a repository on {where} with source 'build'",
            )
        elif private and not on_ghcr:
            c.error(
                f"{key}.{image}",
                f"got {c.show(key, repo)}; private images must be on {where} "
                f"(the pull secret is for {where})",
                allowed=f"a repository on {where} for private images",
            )
    tag: str | None = None
    if "tag" in fields:
        if source == "build":
            c.error(
                f"{key}.tag",
                f"got {c.show(key, fields['tag'])}, which is not allowed with source 'build': "
                "the build tags images <environment>-<sha12>",
                allowed="no images.tag with source 'build' (the build tags images itself)",
            )
        elif (text := c.string(f"{key}.tag", fields["tag"])) is not None:
            if _DOCKER_TAG.match(text):
                tag = text
            else:
                c.bad(
                    f"{key}.tag",
                    text,
                    "a Docker tag: letters, digits, '_', '.', '-', at most 128, "
                    "not starting with '.' or '-'",
                )
    elif source == "prebuilt":
        c.error(
            f"{key}.tag",
            "is required with source 'prebuilt': the tag both images are deployed at",
            value_free=True,
        )
    if len(repos) != 2 or (source == "prebuilt" and tag is None):
        return ImagesConfig(source=source, backend="invalid", frontend="invalid", private=private)
    return ImagesConfig(
        source=source,
        backend=repos["backend"],
        frontend=repos["frontend"],
        tag=tag,
        private=private,
    )


def _postgres(c: _Checker, raw: Mapping[str, str]) -> PostgresConfig:
    fields = _data_store(c, raw, "postgres", _POSTGRES_NAMES, 10, "18-alpine")
    return PostgresConfig.model_validate(fields)


def _redis(c: _Checker, raw: Mapping[str, str]) -> RedisConfig:
    fields = _data_store(c, raw, "redis", _REDIS_NAMES, 5, "7.4-alpine")
    return RedisConfig.model_validate(fields)


def _data_store(
    c: _Checker,
    raw: Mapping[str, str],
    name: str,
    names: tuple[str, ...],
    min_major: int,
    example_tag: str,
) -> dict[str, Any]:
    """Valid fields of `tims-stack:postgres` or `tims-stack:redis`: image, storage, resources."""
    key = NS + name
    fields = c.top_object(raw, name, OBJECT_FIELDS[name])
    values: dict[str, Any] = {}
    if "image" in fields and (image := c.string(f"{key}.image", fields["image"])):
        problem = _official_image_problem(image, names, min_major, example_tag)
        if problem is not None:
            c.error(
                f"{key}.image",
                f"got {c.show(key, image)}, which {problem}",
                allowed="an official image with a tag pinning a supported major version",
            )
        else:
            values["image"] = image
    _storage(c, key, fields, values)
    if "resources" in fields:
        values["resources"] = _resources(c, f"{key}.resources", fields["resources"])
    return values


def _storage(c: _Checker, key: str, fields: Mapping[str, Any], values: dict[str, Any]) -> None:
    """`storage` and `storageClass` of a data store's claim, into `values` when valid."""
    if "storage" in fields:
        storage = fields["storage"]
        amount = parse_quantity(storage) if isinstance(storage, str) else None
        if amount is None or amount <= 0:
            c.bad(
                f"{key}.storage", storage, "a positive Kubernetes quantity such as '1Gi' or '500Mi'"
            )
        else:
            values["storage"] = storage
    if "storageClass" in fields and (sc := c.string(f"{key}.storageClass", fields["storageClass"])):
        if not is_subdomain(sc):
            c.bad(f"{key}.storageClass", sc, f"a StorageClass name, {_SUBDOMAIN_RULE}")
        else:
            values["storageClass"] = sc


# --------------------------------------------------------------------------- loading


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
    """Every `tims-stack:*` and `github:*` config value Pulumi passed, and the secret ones.

    The engine passes config in the PULUMI_CONFIG environment variable; tests and
    providers set it with `pulumi.runtime.set_all_config`/`set_config`, which win.
    """
    merged: dict[str, Any] = dict(pulumi.runtime.get_config_env())
    merged.update(pulumi.runtime.config.CONFIG.get())
    wanted = (NS, "github:")
    raw = {
        k: runtime_string(v) for k, v in merged.items() if k.startswith(wanted) and v is not None
    }
    secret = {k for k in raw if pulumi.runtime.is_config_secret(k)}
    secret |= {k for k in pulumi.runtime.get_config_secret_keys_env() if k in raw}
    return raw, secret


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
    return config, Secrets(github_token=token)
