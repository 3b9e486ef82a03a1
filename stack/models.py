"""The config schema: every `tims-stack:*` key, declared once as pydantic models.

`StackSettings` has one field per `tims-stack:*` key; object keys are models
of their own (`RoutingConfig`, `BuildConfig`, ...). Types, bounds, defaults and
descriptions live here; validators only for rules that need code. Pulumi.yaml's
`config:` block, the key table in docs/config.md and
schema/stack-config.schema.json are generated from these models
(`python -m stack.generate`), and a test fails when they drift.

Adding a key:
- a field of an object key (e.g. `tims-stack:backend.foo`): add one field with
  `Field(default=..., description=...)` to that model (snake_case; the stack
  file spells it camelCase, `alias_generator` does that);
- a new top-level key: add the field to `StackSettings`, and to `StackConfig`
  in `stack.resolve` with one line in `resolve_config` passing it through;
- then run `python -m stack.generate` and commit the regenerated files.
A rule that needs code raises `stack.errors.fail(allowed, problem)` from a
validator; pydantic collects it with every other error.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from decimal import Decimal
from typing import Annotated, Any, ClassVar, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    ValidationInfo,
    field_validator,
    model_validator,
)

from stack import rules
from stack.contract import (
    BACKEND_CONTRACT_ENV,
    BUILD_PLACEHOLDERS,
    DEFAULT_BUILD_INPUTS,
    DEFAULT_CLUSTER_ISSUER,
    DEFAULT_GITHUB_API,
    DEFAULT_POSTGRES_IMAGE,
    DEFAULT_REDIS_IMAGE,
    FRONTEND_CONTRACT_ENV,
    MAX_BUILD_TIMEOUT,
    MAX_WORKFLOW_INPUTS,
    NS,
)
from stack.errors import Finding, did_you_mean, fail, fail_all, model_in


class ConfigModel(BaseModel):
    """Frozen, strict (no "2" for 2), unknown fields refused; `alias`: the stack-file name."""

    model_config = ConfigDict(
        frozen=True,
        extra="forbid",
        strict=True,
        populate_by_name=True,
        hide_input_in_errors=True,
    )

    @model_validator(mode="before")
    @classmethod
    def _null_is_unset(cls, data: Any) -> Any:
        """`field: null` in a stack file means "use the default", as Pulumi writes it."""
        if isinstance(data, dict):
            return {k: v for k, v in data.items() if v is not None}
        return data


# --------------------------------------------------------------------------- value types


def rule(check: Callable[[str], str | None], allowed: str) -> AfterValidator:
    """A string rule: `check` returns None (good), "" (bad) or the reason ("which ...")."""

    def validate(value: str) -> str:
        if (problem := check(value)) is not None:
            raise fail(allowed, problem or None)
        return value

    return AfterValidator(validate)


def matches(ok: Callable[[str], bool], allowed: str) -> AfterValidator:
    return rule(lambda value: None if ok(value) else "", allowed)


Label = Annotated[str, matches(rules.is_label, rules.LABEL_RULE)]
Subdomain = Annotated[str, matches(rules.is_subdomain, rules.SUBDOMAIN_RULE)]
DnsName = Annotated[str, rule(rules.dns_name_problem, rules.DNS_NAME_RULE)]
Namespace = Annotated[
    str,
    matches(rules.is_label, rules.LABEL_RULE),
    rule(rules.namespace_problem, "a namespace of its own, not 'default' or 'kube-*'"),
]


def _quantity(value: Any) -> str:
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        raise fail("a Kubernetes quantity such as '250m', '512Mi' or 1")
    text = str(value)
    number = rules.parse_quantity(text)
    if number is None or number < 0:
        raise fail("a non-negative Kubernetes quantity such as '250m' or '512Mi'")
    return text


def _storage(value: Any) -> str:
    amount = rules.parse_quantity(value) if isinstance(value, str) else None
    if amount is None or amount <= 0:
        raise fail("a positive Kubernetes quantity such as '1Gi' or '500Mi'")
    return str(value)


def _resource_name(name: str) -> str:
    if name not in rules.RESOURCE_NAMES:
        allowed = ", ".join(rules.RESOURCE_NAMES)
        raise fail(allowed, did_you_mean(name, rules.RESOURCE_NAMES), value_free=True)
    return name


Quantity = Annotated[str, BeforeValidator(_quantity)]
ResourceName = Annotated[str, AfterValidator(_resource_name)]


def _env_name(reserved: dict[str, str]) -> AfterValidator:
    """A variable name a user may set in an app's `env` (not one the program sets)."""

    def validate(name: str) -> str:
        if not rules.ENV_NAME.match(name):
            problem = (
                f"{name!r} is not an environment variable name: letters, digits and '_', "
                "not starting with a digit"
            )
            raise fail("an environment variable name", problem, value_free=True)
        if name in reserved:
            problem = f"is set by the program from the image contract ({reserved[name]}); remove it"
            raise fail("a variable the program does not set", problem, value_free=True)
        return name

    return AfterValidator(validate)


