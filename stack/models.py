"""The config schema: the object keys (`tims-stack:routing`, `build`, `backend`, ...).

Every `tims-stack:*` key is declared once: top-level keys in
`stack.settings.StackSettings`, each object key's fields in a model here,
in `stack.apps` (backend, frontend, resources) or in `stack.production`
(autoscaling, the Postgres modes).
Types, bounds, patterns, defaults and descriptions are declared; validators
exist only for rules that need code. Pulumi.yaml's `config:` block, the key
table in docs/config.md and schema/stack-config.schema.json are generated from
these models (`python -m stack.generate`); tests fail when they drift.

Adding a key:
- a field of an object key (e.g. `tims-stack:backend.foo`): add one field to
  that model, `foo: int = Field(default=1, ge=0, description="...")`. Python
  names are snake_case; a two-word name needs `alias="camelCase"` (the stack
  file's spelling; a test checks it). Components read it as `config.backend.foo`.
- a new top-level key: add the field to `StackSettings` (stack/settings.py),
  the same name to `StackConfig` (stack/resolve.py) and pass it through in
  `_resolve` there (one line each).
- then run `python -m stack.generate` and commit the regenerated Pulumi.yaml,
  docs/config.md and schema/stack-config.schema.json; add the key to
  Pulumi.example.yaml (a test checks every top-level key is shown there).
A rule that needs code raises `stack.errors.fail(allowed, problem)` from a
validator (see `stack.fields` for reusable value types); pydantic collects it
with every other error, and the message names the key, the value (never a
secret's) and what is allowed. A rule between fields of one model is a
method decorated `@cross_field("a", "b")` returning `stack.errors.Finding`s:
unlike a plain "after" model validator it is reported in the same run as an
error of another field.
"""

from __future__ import annotations

import json
from typing import Annotated, Any, ClassVar, Literal

from pydantic import BeforeValidator, Field, field_validator, model_validator

from stack import apps, rules
from stack.apps import AppConfig, BackendConfig, FrontendConfig, Resources
from stack.contract import (
    DEFAULT_BUILD_INPUTS,
    DEFAULT_MIGRATION_STEPS,
    DEFAULT_POSTGRES_IMAGE,
    DEFAULT_REDIS_IMAGE,
    MAX_BUILD_TIMEOUT,
    MAX_MIGRATION_STEPS,
    MAX_MIGRATION_TIMEOUT,
    MAX_WORKFLOW_INPUTS,
)
from stack.errors import Finding, fail
from stack.fields import (
    PLACEHOLDERS,
    SUBDOMAIN,
    ConfigModel,
    GitHubRepository,
    ImageRepository,
    Label,
    StorageSize,
    Subdomain,
    Template,
    WorkflowInputName,
    cross_field,
    declared,
    matches,
    rule,
)
from stack.production import (
    CloudNativePG,
    ExternalPostgres,
    PostgresMode,
    RedisMode,
    mode_findings,
)

__all__ = [
    "AppConfig",
    "BackendConfig",
    "BuildConfig",
    "FrontendConfig",
    "ImagesSettings",
    "MigrationsConfig",
    "PostgresConfig",
    "RedisConfig",
    "Resources",
    "RoutingConfig",
]

# --------------------------------------------------------------------------- objects


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

    @cross_field("kind", "gateway")  # a failed other field is None here: nothing to say
    def _fields_of_the_kind(self) -> list[Finding]:
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
        return found


