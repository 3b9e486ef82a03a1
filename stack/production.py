"""The production-profile config models (docs/production.md): autoscaling, Postgres and Redis
modes.

Declared like the rest of the schema (see `stack.models` on adding a key); the
models here are fields of `AppConfig` (`autoscaling`) and `PostgresConfig`
(`mode`, `external`, `cloudnativepg`, `allowModeChange`). The secret
`tims-stack:postgresPassword` is a top-level key (`stack.settings`) whose rules
between keys live in `stack.resolve`; so is `tims-stack:redisUrl` (redis.mode external),
whose form `redis_url_problem` checks.
"""

from __future__ import annotations

import ipaddress
import re
from typing import Annotated, Literal
from urllib.parse import urlsplit

from pydantic import Field

from stack import cron, rules
from stack.errors import Finding
from stack.fields import ConfigModel, Label, Subdomain, cross_field, declared, matches, rule

PostgresMode = Literal["inCluster", "external", "cloudnativepg"]
RedisMode = Literal["inCluster", "external"]
REDIS_URL_FORMS = (
    "redis://[[<user>]:<password>@]<host>[:<port>][/<db>] or, with TLS, "
    "rediss://[[<user>]:<password>@]<host>[:<port>][/<db>] (port 6379 when omitted, db a "
    "number; percent-encode reserved characters in the password)"
)
PASSWORD_KEY_NAME = "postgresPassword"  # noqa: S105 - a config key name, not a password
DEFAULT_CPU_TARGET = 70
MAX_REPLICAS = 100
MAX_UTILIZATION = 1000
"""HPA utilization is a percentage of the request; above 100 is legal (limits > requests)."""
MAX_CNPG_INSTANCES = 9
DEFAULT_OPERATOR_NAMESPACE = "cnpg-system"
PR_ENVIRONMENT = re.compile(r"^(?:app-)?pr-[1-9][0-9]*$")
"""PR environments of either repository (scripts/stack_names.py: `pr-<n>`, `app-pr-<n>`):
one CloudNativePG instance by default."""

_RETENTION = r"^[1-9][0-9]*[dwm]$"
# S3 only: the Cluster gets `s3Credentials` (components/data/cnpg.py); Google Cloud Storage
# and Azure Blob need other credential fields, which this program does not write.
_OBJECT_STORE_URL = re.compile(r"^s3://[a-z0-9][a-z0-9._-]{1,62}(?:/\S*)?$")
_NO_BARMAN_CLOUD = re.compile(r"(?:^|/)cloudnative-pg/postgresql:[0-9][0-9.]*-(minimal|standard)\b")
"""CloudNativePG's `minimal` and `standard` operand images ship without barman-cloud (they
are meant for the Barman Cloud plugin); only `system` images, the operator's default,
have it (cloudnative-pg/postgres-containers README, "Image Types")."""
_VERSIONED_IMAGE = re.compile(
    r"^[a-z0-9.:/_-]+:[0-9]+(?:\.[0-9]+)*(?:-[a-z0-9][a-z0-9.-]*)?(?:@sha256:[a-f0-9]{64})?$"
)
_PG_IDENTIFIER = r"^[A-Za-z_][A-Za-z0-9_$.-]{0,62}$"
_SECRET_KEY_NAME = r"^[-._a-zA-Z0-9]{1,253}$"  # noqa: S105 - a pattern, not a password


def default_instances(environment: str) -> int:
    """1 for a PR environment (throwaway, cheap), 3 otherwise: a primary and two replicas,
    so a failover still leaves a replica and a node drain never stops writes."""
    return 1 if PR_ENVIRONMENT.match(environment) else 3


def _host_problem(host: str) -> str | None:
    try:
        ipaddress.ip_address(host)
    except ValueError:
        problem = rules.dns_name_problem(host)
        return f"{problem}; expected a DNS name or an IP address" if problem else None
    return None