# --------------------------------------------------------------------------- objects


class Resources(ConfigModel):
    """Kubernetes resource requests and limits, e.g. {"cpu": "250m", "memory": "256Mi"}."""

    requests: dict[ResourceName, Quantity] = Field(
        default_factory=dict, description="cpu, memory, ephemeral-storage: Kubernetes quantities."
    )
    limits: dict[ResourceName, Quantity] = Field(
        default_factory=dict, description="As requests; each request must be <= its limit."
    )

    @model_validator(mode="after")
    def _requests_within_limits(self) -> Resources:
        found: list[Finding] = []
        for part in ("requests", "limits"):
            for name, text in getattr(self, part).items():
                if name != "cpu" and text.endswith("m"):
                    allowed = f"bytes; 'm' means thousandths here: did you mean '{text[:-1]}Mi'?"
                    found.append(Finding(allowed, at=(part, name), value=text, has_value=True))
        for name, request in self.requests.items():
            limit = self.limits.get(name)
            if limit is not None and _amount(request) > _amount(limit):
                problem = (
                    f"request {request!r} exceeds the limit {limit!r}; Kubernetes requires "
                    "request <= limit"
                )
                allowed = "a request no larger than the limit"
                found.append(Finding(allowed, problem, at=("requests", name), value_free=True))
        if found:
            raise fail_all(found)
        return self


def _amount(text: str) -> Decimal:
    return rules.parse_quantity(text) or Decimal(0)


class AppConfig(ConfigModel):
    """`tims-stack:backend` / `tims-stack:frontend`."""

    replicas: int = Field(default=1, ge=0, description="Number of pods, an integer >= 0.")
    env: dict[str, str] = Field(default_factory=dict)
    resources: Resources = Field(
        default_factory=Resources,
        description='{"requests": {...}, "limits": {...}} with cpu, memory, ephemeral-storage.',
    )


class BackendConfig(AppConfig):
    """`tims-stack:backend`."""

    replicas: int = Field(default=2, ge=0, description="Number of pods, an integer >= 0.")
    env: dict[Annotated[str, _env_name(BACKEND_CONTRACT_ENV)], str] = Field(
        default_factory=dict,
        description=(
            "Extra environment variables (name -> string). Variables the program sets from the "
            "image contract are refused (DB_*, REDIS_URL, DJANGO_SECRET_KEY, PRODUCTION, "
            "ROOT_URL, ROOT_HOST, SESSION_COOKIE_DOMAIN, NEXTJS_HOST_URL, "
            'USE_NEXTJS_PROXY_ROUTES, UNIQUE_ID, BASE_ADMIN_*). DJANGO_DEBUG ("true"/"false") '
            'replaces "false"; DJANGO_ALLOWED_HOSTS replaces the default "*"; '
            "EXTRA_TRUSTED_ORIGINS is appended to the public URL."
        ),
    )

    @field_validator("env")
    @classmethod
    def _debug_is_a_boolean_word(cls, env: dict[str, str]) -> dict[str, str]:
        debug = env.get("DJANGO_DEBUG")
        if debug is not None and debug not in ("true", "false"):
            allowed = '"true" or "false" (the settings compare with "true")'
            raise fail_all([Finding(allowed, at=("DJANGO_DEBUG",), value=debug, has_value=True)])
        return env


