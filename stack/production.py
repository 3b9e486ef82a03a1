"""The production-profile config keys (issue 11): autoscaling and the Postgres modes.

Models and their validation, kept apart from stack/config.py, which calls
`parse_autoscaling`, `parse_postgres_mode` and `check_password_key` and stores
the results in `AppConfig.autoscaling` and `PostgresConfig`.

Keys (README "Production", docs/production.md):
- `tims-stack:<backend|frontend>.autoscaling`: {min, max, cpu, memory}.
- `tims-stack:postgres.mode`: inCluster (default) | external | cloudnativepg.
- `tims-stack:postgres.external`: {host, port, database, user, sslMode}.
- `tims-stack:postgresPassword`: the external database's password, secret only.
- `tims-stack:postgres.cloudnativepg`: {instances, image, operatorNamespace, backup}.
- `tims-stack:postgres.allowModeChange`: let `up` switch a live environment's mode.
"""

from __future__ import annotations

import ipaddress
import json
import re
from collections.abc import Collection, Mapping
from typing import TYPE_CHECKING, Any, Literal

from pydantic import BaseModel, ConfigDict, Field

if TYPE_CHECKING:
    from stack.config import _Checker

PostgresMode = Literal["inCluster", "external", "cloudnativepg"]
POSTGRES_MODES: tuple[str, ...] = ("inCluster", "external", "cloudnativepg")
SSL_MODES: tuple[str, ...] = ("require", "disable")
AUTOSCALING_FIELDS: tuple[str, ...] = ("min", "max", "cpu", "memory")
EXTERNAL_FIELDS: tuple[str, ...] = ("host", "port", "database", "user", "sslMode")
CNPG_FIELDS: tuple[str, ...] = ("instances", "image", "operatorNamespace", "backup")
BACKUP_FIELDS: tuple[str, ...] = (
    "destinationPath",
    "endpointURL",
    "secret",
    "accessKeyIdKey",
    "secretAccessKeyKey",
    "retentionPolicy",
)
POSTGRES_MODE_FIELDS: tuple[str, ...] = ("mode", "external", "cloudnativepg", "allowModeChange")
"""Fields of `tims-stack:postgres` this module owns (config.py owns image, storage, ...)."""
PASSWORD_KEY_NAME = "postgresPassword"  # noqa: S105 - a config key name, not a password
DEFAULT_CPU_TARGET = 70
MAX_REPLICAS = 100
MAX_UTILIZATION = 1000
"""HPA utilization is a percentage of the request; above 100 is legal (limits > requests)."""
MAX_CNPG_INSTANCES = 9
DEFAULT_OPERATOR_NAMESPACE = "cnpg-system"
DEFAULT_RETENTION = "30d"
DEFAULT_ACCESS_KEY_ID_KEY = "ACCESS_KEY_ID"
DEFAULT_SECRET_ACCESS_KEY_KEY = "ACCESS_SECRET_KEY"  # noqa: S105 - a Secret key name
PR_ENVIRONMENT = re.compile(r"^pr-[1-9][0-9]*$")
"""PR environments (scripts/stack_names.py): one CloudNativePG instance by default."""

_RETENTION = re.compile(r"^[1-9][0-9]*[dwm]$")
_BUCKET_URL = re.compile(r"^(s3|gs)://[a-z0-9][a-z0-9._-]{1,62}(/[^\s]*)?$")
_AZURE_URL = re.compile(r"^https://[a-z0-9-]+\.blob\.core\.windows\.net/[a-z0-9-]+(/[^\s]*)?$")
_IMAGE_WITH_VERSION = re.compile(
    r"^[a-z0-9.:/_-]+:(?P<tag>[0-9]+(?:\.[0-9]+)*(?:-[a-z0-9][a-z0-9.-]*)?)(?:@sha256:[a-f0-9]{64})?$"
)


