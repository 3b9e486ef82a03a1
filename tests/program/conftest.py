"""Fixtures for the program tests: scenario configs, cached mock runs, the HTTPRoute schema."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import pytest

from scripts.manifest_schemas import closed_schema
from scripts.mockrun import FAKE_TOKEN, SECRET_MARK, ProgramRun, run_function, run_program
from stack.config import StackConfig, parse_config, runtime_string
from tests.conftest import crd_v1_schema
from tests.program.k8s import RunComponent, Runs

BACKEND_REPO = "ghcr.io/acme/tims-stack-backend-image-prod"
FRONTEND_REPO = "ghcr.io/acme/tims-stack-frontend-image-prod"
APP_REPOSITORY = "acme/tims-stack-anystack"
PREBUILT_TAG = "v1.2.3"

_BUILD: dict[str, Any] = {
    "tims-stack:domain": "example.com",
    "tims-stack:images": {"source": "build", "backend": BACKEND_REPO, "frontend": FRONTEND_REPO},
    "tims-stack:build": {"repository": APP_REPOSITORY, "ref": "main"},
    "tims-stack:backend": {"env": {"LOG_LEVEL": "info"}},
    "github:token": FAKE_TOKEN,
}
_PREBUILT_IMAGES = {
    "source": "prebuilt",
    "backend": BACKEND_REPO,
    "frontend": FRONTEND_REPO,
    "tag": PREBUILT_TAG,
}

EXTERNAL_DB_PASSWORD = f"{SECRET_MARK}-external-db-password"
EXTERNAL_REDIS_HOST = "managed-redis.example.net"
EXTERNAL_REDIS_URL = f"rediss://default:{SECRET_MARK}-redis-password@{EXTERNAL_REDIS_HOST}:6380/0"
SECRET_KEYS = frozenset({"github:token", "tims-stack:postgresPassword", "tims-stack:redisUrl"})
"""Keys the scenarios hold as secrets (as `pulumi config set --secret` would)."""
AUTOSCALING = {
    "tims-stack:backend": {
        "env": {"LOG_LEVEL": "info"},
        "autoscaling": {"min": 2, "max": 6, "cpu": 70, "memory": 80},
    },
    "tims-stack:frontend": {"autoscaling": {"min": 2, "max": 4}},
}
EXTERNAL_DB = {
    "tims-stack:postgres": {
        "mode": "external",
        "external": {"host": "db.example.net", "database": "tims", "user": "tims_app"},
    },
    "tims-stack:postgresPassword": EXTERNAL_DB_PASSWORD,
}
EXTERNAL_REDIS = {
    "tims-stack:redis": {"mode": "external"},
    "tims-stack:redisUrl": EXTERNAL_REDIS_URL,
}
CNPG = {
    "tims-stack:postgres": {
        "mode": "cloudnativepg",
        "storage": "20Gi",
        "storageClass": "fast-ssd",
        "cloudnativepg": {
            "image": "ghcr.io/cloudnative-pg/postgresql:18.1-system-trixie",
            "backup": {
                "destinationPath": "s3://acme-db-backups/tims-stack/dev",
                "endpointURL": "https://s3.eu-central-1.amazonaws.com",
                "secret": "tims-stack-backup-s3",
                "retentionPolicy": "30d",
            },
        },
    },
}

SCENARIOS: dict[str, dict[str, Any]] = {
    # Build mode with a public domain: the configuration most users start from.
    "default": _BUILD,
    "stopped": {**_BUILD, "tims-stack:stopped": True},
    "prebuilt": {"tims-stack:domain": "example.com", "tims-stack:images": _PREBUILT_IMAGES},
    "no-domain": {k: v for k, v in _BUILD.items() if k != "tims-stack:domain"},
    "tls-off": {**_BUILD, "tims-stack:tls": False},
    "private": {
        "tims-stack:domain": "example.com",
        "tims-stack:images": {**_PREBUILT_IMAGES, "private": True},
        "github:owner": "acme",
        "github:token": FAKE_TOKEN,
    },
    "gateway": {
        **_BUILD,
        "tims-stack:routing": {
            "kind": "gateway",
            "gateway": "shared-gateway",
            "gatewayNamespace": "gateway-system",
            "sectionName": "https",
        },
    },
    "non-root": {
        "tims-stack:domain": "example.com",
        "tims-stack:images": _PREBUILT_IMAGES,
        "tims-stack:runAsNonRoot": True,
    },
    # Production profile (docs/production.md).
    "autoscaling": {**_BUILD, **AUTOSCALING},
    "autoscaling-stopped": {**_BUILD, **AUTOSCALING, "tims-stack:stopped": True},
}

DB_MODE_SCENARIOS: dict[str, dict[str, Any]] = {
    # Postgres or Redis outside their StatefulSets: tests/program/test_postgres_modes.py and
    # test_redis_modes.py check these (the generic scenario tests above assume both in-cluster
    # StatefulSets).
    "external-db": {**_BUILD, **EXTERNAL_DB},
    "external-db-no-tls": {
        **_BUILD,
        **EXTERNAL_DB,
        "tims-stack:postgres": {
            "mode": "external",
            "external": {
                "host": "10.20.30.40",
                "port": 6432,
                "database": "tims",
                "user": "tims_app",
                "sslMode": "disable",
            },
        },
    },
    "external-db-stopped": {**_BUILD, **EXTERNAL_DB, "tims-stack:stopped": True},
    "cloudnativepg": {**_BUILD, **CNPG},
    "cloudnativepg-stopped": {**_BUILD, **CNPG, "tims-stack:stopped": True},
    "cloudnativepg-pr": {
        **_BUILD,
        "tims-stack:environment": "pr-12",
        "tims-stack:postgres": {"mode": "cloudnativepg"},
    },
    "cloudnativepg-autoscaling": {**_BUILD, **CNPG, **AUTOSCALING},
    "cloudnativepg-autoscaling-stopped": {
        **_BUILD,
        **CNPG,
        **AUTOSCALING,
        "tims-stack:stopped": True,
    },
    "external-db-autoscaling": {**_BUILD, **EXTERNAL_DB, **AUTOSCALING},
    "external-db-autoscaling-stopped": {
        **_BUILD,
        **EXTERNAL_DB,
        **AUTOSCALING,
        "tims-stack:stopped": True,
    },
    "external-redis": {**_BUILD, **EXTERNAL_REDIS},
    "external-redis-stopped": {**_BUILD, **EXTERNAL_REDIS, "tims-stack:stopped": True},
    "external-all": {**_BUILD, **EXTERNAL_DB, **EXTERNAL_REDIS, **AUTOSCALING},
    "external-all-stopped": {
        **_BUILD,
        **EXTERNAL_DB,
        **EXTERNAL_REDIS,
        **AUTOSCALING,
        "tims-stack:stopped": True,
    },
    # An application PR's environment (pr-environment.yml, stack app-pr-<n>), stopped by the
    # nightly stop and the TTL like a pr-<n> one.
    "app-pr": {**_BUILD, **CNPG, "tims-stack:environment": "app-pr-12"},
    "app-pr-stopped": {
        **_BUILD,
        **CNPG,
        "tims-stack:environment": "app-pr-12",
        "tims-stack:stopped": True,
    },
}
STOP_START_PAIRS = (
    ("default", "stopped"),
    ("autoscaling", "autoscaling-stopped"),
    ("external-db", "external-db-stopped"),
    ("external-db-autoscaling", "external-db-autoscaling-stopped"),
    ("cloudnativepg", "cloudnativepg-stopped"),
    ("cloudnativepg-autoscaling", "cloudnativepg-autoscaling-stopped"),
    ("external-redis", "external-redis-stopped"),
    ("external-all", "external-all-stopped"),
    ("app-pr", "app-pr-stopped"),
)
"""(running, stopped) scenarios: every postgres.mode with autoscaling off and on, the
managed Redis alone and beside a managed database, and an application PR's environment."""