class FrontendConfig(AppConfig):
    """`tims-stack:frontend`."""

    replicas: int = Field(default=1, ge=0, description="Number of pods, an integer >= 0.")
    env: dict[Annotated[str, _env_name(FRONTEND_CONTRACT_ENV)], str] = Field(
        default_factory=dict,
        description=(
            "Extra environment variables (name -> string); not ROOT_URL or WEBSOCKET_PROTOCOL "
            "(the program sets them from the backend URL and TLS)."
        ),
    )


class RoutingConfig(ConfigModel):
    """`tims-stack:routing`."""

    kind: Literal["ingress", "gateway"] = Field(
        default="ingress", description="An Ingress, or an HTTPRoute on a shared Gateway."
    )
    class_name: Subdomain | None = Field(
        alias="className",
        default=None,
        description="ingress only: the IngressClass (unset: the cluster default).",
    )
    gateway: Subdomain | None = Field(
        default=None, description="gateway only, required: name of the shared Gateway."
    )
    gateway_namespace: Label | None = Field(
        alias="gatewayNamespace",
        default=None,
        description="gateway only: its namespace (unset: the environment's).",
    )
    section_name: Subdomain | None = Field(
        alias="sectionName", default=None, description="gateway only: the listener to attach to."
    )

    @model_validator(mode="after")
    def _fields_of_the_kind(self) -> RoutingConfig:
        other = "gateway" if self.kind == "ingress" else "ingress"
        names: tuple[str, ...] = ("class_name",)
        if self.kind == "ingress":
            names = ("gateway", "gateway_namespace", "section_name")
        alias = {n: f.alias or n for n, f in RoutingConfig.model_fields.items()}
        found = [
            Finding(
                f"no {alias[name]} with kind {self.kind!r}",
                f"applies only to kind {other!r}; remove it or set kind to {other!r}",
                at=(alias[name],),
                value=getattr(self, name),
                has_value=True,
            )
            for name in names
            if getattr(self, name) is not None
        ]
        if self.kind == "gateway" and self.gateway is None:
            problem = "is required with kind 'gateway': the name of the shared Gateway to attach to"
            found.append(Finding("a Gateway name", problem, at=("gateway",), value_free=True))
        if found:
            raise fail_all(found)
        return self


def _repository(value: str) -> str | None:
    owner, _, name = value.partition("/")
    ok = rules.GITHUB_LOGIN.match(owner) and rules.GITHUB_REPO_NAME.match(name)
    return None if ok and name not in (".", "..") else ""


def _template(value: str) -> str | None:
    return rules.placeholder_problem(value)


def _input_name(name: str) -> str:
    if not rules.WORKFLOW_INPUT.match(name):
        problem = (
            f"{name!r} is not a workflow input name: letters, digits, '-' and '_', "
            "not starting with a digit or '-'"
        )
        raise fail("a workflow input name", problem, value_free=True)
    return name


_PLACEHOLDERS = ", ".join("{" + p + "}" for p in BUILD_PLACEHOLDERS)