class _Model(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid", populate_by_name=True)


class Autoscaling(_Model):
    """`tims-stack:<part>.autoscaling`: an autoscaling/v2 HPA between min and max replicas."""

    min: int = Field(ge=1)
    max: int = Field(ge=1)
    cpu: int = Field(default=DEFAULT_CPU_TARGET, ge=1)
    """Target average CPU utilization, % of the container's CPU request."""
    memory: int | None = Field(default=None, ge=1)
    """Target average memory utilization, % of the memory request; None: CPU only."""


class ExternalPostgres(_Model):
    """`tims-stack:postgres.external`: a managed database the program does not run."""

    host: str
    port: int = 5432
    database: str
    user: str
    ssl_mode: Literal["require", "disable"] = Field(default="require", alias="sslMode")

    @property
    def tls(self) -> bool:
        return self.ssl_mode == "require"


class CnpgBackup(_Model):
    """`tims-stack:postgres.cloudnativepg.backup`: barman-cloud to S3 (or S3-compatible)."""

    destination_path: str = Field(alias="destinationPath")
    """e.g. s3://bucket/tims-stack/prod"""
    endpoint_url: str | None = Field(default=None, alias="endpointURL")
    secret: str
    """A Secret in the environment's namespace holding the object-store credentials."""
    access_key_id_key: str = Field(default=DEFAULT_ACCESS_KEY_ID_KEY, alias="accessKeyIdKey")
    secret_access_key_key: str = Field(
        default=DEFAULT_SECRET_ACCESS_KEY_KEY, alias="secretAccessKeyKey"
    )
    retention_policy: str = Field(default=DEFAULT_RETENTION, alias="retentionPolicy")


class CloudNativePG(_Model):
    """`tims-stack:postgres.cloudnativepg`, defaults resolved."""

    instances: int = Field(ge=1, le=MAX_CNPG_INSTANCES)
    image: str | None = None
    """None: the operator's default PostgreSQL image."""
    operator_namespace: str = Field(default=DEFAULT_OPERATOR_NAMESPACE, alias="operatorNamespace")
    backup: CnpgBackup | None = None


def default_instances(environment: str) -> int:
    """1 for a PR environment (throwaway, cheap), 3 otherwise (a primary and two replicas,
    so a failover still leaves a replica and a node drain never stops writes)."""
    return 1 if PR_ENVIRONMENT.match(environment) else 3


def _raw_object(raw: Mapping[str, str], key: str) -> dict[str, Any]:
    """The decoded object at `key` ({} when unset or not an object; config.py reports those)."""
    try:
        value = json.loads(raw.get(key) or "{}")
    except ValueError:
        return {}
    return value if isinstance(value, dict) else {}


# --------------------------------------------------------------------------- autoscaling


def parse_autoscaling(
    c: _Checker, key: str, value: Any, requests: Mapping[str, str] | None
) -> Autoscaling | None:
    """`<part>.autoscaling`; `requests` are the configured requests (None: the defaults,
    which request both CPU and memory). Utilization targets need the matching request."""
    fields = c.obj(key, value, AUTOSCALING_FIELDS)
    if fields is None:
        return None
    values: dict[str, int] = {}
    for name in ("min", "max"):
        if name not in fields:
            c.error(
                f"{key}.{name}",
                f"is required: the {'fewest' if name == 'min' else 'most'} replicas the "
                'autoscaler may run, e.g. {"min": 2, "max": 6}',
                value_free=True,
            )
        elif n := c.integer(f"{key}.{name}", fields[name], minimum=1, maximum=MAX_REPLICAS):
            values[name] = n
    for name in ("cpu", "memory"):
        if name in fields:
            n = c.integer(f"{key}.{name}", fields[name], minimum=1, maximum=MAX_UTILIZATION)
            if n is not None:
                values[name] = n
            if requests is not None and name not in requests:
                c.error(
                    f"{key}.{name}",
                    f"targets {name} utilization, a percentage of the {name} request, but "
                    f"{key.rsplit('.', 1)[0]}.resources.requests sets no {name}",
                    allowed=f"a {name} request in resources.requests, or no {name} target",
                    value_free=True,
                )
    if requests is not None and "cpu" not in fields and "cpu" not in requests:
        c.error(
            f"{key}.cpu",
            "defaults to a 70% CPU target, but resources.requests sets no cpu; add a cpu request",
            value_free=True,
        )
    if "min" in values and "max" in values and values["min"] > values["max"]:
        c.error(
            f"{key}.max",
            f"is {values['max']}, less than min {values['min']}; expected max >= min",
            allowed="max >= min",
        )
    if len(values) < len(fields) or "min" not in values or "max" not in values:
        return None
    if values["min"] > values["max"]:
        return None
    return Autoscaling.model_validate(values)


# --------------------------------------------------------------------------- postgres


def check_password_key(
    c: _Checker, raw: Mapping[str, str], secret_keys: Collection[str], mode: str
) -> list[str]:
    """Rules for `tims-stack:postgresPassword`; returns notes (warnings)."""
    from stack.config import NS

    key = NS + PASSWORD_KEY_NAME
    given = bool(raw.get(key))
    if given and key not in secret_keys:
        c.error(
            key,
            "is stored in plain text; remove it with `pulumi config rm "
            f"{key}` and set it again with `pulumi config set --secret {key} <password>`",
            value_free=True,
        )
    if mode == "external" and not given:
        c.error(
            key,
            "is required with postgres.mode 'external': the database user's password, set "
            f"with `pulumi config set --secret {key} <password>`",
            value_free=True,
        )
    if given and mode != "external":
        return [f"{key} is set but postgres.mode is {mode!r}: it is not used"]
    return []


def parse_postgres_mode(
    c: _Checker, raw: Mapping[str, str], environment: str
) -> tuple[dict[str, Any], list[str]]:
    """The mode fields of `tims-stack:postgres` as PostgresConfig values, and notes."""
    from stack.config import NS

    key = NS + "postgres"
    fields = {k: v for k, v in _raw_object(raw, key).items() if v is not None}
    values: dict[str, Any] = {}
    notes: list[str] = []
    mode = fields.get("mode", "inCluster")
    if mode not in POSTGRES_MODES:
        c.bad(f"{key}.mode", mode, "one of " + ", ".join(repr(m) for m in POSTGRES_MODES))
        mode = "inCluster"
    values["mode"] = mode
    if "allowModeChange" in fields:
        flag = c.boolean(f"{key}.allowModeChange", fields["allowModeChange"])
        values["allowModeChange"] = bool(flag)
    for field, owner in (("external", "external"), ("cloudnativepg", "cloudnativepg")):
        if field in fields and mode != owner:
            c.error(
                f"{key}.{field}",
                f"applies only to mode {owner!r}, but postgres.mode is {mode!r}; remove it "
                f"or set postgres.mode to {owner!r}",
                value_free=True,
            )
    if mode == "external":
        values["external"] = _external(c, f"{key}.external", fields.get("external"))
        ignored = [f for f in ("image", "storage", "storageClass", "resources") if f in fields]
        if ignored:
            notes.append(
                f"{key}: {', '.join(ignored)} are not used with postgres.mode 'external' "
                "(the database runs elsewhere)"
            )
    elif mode == "cloudnativepg":
        values["cloudnativepg"] = _cnpg(
            c, f"{key}.cloudnativepg", fields.get("cloudnativepg", {}), environment
        )
        if "image" in fields:
            notes.append(
                f"{key}.image is not used with postgres.mode 'cloudnativepg'; set "
                "postgres.cloudnativepg.image for the operator's PostgreSQL image"
            )
    return values, notes


def _host_problem(host: str) -> str | None:
    from stack.config import dns_name_problem

    try:
        ipaddress.ip_address(host)
    except ValueError:
        return dns_name_problem(host)
    return None


def _external(c: _Checker, key: str, value: Any) -> ExternalPostgres | None:
    if value is None:
        c.error(
            key,
            'is required with postgres.mode \'external\': {"host": ..., "database": ..., '
            '"user": ...} (port 5432 and sslMode "require" by default)',
            value_free=True,
        )
        return None
    fields = c.obj(key, value, EXTERNAL_FIELDS)
    if fields is None:
        return None
    values: dict[str, Any] = {}
    ok = True
    for name in ("host", "database", "user"):
        if name not in fields:
            c.error(f"{key}.{name}", "is required with postgres.mode 'external'", value_free=True)
            ok = False
        elif (text := c.string(f"{key}.{name}", fields[name])) is None:
            ok = False
        else:
            values[name] = text
    if "host" in values and (problem := _host_problem(values["host"])) is not None:
        c.error(
            f"{key}.host",
            f"got {c.show(key, values['host'])}, which {problem}; expected the database "
            "server's DNS name or IP address",
            allowed="the database server's DNS name or IP address",
        )
        ok = False
    for name in ("database", "user"):
        if name in values and not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_$.-]{0,62}", values[name]):
            c.bad(f"{key}.{name}", values[name], "a PostgreSQL identifier, at most 63 characters")
            ok = False
    if "port" in fields:
        port = c.integer(f"{key}.port", fields["port"], minimum=1, maximum=65535)
        ok = ok and port is not None
        values["port"] = port
    if "sslMode" in fields:
        if fields["sslMode"] not in SSL_MODES:
            c.bad(
                f"{key}.sslMode",
                fields["sslMode"],
                "'require' (TLS, the default) or 'disable' (the app then sets DB_NO_SSL)",
            )
            ok = False
        values["sslMode"] = fields["sslMode"]
    return ExternalPostgres.model_validate(values) if ok else None