@pytest.fixture(scope="session")
def program_runs() -> Runs:
    """The program's run for a named scenario; each scenario runs once per session."""
    cache: dict[str, ProgramRun] = {}

    def get(name: str) -> ProgramRun:
        if name not in cache:
            raw = SCENARIOS[name] if name in SCENARIOS else DB_MODE_SCENARIOS[name]
            cache[name] = run_program(raw, secret_keys=SECRET_KEYS)
        return cache[name]

    return get


@pytest.fixture(params=sorted(SCENARIOS))
def scenario(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def scenario_run(scenario: str, program_runs: Runs) -> ProgramRun:
    return program_runs(scenario)


@pytest.fixture(scope="session")
def storage_runs() -> Callable[[str, str | None], ProgramRun]:
    """The prebuilt scenario with a given `tims-stack:postgres` storage size and class.

    For comparing what a storage change does to the program's resources; each
    (size, class) pair runs once per session.
    """
    cache: dict[tuple[str, str | None], ProgramRun] = {}

    def get(storage: str, storage_class: str | None = None) -> ProgramRun:
        key = (storage, storage_class)
        if key not in cache:
            postgres: dict[str, str] = {"storage": storage}
            if storage_class is not None:
                postgres["storageClass"] = storage_class
            cache[key] = run_program({**SCENARIOS["prebuilt"], "tims-stack:postgres": postgres})
        return cache[key]

    return get


@pytest.fixture
def default_run(program_runs: Runs) -> ProgramRun:
    return program_runs("default")


def stack_config(raw: Mapping[str, Any], stack: str = "dev") -> StackConfig:
    """A validated StackConfig from raw config, as the program would get it."""
    return parse_config(
        {k: runtime_string(v) for k, v in raw.items()},
        stack=stack,
        env={},
        secret_keys={"github:token"},
    )


@pytest.fixture
def config_of() -> Callable[..., StackConfig]:
    return stack_config


@pytest.fixture
def run_component() -> RunComponent:
    """Run a function that builds one component under the mocks; fail on any error."""

    def run(body: Callable[[], object]) -> ProgramRun:
        result = run_function(body)
        if result.error is not None:
            raise result.error
        return result

    return run


@pytest.fixture(params=sorted(DB_MODE_SCENARIOS))
def mode_scenario(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def mode_run(mode_scenario: str, program_runs: Runs) -> ProgramRun:
    return program_runs(mode_scenario)


@pytest.fixture(scope="session")
def cnpg_cluster_schema() -> dict[str, Any]:
    """The v1 Cluster schema from the CloudNativePG CRD in ../shared, closed to unknown fields
    (skips when absent)."""
    return dict(
        closed_schema(crd_v1_schema("cloudnative-pg/postgresql.cnpg.io_clusters.v1.30.0.yaml"))
    )


@pytest.fixture(scope="session")
def cnpg_scheduled_backup_schema() -> dict[str, Any]:
    """The v1 ScheduledBackup schema from the CloudNativePG CRD in ../shared, closed to unknown
    fields (skips when absent)."""
    return dict(
        closed_schema(
            crd_v1_schema("cloudnative-pg/postgresql.cnpg.io_scheduledbackups.v1.30.0.yaml")
        )
    )


@pytest.fixture(scope="session")
def httproute_schema() -> dict[str, Any]:
    """The v1 HTTPRoute schema from the Gateway API CRD in ../shared (skips when absent)."""
    return crd_v1_schema("gateway-api/httproutes.v1.6.1.crd.yaml")
