"""The Django backend: its environment Secret, Deployment, and generated credentials."""

from __future__ import annotations

import functools
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import pulumi
import pulumi_random
from pulumi_kubernetes.core.v1 import (
    EnvVarArgs,
    EnvVarSourceArgs,
    ProbeArgs,
    SecretKeySelectorArgs,
)

from components.app import migrations as migration_job
from components.app.migrations import Migrations, MigrationsArgs
from components.app.services import BACKEND
from components.app.workload import app_workload, env_entries, part_workload
from components.contracts import DatabaseConnection, RedisConnection
from components.kube import pods, timeouts
from stack.config import BACKEND_CONTRACT_ENV, AppConfig, MigrationsConfig

ADMIN_USER = "admin"
DB_ENGINE = "django.db.backends.postgresql_psycopg2"
# The image's start script runs its start-up steps before the server listens (no-ops once
# the migration Job has run them; all of them when it is disabled): see components/kube/timeouts.py.
STARTUP_SECONDS = timeouts.BACKEND_STARTUP_SECONDS
READINESS_PATH = "/admin/login/"
"""Answers 200 whatever the Host without touching the database (spec: "Probes and routes that
work"); `/` answers 302 and would pass even if Django could not render."""
# Settings in `backend.env` that extend the program's comma list instead of replacing it.
_APPENDED_SETTINGS = ("EXTRA_TRUSTED_ORIGINS",)
# The contract's default. Host routing is the Ingress's or HTTPRoute's job; a
# narrower list answers 400 to load-balancer health checks that send the pod IP
# as Host (GKE NEG, AWS ALB target-type ip). `backend.env` may replace it.
ALLOWED_HOSTS_DEFAULT = "*"


@dataclass(frozen=True)
class PublicEndpoint:
    """How browsers reach the environment."""

    url: str
    """e.g. https://backend-dev.example.com"""
    host: str
    domain: str


def public_endpoint(url: str | None, host: str | None, domain: str | None) -> PublicEndpoint | None:
    """How browsers reach the environment; None when it has no public domain."""
    if url is None or host is None or domain is None:
        return None
    return PublicEndpoint(url=url, host=host, domain=domain)


def credentials_env(secret_name: pulumi.Input[str]) -> tuple[EnvVarArgs, ...]:
    """DB_USER and DB_PASSWORD from an operator's credentials Secret."""
    return tuple(
        EnvVarArgs(
            name=var,
            value_from=EnvVarSourceArgs(
                secret_key_ref=SecretKeySelectorArgs(name=secret_name, key=key)
            ),
        )
        for var, key in (("DB_USER", "username"), ("DB_PASSWORD", "password"))
    )


def url_settings(root_url: str) -> dict[str, str]:
    """ROOT_URL, ROOT_HOST, EXTRA_TRUSTED_ORIGINS and SESSION_COOKIE_DOMAIN: this environment only.

    Staging, production and every PR environment share one domain, so nothing
    may be scoped to that domain (../shared/spec/original-stack.md, "Sessions,
    CSRF and TLS"):
    - SESSION_COOKIE_DOMAIN is empty: Django then writes no Domain attribute
      and the browser returns the session cookie only to the exact host that
      set it (host-only); a login through a port-forward (localhost) works too.
    - ROOT_HOST is empty: the settings would trust `https://*.<ROOT_HOST>` and
      `https://<ROOT_HOST>` for CSRF; any value, even the environment's own
      host when that host is the domain itself, would trust other environments.
    - EXTRA_TRUSTED_ORIGINS is the environment's own origin (`backend.env`
      appends to it): behind a TLS-terminating proxy Django sees http, so the
      https origin browsers send must be trusted by name.
    """
    parts = urlsplit(root_url)
    return {
        "ROOT_URL": root_url,
        "ROOT_HOST": "",
        "EXTRA_TRUSTED_ORIGINS": f"{parts.scheme}://{parts.netloc}",
        "SESSION_COOKIE_DOMAIN": "",
    }