def _cnpg(c: _Checker, key: str, value: Any, environment: str) -> CloudNativePG | None:
    from stack.config import is_label

    fields = c.obj(key, value, CNPG_FIELDS)
    if fields is None:
        return None
    values: dict[str, Any] = {"instances": default_instances(environment)}
    ok = True
    if "instances" in fields:
        n = c.integer(
            f"{key}.instances", fields["instances"], minimum=1, maximum=MAX_CNPG_INSTANCES
        )
        ok = n is not None
        values["instances"] = n
    if "image" in fields and (image := c.string(f"{key}.image", fields["image"])) is not None:
        if _IMAGE_WITH_VERSION.match(image) is None:
            c.bad(
                f"{key}.image",
                image,
                "a PostgreSQL operand image whose tag pins a version (not latest), e.g. "
                "ghcr.io/cloudnative-pg/postgresql:18.1-standard-trixie",
            )
            ok = False
        values["image"] = image
    elif "image" in fields:
        ok = False
    if "operatorNamespace" in fields:
        ns = c.string(f"{key}.operatorNamespace", fields["operatorNamespace"])
        if ns is not None and not is_label(ns):
            c.bad(f"{key}.operatorNamespace", ns, "a namespace name (RFC 1123 label)")
            ns = None
        ok = ok and ns is not None
        values["operatorNamespace"] = ns
    if "backup" in fields:
        backup = _backup(c, f"{key}.backup", fields["backup"])
        ok = ok and backup is not None
        values["backup"] = backup
    return CloudNativePG.model_validate(values) if ok else None


