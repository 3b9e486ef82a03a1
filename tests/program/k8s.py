"""Helpers to find and read the Kubernetes objects of a mock run (not fixtures)."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from typing import Any

import kubernetes_validate
import pytest
from kubernetes_validate.utils import latest_version

from scripts.mockrun import ProgramRun, Registered

Runs = Callable[[str], ProgramRun]
"""The `program_runs` fixture: a scenario's name to its (cached) mock run."""
RunComponent = Callable[[Callable[[], object]], ProgramRun]
"""The `run_component` fixture: runs a body that builds components, under the mocks."""
OLDEST = "1.30"
NEWEST = latest_version()

WORKLOAD_KINDS = ("Deployment", "StatefulSet")
SPEC_ENV_CONTRACT = (
    # Backend environment contract, ../shared/spec/original-stack.md
    "DB_ENGINE",
    "DB_NAME",
    "DB_USER",
    "DB_PASSWORD",
    "DB_HOST",
    "DB_PORT",
    "DB_NO_SSL",
    "REDIS_URL",
    "DJANGO_SECRET_KEY",
    "DJANGO_DEBUG",
    "DJANGO_ALLOWED_HOSTS",
    "PRODUCTION",
    "ROOT_URL",
    "ROOT_HOST",
    "EXTRA_TRUSTED_ORIGINS",
    "SESSION_COOKIE_DOMAIN",
    "NEXTJS_HOST_URL",
    "USE_NEXTJS_PROXY_ROUTES",
    "UNIQUE_ID",
    "BASE_ADMIN_USERNAME",
    "BASE_ADMIN_USER_PASSWORD",
)
FRONTEND_ENV_CONTRACT = ("ROOT_URL", "WEBSOCKET_PROTOCOL")


def objects(run: ProgramRun, kind: str | None = None) -> list[dict[str, Any]]:
    """Every Kubernetes object as it would be applied (names filled in, secrets revealed)."""
    found = [r.manifest() for r in run.kubernetes_objects()]
    return [o for o in found if kind is None or o["kind"] == kind]


def resource(run: ProgramRun, kind: str, name: str) -> Registered:
    """The Kubernetes resource of `kind` whose Pulumi name is `name`."""
    matches = [r for r in run.kubernetes_objects() if r.kind == kind and r.name == name]
    assert len(matches) == 1, f"expected one {kind} named {name!r}, found {len(matches)}"
    return matches[0]


def obj(run: ProgramRun, kind: str, name: str) -> dict[str, Any]:
    return resource(run, kind, name).manifest()


def workloads(run: ProgramRun) -> list[dict[str, Any]]:
    return [o for o in objects(run) if o["kind"] in WORKLOAD_KINDS]


def ident(o: dict[str, Any]) -> str:
    return f"{o['kind']} {o['metadata'].get('name')}"


def pod_labels(workload: dict[str, Any]) -> dict[str, str]:
    return dict(workload["spec"]["template"]["metadata"]["labels"])


def validate_core_objects(
    found: Iterable[dict[str, Any]], version: str, *, skip_kinds: Iterable[str]
) -> int:
    """Validate every object not of `skip_kinds` for Kubernetes `version`; how many were."""
    skipped = set(skip_kinds)
    checked = 0
    for o in found:
        if o["kind"] in skipped:
            continue
        try:
            kubernetes_validate.validate(o, version, strict=True)
        except kubernetes_validate.ValidationError as exc:
            pytest.fail(f"{ident(o)} is invalid for Kubernetes {version}: {exc.message}")
        checked += 1
    return checked


def containers(workload: dict[str, Any]) -> list[dict[str, Any]]:
    return list(workload["spec"]["template"]["spec"]["containers"])


def secret_data(secret: dict[str, Any]) -> dict[str, str]:
    """A Secret's values (stringData as the program sends it)."""
    return dict(secret.get("stringData") or {})


def env_of(run: ProgramRun, name: str) -> dict[str, str]:
    """The environment a backend/frontend Deployment gets through envFrom."""
    deployment = obj(run, "Deployment", name)
    (container,) = containers(deployment)
    (source,) = container["envFrom"]
    secret_name = source["secretRef"]["name"]
    (secret,) = [s for s in objects(run, "Secret") if s["metadata"]["name"] == secret_name]
    return secret_data(secret)


def strings(value: Any) -> Iterator[str]:
    """Every string anywhere inside a JSON-like value (keys and values)."""
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for k, v in value.items():
            yield str(k)
            yield from strings(v)
    elif isinstance(value, list):
        for v in value:
            yield from strings(v)


def matches(selector: dict[str, str], labels: dict[str, str]) -> bool:
    return bool(selector) and all(labels.get(k) == v for k, v in selector.items())