class Autoscaling(ConfigModel):
    """`tims-stack:<backend|frontend>.autoscaling`: an autoscaling/v2 HPA owns the replicas."""

    min: int = Field(ge=1, le=MAX_REPLICAS, description="Fewest replicas, 1..100.")
    max: int = Field(ge=1, le=MAX_REPLICAS, description="Most replicas, 1..100, >= min.")
    cpu: int = Field(
        default=DEFAULT_CPU_TARGET,
        ge=1,
        le=MAX_UTILIZATION,
        description="Target average CPU utilization, % of the CPU request.",
    )
    memory: int | None = Field(
        default=None,
        ge=1,
        le=MAX_UTILIZATION,
        description="Target average memory utilization, % of the memory request; unset: none.",
    )

    @cross_field("min", "max")
    def _max_not_below_min(self) -> list[Finding]:
        if self.max < self.min:
            # Quotes config values: not value_free, so a secure app config hides it.
            problem = f"is less than min {self.min}; expected max >= min"
            return [Finding("max >= min", problem, at=("max",), value=self.max, has_value=True)]
        return []

    @property
    def targets(self) -> dict[str, int]:
        """Resource name -> target utilization %, for the metrics the HPA uses."""
        found = {"cpu": self.cpu, "memory": self.memory}
        return {name: percent for name, percent in found.items() if percent is not None}


PgIdentifier = Annotated[
    str,
    Field(pattern=_PG_IDENTIFIER),
    declared("a PostgreSQL identifier: a letter or '_', then letters, digits, '_$.-', at most 63"),
]


class ExternalPostgres(ConfigModel):
    """`tims-stack:postgres.external`: a managed database the program does not run."""

    host: Annotated[str, rule(_host_problem, "the database server's DNS name or IP address")] = (
        Field(description="DNS name or IP address of the server.")
    )
    port: int = Field(default=5432, ge=1, le=65535, description="TCP port.")
    database: PgIdentifier = Field(description="Database name.")
    user: PgIdentifier = Field(description="User; its password is tims-stack:postgresPassword.")
    ssl_mode: Literal["require", "disable"] = Field(
        alias="sslMode",
        default="require",
        description='"require": TLS (DB_NO_SSL is not "true"); "disable": no TLS (private '
        "networks only).",
    )

    @property
    def tls(self) -> bool:
        return self.ssl_mode == "require"


class CnpgBackup(ConfigModel):
    """`tims-stack:postgres.cloudnativepg.backup`: barman-cloud to object storage."""

    destination_path: Annotated[
        str,
        matches(
            lambda v: bool(_OBJECT_STORE_URL.match(v)),
            "an S3 URL, s3://<bucket>/<path> (AWS S3, or an S3-compatible store with endpointURL)",
        ),
    ] = Field(
        alias="destinationPath",
        description="Where the backups go, e.g. s3://acme-backups/tims-stack/prod.",
    )
    endpoint_url: (
        Annotated[
            str,
            matches(
                lambda v: v.startswith("https://") and not any(c.isspace() for c in v),
                "an https:// URL of an S3-compatible endpoint (unset for AWS S3)",
            ),
        ]
        | None
    ) = Field(alias="endpointURL", default=None, description="S3-compatible stores only.")
    secret: Subdomain = Field(
        description="A Secret in the environment's namespace with the store's credentials."
    )
    access_key_id_key: Annotated[
        str, Field(pattern=_SECRET_KEY_NAME), declared("a Secret key name")
    ] = Field(alias="accessKeyIdKey", default="ACCESS_KEY_ID", description="Key in secret.")
    secret_access_key_key: Annotated[
        str, Field(pattern=_SECRET_KEY_NAME), declared("a Secret key name")
    ] = Field(alias="secretAccessKeyKey", default="ACCESS_SECRET_KEY", description="Key in secret.")
    retention_policy: Annotated[
        str,
        Field(pattern=_RETENTION),
        declared("a positive number of days, weeks or months, e.g. '30d', '8w', '6m'"),
    ] = Field(alias="retentionPolicy", default="30d", description="How long backups are kept.")
    schedule: Annotated[str, rule(cron.schedule_problem, cron.RULE)] = Field(
        default=cron.DEFAULT_SCHEDULE,
        description="When base backups run: six cron fields, seconds first (CloudNativePG's "
        "format). Default: daily at 03:00.",
    )