def with_extra_env(contract: Mapping[str, str], extra: Mapping[str, str]) -> dict[str, str]:
    """The contract plus the user's `backend.env`; never lets a contract value be replaced.

    Config already refuses the program-set keys (BACKEND_CONTRACT_ENV); they
    are skipped here too so a config object built another way cannot override
    them. EXTRA_TRUSTED_ORIGINS is appended to, because the origin the program
    sets is needed for logins; DJANGO_ALLOWED_HOSTS and DJANGO_DEBUG replace the
    program's value.
    """
    merged = dict(contract)
    for var, value in extra.items():
        if var in BACKEND_CONTRACT_ENV:
            continue
        if var in _APPENDED_SETTINGS and merged.get(var):
            merged[var] = f"{merged[var]},{value}"
        else:
            merged[var] = value
    return merged


@dataclass(frozen=True)
class BackendArgs:
    namespace: pulumi.Input[str]
    """Also UNIQUE_ID: the image derives the Redis host from it."""
    environment: str
    config: AppConfig
    """Replicas, extra env (see `with_extra_env`) and resources."""
    image: pulumi.Input[str]
    stopped: bool
    run_as_non_root: bool
    service_host: pulumi.Input[str]
    service_url: pulumi.Input[str]
    """In-cluster URL of the backend Service; the root URL when there is no public endpoint."""
    public: PublicEndpoint | None
    frontend_url: pulumi.Input[str]
    """In-cluster URL of the frontend Service (NEXTJS_HOST_URL)."""
    database: DatabaseConnection
    redis: RedisConnection
    pull_secret: pulumi.Input[str] | None = None
    env_is_secret: bool = True
    """Whether `config.env` came from a secure config value: its variables are then secret."""
    migrations: MigrationsConfig | None = None
    """The migration Job's settings; None (or not enabled) leaves the steps to the pods."""
    migrations_after: Sequence[pulumi.Resource] = ()
    """What the migration Job waits for (Postgres, Redis)."""


def _plain_inputs(args: BackendArgs) -> dict[str, Any]:
    """The contract's inputs; only non-secret ones, so the plain variables stay readable."""
    return {
        "db_host": args.database.host,
        "db_port": args.database.port,
        "db_name": args.database.name,
        "db_user": args.database.user,
        # A secret URL would make every plain entry secret: it goes in with the secrets.
        "redis_url": "" if args.redis.secret else args.redis.url,
        "frontend_url": args.frontend_url,
        "namespace": args.namespace,
        "service_host": args.service_host,
        "service_url": args.service_url,
    }


def plain_environment(args: BackendArgs, values: Mapping[str, Any]) -> dict[str, str]:
    """The contract's plain variables from the resolved `_plain_inputs`, plus `backend.env`."""
    public = args.public
    database = args.database
    urls = url_settings(public.url if public is not None else values["service_url"])
    contract = {
        "DB_ENGINE": DB_ENGINE,
        "DB_NAME": values["db_name"],
        "DB_USER": values["db_user"],
        "DB_HOST": values["db_host"],
        "DB_PORT": str(values["db_port"]),
        # The settings use sslmode=require unless this is "true" (in-cluster
        # Postgres has no TLS; managed and CloudNativePG servers have).
        "DB_NO_SSL": "false" if database.tls else "true",
        "REDIS_URL": values["redis_url"],
        "DJANGO_DEBUG": "false",
        "DJANGO_ALLOWED_HOSTS": ALLOWED_HOSTS_DEFAULT,
        "PRODUCTION": "true",
        **urls,
        "NEXTJS_HOST_URL": values["frontend_url"],
        "USE_NEXTJS_PROXY_ROUTES": "true",
        "UNIQUE_ID": values["namespace"],
        "BASE_ADMIN_USERNAME": ADMIN_USER,
    }
    if database.credentials_secret is not None:  # from secretKeyRefs instead
        del contract["DB_USER"]
    if args.redis.secret:  # a secret entry instead (`backend_env`)
        del contract["REDIS_URL"]
    return with_extra_env(contract, dict(args.config.env))


def backend_env(
    args: BackendArgs,
    *,
    secret_key: pulumi.Input[str],
    admin_password: pulumi.Input[str],
) -> dict[str, pulumi.Input[str]]:
    """The env Secret's entries: the plain contract per variable, then the secrets."""
    values = _plain_inputs(args)
    environment = functools.partial(plain_environment, args)
    plain: pulumi.Output[dict[str, str]] = pulumi.Output.all(**values).apply(environment)
    password = args.database.password
    return env_entries(
        plain,
        # The variable names do not depend on the values.
        environment(dict.fromkeys(values, "")),
        secret_names=dict(args.config.env) if args.env_is_secret else (),
        secrets={
            # None with credentials_secret: DB_PASSWORD then comes by secretKeyRef.
            **({"DB_PASSWORD": password} if password is not None else {}),
            **({"REDIS_URL": args.redis.url} if args.redis.secret else {}),
            "DJANGO_SECRET_KEY": secret_key,
            "BASE_ADMIN_USER_PASSWORD": admin_password,
        },
    )


