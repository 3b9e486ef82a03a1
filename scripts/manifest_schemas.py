"""Schema checks of rendered objects: Kubernetes (oldest and newest supported), and the
HTTPRoute and CloudNativePG Cluster and ScheduledBackup CRDs from ../shared when present.

Used by scripts/render.py; a check whose CRD is absent is skipped with a note.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import jsonschema
import referencing
import yaml
from kubernetes_validate import utils as k8s_schemas
from packaging.version import Version

from scripts.mockrun import REPO_ROOT

KUBERNETES_VERSIONS = ("1.30", k8s_schemas.latest_version())
"""Oldest supported Kubernetes and the newest schema kubernetes-validate ships."""
HTTPROUTE_CRD = REPO_ROOT.parent / "shared" / "gateway-api" / "httproutes.v1.6.1.crd.yaml"
CNPG_CLUSTER_CRD = (
    REPO_ROOT.parent / "shared" / "cloudnative-pg" / "postgresql.cnpg.io_clusters.v1.30.0.yaml"
)
CNPG_SCHEDULED_BACKUP_CRD = (
    REPO_ROOT.parent
    / "shared"
    / "cloudnative-pg"
    / "postgresql.cnpg.io_scheduledbackups.v1.30.0.yaml"
)


class KubernetesSchema:
    """Strict JSON-schema validation with kubernetes-validate's schemas, loaded once.

    kubernetes_validate.validate() reloads its large definitions file on every
    call; this keeps one validator per kind for the whole render.
    """

    def __init__(self, desired: str) -> None:
        wanted = Version(k8s_schemas.major_minor(desired))
        available = [
            v for v in k8s_schemas.all_versions() if Version(k8s_schemas.major_minor(v)) <= wanted
        ]
        if not available:
            raise ValueError(f"kubernetes-validate has no schema for Kubernetes {desired}")
        self.version = k8s_schemas.major_minor(available[-1])
        self._dir = f"kubernetes-json-schema/v{available[-1]}-local-strict"
        definitions = self._load(f"{self._dir}/_definitions.json")
        self._definitions = referencing.Resource.from_contents(definitions)
        self._validators: dict[tuple[str, str], Any] = {}

    def _load(self, filename: str) -> Any:
        return k8s_schemas.schema_contents(filename, self.version)

    def _validator(self, api_version: str, kind: str) -> Any:
        key = (api_version, kind)
        if key not in self._validators:
            # The file naming kubernetes-validate uses: networking.k8s.io/v1 -> networking-v1.
            group_version = re.sub(r"^([^./]*)(?:\.[^/]*)?/", r"\1-", api_version)
            schema = self._load(f"{self._dir}/{kind.lower()}-{group_version}.json")
            resource = referencing.Resource.from_contents(schema)
            registry = self._definitions @ (resource @ referencing.Registry())
            self._validators[key] = jsonschema.Draft202012Validator(schema, registry=registry)
        return self._validators[key]

    def errors(self, obj: Mapping[str, Any]) -> list[str]:
        validator = self._validator(str(obj["apiVersion"]), str(obj["kind"]))
        return [
            f"{'/'.join(map(str, e.absolute_path)) or '(root)'}: {e.message}"
            for e in validator.iter_errors(obj)
        ]


def closed_schema(schema: Any) -> Any:
    """A CRD schema that refuses unknown fields, which the API server would prune silently.

    A structural CRD schema lists every field; an object admits others only
    under `x-kubernetes-preserve-unknown-fields` or `additionalProperties`.
    Plain jsonschema admits any extra key, so a misspelled or removed field
    would pass; closing each object with properties makes it fail instead.
    """
    if isinstance(schema, list):
        return [closed_schema(item) for item in schema]
    if not isinstance(schema, dict):
        return schema
    closed = {key: closed_schema(value) for key, value in schema.items()}
    if (
        "properties" in schema
        and "additionalProperties" not in schema
        and not schema.get("x-kubernetes-preserve-unknown-fields")
    ):
        closed["additionalProperties"] = False
    return closed


@functools.cache
def crd_schema(crd_path: Path = HTTPROUTE_CRD) -> dict[str, Any] | None:
    """A CRD's v1 schema closed to unknown fields, or None when ../shared is not there
    (e.g. a user's clone)."""
    if not crd_path.is_file():
        return None
    crd = yaml.safe_load(crd_path.read_text())
    version = next(v for v in crd["spec"]["versions"] if v["name"] == "v1")
    return dict(closed_schema(version["schema"]["openAPIV3Schema"]))


def _against_crd(obj: Mapping[str, Any], crd_path: Path, checked: str) -> tuple[list[str], str]:
    """`validate` for a custom resource: against its CRD's v1 schema, when the file is there."""
    schema = crd_schema(crd_path)
    if schema is None:
        return [], f"skipped {obj['kind']} schema check: {crd_path} is not present"
    problems = [
        f"{'/'.join(map(str, e.absolute_path)) or '(root)'}: {e.message}"
        for e in jsonschema.Draft202012Validator(schema).iter_errors(obj)
    ]
    return problems, checked


def validate(obj: Mapping[str, Any], schemas: Sequence[KubernetesSchema]) -> tuple[list[str], str]:
    """Problems with one object, and a note on what it was checked against."""
    if obj["kind"] == "HTTPRoute":
        return _against_crd(obj, HTTPROUTE_CRD, "Gateway API v1.6.1 CRD")
    if str(obj["apiVersion"]).startswith("postgresql.cnpg.io/"):
        # postgres.mode cloudnativepg; a ScheduledBackup with `backup`.
        crds = {"Cluster": CNPG_CLUSTER_CRD, "ScheduledBackup": CNPG_SCHEDULED_BACKUP_CRD}
        return _against_crd(obj, crds[str(obj["kind"])], "CloudNativePG v1.30.0 CRD")
    problems = []
    for kubernetes in schemas:
        problems += [f"Kubernetes {kubernetes.version}: {p}" for p in kubernetes.errors(obj)]
    return problems, ", ".join(f"Kubernetes {k.version}" for k in schemas)