class CloudNativePG(ConfigModel):
    """`tims-stack:postgres.cloudnativepg`."""

    instances: int | None = Field(
        default=None,
        ge=1,
        le=MAX_CNPG_INSTANCES,
        description="1..9. Default: 1 for PR environments (pr-<n>, app-pr-<n>), 3 otherwise.",
    )
    image: (
        Annotated[
            str,
            matches(
                lambda v: bool(_VERSIONED_IMAGE.match(v)),
                "a PostgreSQL operand image whose tag pins a version (not latest), e.g. "
                "ghcr.io/cloudnative-pg/postgresql:18.1-system-trixie",
            ),
        ]
        | None
    ) = Field(default=None, description="Unset: the operator's default image.")
    operator_namespace: Label = Field(
        alias="operatorNamespace",
        default=DEFAULT_OPERATOR_NAMESPACE,
        description="Namespace the operator runs in (its NetworkPolicy rule).",
    )
    backup: CnpgBackup | None = Field(default=None, description="Unset: no backups.")

    @cross_field("image", "backup")
    def _backup_needs_barman_cloud(self) -> list[Finding]:
        flavour = _NO_BARMAN_CLOUD.search(self.image or "")
        if self.backup is not None and flavour is not None:
            problem = (
                f"is a {flavour.group(1)!r} image, which has no barman-cloud, so `backup` "
                "could archive nothing (failed WAL archiving fills the volume); expected a "
                "'system' image, e.g. ghcr.io/cloudnative-pg/postgresql:18.1-system-trixie, or "
                "no image (the operator's default)"
            )
            allowed = "an image with barman-cloud when backup is set"
            return [Finding(allowed, problem, at=("image",), value_free=True)]
        return []

    def instance_count(self, environment: str) -> int:
        return self.instances if self.instances is not None else default_instances(environment)


def mode_findings(
    mode: str, external: ExternalPostgres | None, cloudnativepg: CloudNativePG | None
) -> list[Finding]:
    """`external` only (and always) with mode external; `cloudnativepg` only with its mode."""
    found: list[Finding] = []
    if mode == "external" and external is None:
        problem = (
            'is required with mode \'external\': {"host": ..., "database": ..., "user": ...} '
            '(port 5432 and sslMode "require" by default)'
        )
        found.append(Finding("the managed database", problem, at=("external",), value_free=True))
    for field, owner, value in (
        ("external", "external", external),
        ("cloudnativepg", "cloudnativepg", cloudnativepg),
    ):
        if value is not None and mode != owner:
            problem = (
                f"applies only to mode {owner!r}, but mode is {mode!r}; remove it or set "
                f"mode to {owner!r}"
            )
            found.append(
                Finding(f"no {field} with mode {mode!r}", problem, at=(field,), value_free=True)
            )
    return found


def redis_url_problem(url: str) -> str | None:
    """What is wrong with a `tims-stack:redisUrl`, in words that quote none of it, or None.

    The forms channels_redis hands to redis-py's `from_url` (the app's CHANNEL_LAYERS
    `hosts`): redis:// and rediss:// (TLS); no unix:// socket, which no pod here has.
    """
    if any(c.isspace() or not c.isprintable() for c in url):
        return "contains whitespace or control characters"
    if url.partition("://")[0] not in ("redis", "rediss"):
        return "does not start with redis:// or rediss://"
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        return "has a port that is not a number from 1 to 65535, or brackets that do not close"
    if port == 0:
        return "has a port that is not a number from 1 to 65535"
    if not parts.hostname:
        return "has no host"
    if _host_problem(parts.hostname) is not None:
        return "has a host that is neither a DNS name nor an IP address"
    if parts.path not in ("", "/") and not re.fullmatch(r"/[0-9]{1,5}", parts.path):
        return "has a path that is not a database number (/0, /1, ...)"
    if parts.fragment:
        return "has a #fragment"
    return None