def _backup(c: _Checker, key: str, value: Any) -> CnpgBackup | None:
    from stack.config import is_subdomain

    fields = c.obj(key, value, BACKUP_FIELDS)
    if fields is None:
        return None
    values: dict[str, Any] = {}
    ok = True
    for name in ("destinationPath", "secret"):
        if name not in fields:
            c.error(f"{key}.{name}", "is required for backups", value_free=True)
            ok = False
    for name in BACKUP_FIELDS:
        if name in fields:
            text = c.string(f"{key}.{name}", fields[name])
            ok = ok and text is not None
            values[name] = text
    checks = (
        (
            "destinationPath",
            lambda v: bool(_BUCKET_URL.match(v) or _AZURE_URL.match(v)),
            "an object-store URL: s3://<bucket>/<path>, gs://<bucket>/<path> or "
            "https://<account>.blob.core.windows.net/<container>/<path>",
        ),
        (
            "endpointURL",
            lambda v: v.startswith("https://") and " " not in v,
            "an https:// URL of an S3-compatible endpoint (unset for AWS S3)",
        ),
        ("secret", is_subdomain, "the name of a Secret in the environment's namespace"),
        ("accessKeyIdKey", _is_secret_key, "a Secret key name"),
        ("secretAccessKeyKey", _is_secret_key, "a Secret key name"),
        (
            "retentionPolicy",
            lambda v: bool(_RETENTION.match(v)),
            "a positive number of days, weeks or months, e.g. '30d', '8w', '6m'",
        ),
    )
    for name, good, allowed in checks:
        text = values.get(name)
        if text is not None and not good(text):
            c.bad(f"{key}.{name}", text, allowed)
            ok = False
    return CnpgBackup.model_validate(values) if ok else None


def _is_secret_key(name: str) -> bool:
    return bool(re.fullmatch(r"[-._a-zA-Z0-9]{1,253}", name))