class BuildConfig(ConfigModel):
    """`tims-stack:build`, used when images.source is "build". Needs github:token."""

    repository: (
        Annotated[
            str,
            rule(
                _repository,
                "'owner/name': a GitHub login (letters, digits, inner '-') and a repository "
                "name (letters, digits, '.', '_', '-')",
            ),
        ]
        | None
    ) = Field(default=None, description='The application repository "owner/name".')
    workflow: Annotated[
        str,
        matches(
            lambda v: bool(rules.WORKFLOW_FILE.match(v)),
            "a workflow file name ending in .yml or .yaml, e.g. build-images.yml",
        ),
    ] = Field(default="build-images.yml", description="Its workflow file name (.yml/.yaml).")
    ref: Annotated[
        str, rule(rules.build_ref_problem, f"{rules.BUILD_REF_ALLOWED}, a valid git ref name")
    ] = Field(
        default="main",
        description=(
            "What to build: a branch name, or a tag written refs/tags/<name>; the workflow is "
            "dispatched on it. A commit sha is refused (GitHub dispatches only on a branch or "
            "tag; the program resolves the sha itself)."
        ),
    )
    inputs: dict[
        Annotated[str, AfterValidator(_input_name)],
        Annotated[str, rule(_template, f"a template using only the placeholders {_PLACEHOLDERS}")],
    ] = Field(
        default_factory=lambda: dict(DEFAULT_BUILD_INPUTS),
        max_length=MAX_WORKFLOW_INPUTS,
        description=(
            "Workflow input name -> value template with the placeholders "
            f"{_PLACEHOLDERS}; at most {MAX_WORKFLOW_INPUTS} (GitHub's limit). Must pass {{tag}}."
        ),
    )
    timeout: int = Field(
        default=1800, ge=1, le=MAX_BUILD_TIMEOUT, description="Seconds before giving up."
    )
    delete_images_on_destroy: bool = Field(
        alias="deleteImagesOnDestroy",
        default=True,
        description="Delete this environment's image versions on destroy.",
    )

    @field_validator("inputs")
    @classmethod
    def _inputs_pass_the_tag(cls, inputs: dict[str, str]) -> dict[str, str]:
        # ImageBuild waits for images with exactly this tag; the provider refuses
        # this too, but only at preview, after other resources were registered.
        if not any("{tag}" in template for template in inputs.values()):
            problem = (
                "passes no {tag} to the workflow, so the images could not be found after the "
                'build; map the input that names the image tag, e.g. "tag": "{tag}"'
            )
            raise fail('an input that passes {tag}, e.g. "tag": "{tag}"', problem, value_free=True)
        return inputs

    @property
    def tag(self) -> str | None:
        """The tag name when `ref` is `refs/tags/<name>`; None when `ref` is a branch."""
        if self.ref.startswith(rules.TAG_REF_PREFIX):
            return self.ref.removeprefix(rules.TAG_REF_PREFIX)
        return None

    @property
    def owner(self) -> str | None:
        """Owner part of `repository` (as written), or None."""
        return self.repository.split("/", 1)[0] if self.repository else None


_IMAGE_REPOSITORY = (
    "a lowercase image repository without tag or digest, e.g. "
    "ghcr.io/acme/tims-stack-backend-image-prod"
)
ImageRepository = Annotated[str, rule(rules.repository_problem, _IMAGE_REPOSITORY)]


class ImagesSettings(ConfigModel):
    """`tims-stack:images` as written; `stack.resolve.ImagesConfig` is the resolved form."""

    source: Literal["build", "prebuilt"] | None = Field(
        default=None, description='Default: "build" when build.repository is set, else "prebuilt".'
    )
    backend: ImageRepository | None = Field(
        default=None,
        description=(
            "Repository without tag or digest, lowercase. Default: ghcr.io/<github:owner or "
            "build.repository owner>/tims-stack-backend-image-prod. ghcr.io with build or private."
        ),
    )
    frontend: ImageRepository | None = Field(
        default=None, description="As backend: ghcr.io/<owner>/tims-stack-frontend-image-prod."
    )
    tag: (
        Annotated[
            str,
            matches(
                lambda v: bool(rules.DOCKER_TAG.match(v)),
                "a Docker tag: letters, digits, '_', '.', '-', at most 128, "
                "not starting with '.' or '-'",
            ),
        ]
        | None
    ) = Field(
        default=None,
        description="The tag to deploy: required with prebuilt, refused with build "
        "(which tags <environment>-<sha12>).",
    )
    private: bool | None = Field(
        default=None,
        description="Pull with a ghcr.io pull secret made from github:token. "
        "Default: true with build, else false.",
    )