def database_credentials(database: DatabaseConnection) -> tuple[EnvVarArgs, ...]:
    """secretKeyRefs to the operator's credentials Secret; none when the program holds them."""
    if database.credentials_secret is None:
        return ()
    return credentials_env(database.credentials_secret)


def readiness_probe(args: BackendArgs) -> ProbeArgs:
    """An HTTP check of READINESS_PATH on the named port."""
    public = args.public
    return pods.http_probe(
        READINESS_PATH,
        BACKEND.port_name,
        # The host the app serves, so a narrowed DJANGO_ALLOWED_HOSTS still answers.
        host=public.host if public is not None else args.service_host,
    )


class Backend(pulumi.ComponentResource):
    """Secret with the full environment contract, and a Deployment reading it with envFrom."""

    admin_user: pulumi.Output[str]
    admin_password: pulumi.Output[str]
    """Secret."""
    pod_labels: dict[str, str]
    migration_pod_labels: dict[str, str]
    """Labels of the migration Job's pods, which reach Postgres and Redis like the backend."""
    migration_logs: pulumi.Output[str] | None
    """`kubectl logs` for the current migration Job; None when no Job is registered."""

    def __init__(
        self, name: str, args: BackendArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        super().__init__("tims-stack:k8s:Backend", name, None, opts)
        object_labels = BACKEND.labels(args.environment)
        secret_key = self._django_secret_key(name)
        admin_password = self._admin_password(name)
        self.admin_user = pulumi.Output.from_input(ADMIN_USER)
        self.admin_password = pulumi.Output.secret(admin_password.result)
        credentials = database_credentials(args.database)
        self.migration_logs = None
        app_workload(
            name,
            part_workload(
                args,
                BACKEND,
                labels=object_labels,
                env=backend_env(
                    args, secret_key=secret_key.result, admin_password=admin_password.result
                ),
                startup_seconds=STARTUP_SECONDS,
                readiness=readiness_probe(args),
                before_rollout=functools.partial(self._migrate_first, name, args, credentials),
                extra_env=credentials,
            ),
            pulumi.ResourceOptions(parent=self),
        )
        self.pod_labels = object_labels
        self.migration_pod_labels = migration_job.labels(args.environment)
        self.register_outputs(
            {"admin_user": self.admin_user, "admin_password": self.admin_password}
        )

    # Both stable (no keepers): a new key would log every user out, a new admin
    # password would not match the account the first start created.
    def _django_secret_key(self, name: str) -> pulumi_random.RandomPassword:
        return pulumi_random.RandomPassword(
            f"{name}-django-secret-key",
            length=50,
            special=True,
            override_special="!#%&*()-_=+[]{}<>:?",
            opts=pulumi.ResourceOptions(parent=self),
        )

    def _admin_password(self, name: str) -> pulumi_random.RandomPassword:
        return pulumi_random.RandomPassword(
            f"{name}-admin-password",
            length=24,
            special=False,
            opts=pulumi.ResourceOptions(parent=self),
        )

    def _migrate_first(
        self,
        name: str,
        args: BackendArgs,
        credentials: tuple[EnvVarArgs, ...],
        env_secret_name: pulumi.Output[str],
    ) -> list[pulumi.Resource]:
        """The workload's `before_rollout`: the migration Job, when enabled and running."""
        migrations = args.migrations
        if migrations is None or not migrations.enabled or args.stopped:
            return []
        job = Migrations(
            f"{name}-migrations",
            MigrationsArgs(
                namespace=args.namespace,
                environment=args.environment,
                config=migrations,
                image=args.image,
                env_secret_name=env_secret_name,
                resources=pods.resources(args.config.resources),
                run_as_non_root=args.run_as_non_root,
                pull_secret=args.pull_secret,
                after=args.migrations_after,
                extra_env=credentials,
            ),
            pulumi.ResourceOptions(parent=self),
        )
        self.migration_logs = job.logs
        return [job]
