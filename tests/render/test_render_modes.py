"""`make render` in every postgres.mode, with a managed Redis and with autoscaling
(docs/production.md)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

import scripts.manifest_schemas as schemas_module
from scripts.render import RenderResult, render
from stack.contract import SECRET_PLACEHOLDER
from tests.conftest import shared_path
from tests.render.conftest import ENV, EXAMPLE

CIPHERTEXT = "v1:c2VjcmV0LWNpcGhlcnRleHQ="
"""A stand-in for an encrypted `secure:` value; render must never write it anywhere."""
AUTOSCALING = {"min": 2, "max": 5, "cpu": 70}
MODES: dict[str, dict[str, Any]] = {
    "cloudnativepg": {
        "tims-stack:postgres": {
            "mode": "cloudnativepg",
            "storage": "20Gi",
            "cloudnativepg": {
                "instances": 3,
                "backup": {"destinationPath": "s3://acme-backups/tims", "secret": "backup-s3"},
            },
        }
    },
    "external": {
        "tims-stack:postgres": {
            "mode": "external",
            "external": {"host": "db.example.net", "database": "tims", "user": "tims"},
        },
        "tims-stack:postgresPassword": {"secure": CIPHERTEXT},
    },
    "inCluster": {},
    "external-redis": {
        "tims-stack:redis": {"mode": "external"},
        "tims-stack:redisUrl": {"secure": CIPHERTEXT},
    },
}


def _stack_file(directory: Path, mode: str) -> Path:
    document: dict[str, Any] = yaml.safe_load(EXAMPLE.read_text())
    config = document["config"]
    config.update(MODES[mode])
    for part in ("tims-stack:backend", "tims-stack:frontend"):
        config[part] = {**config[part], "autoscaling": AUTOSCALING}
        config[part].pop("replicas", None)
    path = directory / f"Pulumi.{mode}.yaml"
    path.write_text(yaml.safe_dump(document))
    return path


def _render(tmp_path: Path, mode: str) -> RenderResult:
    return render(ENV, _stack_file(tmp_path, mode), tmp_path / "out")


def _kinds(result: RenderResult) -> list[str]:
    return [str(o["kind"]) for o in result.objects]


@pytest.mark.parametrize("mode", sorted(MODES))
def test_render_succeeds_and_validates_in_every_mode(tmp_path: Path, mode: str) -> None:
    result = _render(tmp_path, mode)
    assert result.problems == [], f"{mode}: {result.problems}"
    assert _kinds(result).count("HorizontalPodAutoscaler") == 2, mode
    assert _kinds(result).count("PodDisruptionBudget") == 2, mode


def test_cloudnativepg_render_checks_the_cluster_against_the_crd(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    crd = shared_path("cloudnative-pg/postgresql.cnpg.io_clusters.v1.30.0.yaml")
    monkeypatch.setattr(schemas_module, "CNPG_CLUSTER_CRD", crd)
    result = _render(tmp_path, "cloudnativepg")
    assert "Cluster" in _kinds(result)
    assert not any(n.startswith("skipped Cluster") for n in result.notes), result.notes
    assert result.problems == []


def test_cloudnativepg_render_checks_the_scheduled_backup_against_its_crd(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    crd = shared_path("cloudnative-pg/postgresql.cnpg.io_scheduledbackups.v1.30.0.yaml")
    monkeypatch.setattr(schemas_module, "CNPG_SCHEDULED_BACKUP_CRD", crd)
    result = _render(tmp_path, "cloudnativepg")
    assert "ScheduledBackup" in _kinds(result)
    assert not any(n.startswith("skipped ScheduledBackup") for n in result.notes), result.notes
    assert result.problems == []
    backup = {"apiVersion": "postgresql.cnpg.io/v1", "kind": "ScheduledBackup"}
    spec = {"cluster": {"name": "c"}, "schedule": "0 0 3 * * *", "suspended": True}
    problems, checked = schemas_module.validate({**backup, "spec": spec}, [])
    assert checked == "CloudNativePG v1.30.0 CRD"
    assert any("suspended" in p for p in problems), problems


def test_cloudnativepg_render_reports_an_invalid_cluster(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The CRD check has teeth inside render too."""
    crd = shared_path("cloudnative-pg/postgresql.cnpg.io_clusters.v1.30.0.yaml")
    monkeypatch.setattr(schemas_module, "CNPG_CLUSTER_CRD", crd)
    broken = {"apiVersion": "postgresql.cnpg.io/v1", "kind": "Cluster", "metadata": {"name": "x"}}
    problems, checked = schemas_module.validate({**broken, "spec": {"instances": "3"}}, [])
    assert checked == "CloudNativePG v1.30.0 CRD"
    assert problems != []


def test_cloudnativepg_render_reports_a_field_the_crd_does_not_have(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The API server would drop a misspelled field silently; render names it."""
    crd = shared_path("cloudnative-pg/postgresql.cnpg.io_clusters.v1.30.0.yaml")
    monkeypatch.setattr(schemas_module, "CNPG_CLUSTER_CRD", crd)
    cluster = {"apiVersion": "postgresql.cnpg.io/v1", "kind": "Cluster", "metadata": {"name": "x"}}
    spec = {"instances": 1, "storage": {"size": "1Gi"}, "enablePdb": False}
    problems, _ = schemas_module.validate({**cluster, "spec": spec}, [])
    assert any("enablePdb" in p for p in problems), problems


def test_render_says_when_it_skipped_the_cluster_check(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(schemas_module, "CNPG_CLUSTER_CRD", tmp_path / "missing.yaml")
    schemas_module.crd_schema.cache_clear()
    result = _render(tmp_path, "cloudnativepg")
    assert any(n.startswith("skipped Cluster schema check") for n in result.notes)


def test_external_render_has_no_postgres_and_no_password(tmp_path: Path) -> None:
    result = _render(tmp_path, "external")
    names = [o["metadata"].get("labels", {}).get("app.kubernetes.io/name") for o in result.objects]
    assert ("StatefulSet", "postgres") not in set(zip(_kinds(result), names, strict=True))
    for path in result.files:
        assert CIPHERTEXT not in path.read_text(), f"{path.name} holds the password's ciphertext"


def test_external_redis_render_has_no_redis_and_no_url(tmp_path: Path) -> None:
    """The URL is encrypted in the stack file and never decrypted: the backend's env Secret
    gets the placeholder, which render masks like every secret entry."""
    result = _render(tmp_path, "external-redis")
    assert result.problems == [], result.problems
    redis = [
        (o["kind"], o["metadata"]["name"])
        for o in result.objects
        if o["metadata"].get("labels", {}).get("app.kubernetes.io/name") == "redis"
        or o["metadata"]["name"] == "redis-db-svc"
    ]
    assert redis == [], f"rendered Redis objects {redis}"
    for path in result.files:
        text = path.read_text()
        assert CIPHERTEXT not in text, f"{path.name} holds the URL's ciphertext"
        assert SECRET_PLACEHOLDER not in text, f"{path.name} shows the unread secret's stand-in"