class BuildConfig(ConfigModel):
    """`tims-stack:build`, used when images.source is "build". Needs github:token."""

    repository: GitHubRepository | None = Field(
        default=None, description='The application repository "owner/name".'
    )
    workflow: Annotated[
        str,
        Field(pattern=rules.WORKFLOW_FILE.pattern),
        declared("a workflow file name ending in .yml or .yaml, e.g. build-images.yml"),
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
    inputs: dict[WorkflowInputName, Template] = Field(
        default_factory=lambda: dict(DEFAULT_BUILD_INPUTS),
        max_length=MAX_WORKFLOW_INPUTS,
        description=(
            "Workflow input name -> value template with the placeholders "
            f"{PLACEHOLDERS}; at most {MAX_WORKFLOW_INPUTS} (GitHub's limit). Must pass {{tag}}."
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
            Field(pattern=rules.DOCKER_TAG.pattern),
            declared(
                "a Docker tag: letters, digits, '_', '.', '-', at most 128, "
                "not starting with '.' or '-'"
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
    storage: StorageSize
    storage_class: (
        Annotated[str, SUBDOMAIN, declared(f"a StorageClass name, {rules.SUBDOMAIN_RULE}")] | None
    ) = Field(
        alias="storageClass",
        default=None,
        description="StorageClass name (unset: the cluster default).",
    )
    resources: Resources

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


POSTGRES_RESOURCES = Resources(
    requests={"cpu": "100m", "memory": "256Mi"}, limits={"memory": "1Gi"}
)
CNPG_RESOURCES = Resources(requests={"cpu": "250m", "memory": "512Mi"}, limits={"memory": "1Gi"})
REDIS_RESOURCES = Resources(requests={"cpu": "50m", "memory": "64Mi"}, limits={"memory": "256Mi"})


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
    storage: StorageSize = Field(default="1Gi", description="PVC size, a positive quantity.")
    resources: Resources = apps.resources_field(
        POSTGRES_RESOURCES,
        f" With mode cloudnativepg: {json.dumps(CNPG_RESOURCES.model_dump())}, as its instance "
        "manager runs next to Postgres in each pod.",
    )
    # Production profile: stack/production.py, docs/production.md.
    mode: PostgresMode = Field(
        default="inCluster",
        description='"inCluster" (a StatefulSet), "external" (a managed database) or '
        '"cloudnativepg" (a CloudNativePG Cluster).',
    )
    external: ExternalPostgres | None = Field(
        default=None, description="mode external only, required: the managed database."
    )
    cloudnativepg: CloudNativePG | None = Field(
        default=None, description="mode cloudnativepg only: the Cluster's settings."
    )
    allow_mode_change: bool = Field(
        alias="allowModeChange",
        default=False,
        description="true lets `up` change the mode of a live environment (data is not "
        "moved: dump and restore, docs/production.md).",
    )

    @model_validator(mode="before")
    @classmethod
    def _resources_of_the_mode(cls, data: Any) -> Any:
        if not isinstance(data, dict):
            return data
        default = CNPG_RESOURCES if data.get("mode") == "cloudnativepg" else POSTGRES_RESOURCES
        return {**data, "resources": apps.merged(data.get("resources") or {}, default)}

    @cross_field("mode", "external", "cloudnativepg")
    def _mode_fields(self) -> list[Finding]:
        return mode_findings(self.mode, self.external, self.cloudnativepg)


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
    storage: StorageSize = Field(
        default="256Mi",
        description="Claim for the append-only file, a positive quantity.",
    )
    # Production profile: docs/production.md ("Managed Redis").
    mode: RedisMode = Field(
        default="inCluster",
        description='"inCluster" (a StatefulSet) or "external" (a managed Redis at the secret '
        "tims-stack:redisUrl; the other redis fields are then unused).",
    )
    allow_mode_change: bool = Field(
        alias="allowModeChange",
        default=False,
        description="true lets `up` change the mode of a live environment (nothing is moved: "
        "messages in flight are lost, docs/production.md).",
    )
    resources: Annotated[
        Resources, BeforeValidator(lambda value: apps.merged(value, REDIS_RESOURCES))
    ] = apps.resources_field(REDIS_RESOURCES)


_STEPS_RULE = (
    f"a list of 1 to {MAX_MIGRATION_STEPS} non-empty shell command lines, "
    'e.g. ["python3 manage.py migrate"]'
)
MigrationStep = Annotated[str, matches(lambda v: bool(v.strip()) and "\x00" not in v, _STEPS_RULE)]


class MigrationsConfig(ConfigModel):
    """`tims-stack:migrations`: the Job that runs the start-up steps once per backend release."""

    enabled: bool = Field(
        default=True,
        description="Run the steps in a Job before each backend rollout; false leaves them to "
        "every backend pod (the image's start script).",
    )
    steps: Annotated[
        list[MigrationStep],
        Field(min_length=1, max_length=MAX_MIGRATION_STEPS),
        declared(_STEPS_RULE),
    ] = Field(
        default_factory=lambda: list(DEFAULT_MIGRATION_STEPS),
        description=f"1 to {MAX_MIGRATION_STEPS} shell command lines run in order with `sh -c` "
        "in the backend image with the backend's env; the first failure fails the Job. "
        "Default: the original stack's run-once steps (migrate, admin user, test users and chats).",
    )
    timeout: int = Field(
        default=900,
        ge=60,
        le=MAX_MIGRATION_TIMEOUT,
        description="Seconds the Job may run (its activeDeadlineSeconds).",
    )
    backoff_limit: int = Field(
        alias="backoffLimit",
        default=2,
        ge=0,
        le=10,
        description="New pods after a failed run; each runs every step again.",
    )