class _DataStore(ConfigModel):
    IMAGES: ClassVar[tuple[str, ...]]
    MIN_MAJOR: ClassVar[int]
    EXAMPLE_TAG: ClassVar[str]
    image: str
    storage: Annotated[str, BeforeValidator(_storage)]
    storage_class: (
        Annotated[str, matches(rules.is_subdomain, f"a StorageClass name, {rules.SUBDOMAIN_RULE}")]
        | None
    ) = Field(
        alias="storageClass",
        default=None,
        description="StorageClass name (unset: the cluster default).",
    )
    resources: Resources = Field(default_factory=Resources, description="As backend.resources.")

    @field_validator("image")
    @classmethod
    def _official_image(cls, image: str) -> str:
        problem = rules.official_image_problem(image, cls.IMAGES, cls.MIN_MAJOR, cls.EXAMPLE_TAG)
        if problem is not None:
            raise fail("an official image with a tag pinning a supported major version", problem)
        return image

    @property
    def major(self) -> int:
        """Major version pinned by the image tag (18 for `postgres:18-alpine`)."""
        return rules.official_image(self.image, self.IMAGES).major


class PostgresConfig(_DataStore):
    """`tims-stack:postgres`."""

    IMAGES = rules.POSTGRES_NAMES
    MIN_MAJOR = 10
    EXAMPLE_TAG = "18-alpine"
    image: str = Field(
        default=DEFAULT_POSTGRES_IMAGE,
        description="The official image (postgres, docker.io/library/postgres, or a mirror's "
        "<host>/.../library/postgres) with a tag pinning the major version (not latest).",
    )
    storage: Annotated[str, BeforeValidator(_storage)] = Field(
        default="1Gi", description="PVC size, a positive quantity."
    )


class RedisConfig(_DataStore):
    """`tims-stack:redis`."""

    IMAGES = rules.REDIS_NAMES
    MIN_MAJOR = 5
    EXAMPLE_TAG = "7.4-alpine"
    image: str = Field(
        default=DEFAULT_REDIS_IMAGE,
        description="The official redis or valkey/valkey image with a pinned major, e.g. "
        "redis:7.4-alpine or valkey/valkey:8.1-alpine.",
    )
    storage: Annotated[str, BeforeValidator(_storage)] = Field(
        default="256Mi",
        description="Claim for the append-only file (queued Celery tasks), a positive quantity.",
    )


# --------------------------------------------------------------------------- top level


def _unset_if_empty(value: Any) -> Any:
    """Pulumi.yaml declares "" defaults for derived keys; "" means "derive it"."""
    return None if value == "" else value


def _runtime_bool(value: Any) -> Any:
    """Pulumi's runtime holds booleans as the strings "true"/"false"."""
    if value in ("true", "false"):
        return value == "true"
    if isinstance(value, bool) or value is None:
        return value
    raise fail("true or false")


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


Derived = BeforeValidator(_unset_if_empty)
RuntimeBool = BeforeValidator(_runtime_bool)
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
    domain: Annotated[DnsName | None, Derived] = Field(
        default=None,
        description="Base domain, e.g. example.com. Empty: no Ingress or HTTPRoute; URLs are "
        "cluster-internal. Also sets the backend's cookie domain and CSRF origins.",
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
        str, matches(rules.is_subdomain, f"a ClusterIssuer name, {rules.SUBDOMAIN_RULE}")
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
        default_factory=PostgresConfig, description="The Postgres StatefulSet."
    )
    redis: Annotated[RedisConfig, RuntimeObject] = Field(
        default_factory=RedisConfig, description="The Redis StatefulSet."
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
