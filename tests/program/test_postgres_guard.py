"""A Postgres image change across a major must fail loudly, never start an empty database.

Also: a startup probe keeps liveness from killing a recovering server, and
/dev/shm is big enough for parallel queries.
"""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Any

import pytest

from components.data.official_images import postgres_data_layout
from components.data.postgres import (
    GUARD_CONTAINER,
    GUARD_SCRIPT,
    SHM_SIZE,
    SHM_VOLUME,
    Postgres,
    PostgresArgs,
)
from components.data.stateful import DATA_VOLUME
from scripts.mockrun import ProgramRun
from stack.config import PostgresConfig
from tests.program.k8s import RunComponent, ident, obj, workloads

# POSIX guarantees /bin/sh; both official images run the guard with their own sh.
SH = "/bin/sh"


def _statefulset(run_component: RunComponent, image: str = "postgres:18-alpine") -> dict[str, Any]:
    def body() -> None:
        Postgres(
            "postgres",
            PostgresArgs(
                namespace="ns",
                environment="test",
                config=PostgresConfig(image=image),
                stopped=False,
            ),
        )

    (statefulset,) = [
        r.manifest() for r in run_component(body).kubernetes_objects() if r.kind == "StatefulSet"
    ]
    return statefulset


def _pod(statefulset: dict[str, Any]) -> dict[str, Any]:
    pod: dict[str, Any] = statefulset["spec"]["template"]["spec"]
    return pod


def _guard(statefulset: dict[str, Any]) -> dict[str, Any]:
    (guard,) = [
        c for c in _pod(statefulset).get("initContainers", []) if c["name"] == GUARD_CONTAINER
    ]
    return dict(guard)


def _server(statefulset: dict[str, Any]) -> dict[str, Any]:
    (server,) = _pod(statefulset)["containers"]
    return dict(server)


def _env(container: dict[str, Any]) -> dict[str, str | None]:
    return {e["name"]: e.get("value") for e in container.get("env", [])}


# ---------------------------------------------------------------- the guard in the pod


@pytest.mark.parametrize("image", ["postgres:18-alpine", "postgres:16", "postgres:19-alpine"])
def test_guard_runs_the_server_image_with_its_pgdata_and_data_mount(
    image: str, run_component: RunComponent
) -> None:
    statefulset = _statefulset(run_component, image)
    guard, server = _guard(statefulset), _server(statefulset)
    assert guard["image"] == server["image"] == image, (
        f"StatefulSet postgres ({image}): guard image"
    )
    assert _env(guard)["PGDATA"] == _env(server)["PGDATA"], (
        f"StatefulSet postgres ({image}): PGDATA"
    )
    data_mounts = [m for m in server["volumeMounts"] if m["name"] == DATA_VOLUME]
    assert guard["volumeMounts"] == data_mounts, f"StatefulSet postgres ({image}): guard mounts"
    layout = postgres_data_layout(PostgresConfig(image=image).major)
    assert guard["command"][-1] == layout.mount_path, f"StatefulSet postgres ({image}): guard $1"


def test_guard_runs_the_guard_script(run_component: RunComponent) -> None:
    guard = _guard(_statefulset(run_component))
    assert guard["command"][:3] == ["sh", "-c", GUARD_SCRIPT], "StatefulSet postgres: guard command"


def test_guard_has_small_resources(run_component: RunComponent) -> None:
    guard = _guard(_statefulset(run_component))
    assert guard["resources"]["limits"]["memory"] == "64Mi", "StatefulSet postgres: guard limits"
    assert guard["resources"]["requests"] == {"cpu": "10m", "memory": "16Mi"}, (
        "StatefulSet postgres: guard requests"
    )


def test_guard_message_becomes_the_termination_message(run_component: RunComponent) -> None:
    guard = _guard(_statefulset(run_component))
    assert guard["terminationMessagePolicy"] == "FallbackToLogsOnError", "StatefulSet postgres"


def test_every_init_container_meets_the_restricted_pod_security_standard(
    scenario_run: ProgramRun,
) -> None:
    """test_semantics checks `containers` only; init containers must meet the same rules."""
    checked = 0
    for workload in workloads(scenario_run):
        for container in _pod(workload).get("initContainers", []):
            context = container["securityContext"]
            where = f"{ident(workload)} initContainer {container['name']}"
            assert context["allowPrivilegeEscalation"] is False, where
            assert context["capabilities"] == {"drop": ["ALL"]}, where
            assert context["runAsNonRoot"] is True, where
            assert context["seccompProfile"] == {"type": "RuntimeDefault"}, where
            assert context.get("privileged") is not True, where
            checked += 1
    assert checked >= 1, "no init container found: the Postgres data guard is missing"


# ---------------------------------------------------------------- startup probe and /dev/shm


def test_startup_probe_gives_postgres_minutes_to_recover(default_run: ProgramRun) -> None:
    server = _server(obj(default_run, "StatefulSet", "postgres"))
    startup = server["startupProbe"]
    assert startup["exec"]["command"] == server["livenessProbe"]["exec"]["command"], (
        "StatefulSet postgres: startup probe runs pg_isready like liveness"
    )
    assert startup["exec"]["command"][0] == "pg_isready", "StatefulSet postgres: startup probe"
    assert startup["periodSeconds"] * startup["failureThreshold"] >= 600, (
        "StatefulSet postgres: crash recovery can take minutes"
    )


def test_dev_shm_is_a_memory_volume_bigger_than_the_runtime_default(
    default_run: ProgramRun,
) -> None:
    statefulset = obj(default_run, "StatefulSet", "postgres")
    (shm,) = [v for v in _pod(statefulset).get("volumes", []) if v["name"] == SHM_VOLUME]
    assert shm["emptyDir"] == {"medium": "Memory", "sizeLimit": SHM_SIZE}, "StatefulSet postgres"
    mounts = {m["mountPath"]: m["name"] for m in _server(statefulset)["volumeMounts"]}
    assert mounts.get("/dev/shm") == SHM_VOLUME, "StatefulSet postgres: /dev/shm not mounted"


# ---------------------------------------------------------------- the script, run for real


def _run_guard(mount: Path, pgdata: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [SH, "-c", GUARD_SCRIPT, GUARD_CONTAINER, str(mount)],
        env={"PGDATA": str(pgdata), "PATH": "/usr/bin:/bin"},
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )


def _data_dir(path: Path, version: str) -> None:
    """A minimal data directory: PG_VERSION at the top and in one database's base/<oid>/."""
    (path / "base" / "1").mkdir(parents=True)
    (path / "PG_VERSION").write_text(f"{version}\n")
    (path / "base" / "1" / "PG_VERSION").write_text(f"{version}\n")


@pytest.mark.parametrize(
    ("old", "new"),
    [
        ("pgdata", "18/docker"),  # 17 (pre-18 layout) -> 18 on the 18 mount
        ("18/docker", "19/docker"),  # 18 -> 19
        ("18/docker", "pgdata"),  # 18 -> 17 on the 17 mount
    ],
)
def test_guard_script_fails_when_pgdata_is_new_but_old_data_exists(
    old: str, new: str, tmp_path: Path
) -> None:
    _data_dir(tmp_path / old, "17")
    result = _run_guard(tmp_path, tmp_path / new)
    assert result.returncode == 1, f"guard passed with old data in {old}: {result.stderr}"
    assert str(tmp_path / old) in result.stderr, "message names the old data directory"
    assert f"PGDATA {tmp_path / new} " in result.stderr, "message names the new PGDATA"
    for advice in ("pin tims-stack:postgres.image back", "pg_dump", "pg_restore"):
        assert advice in " ".join(result.stderr.split()), f"message lacks {advice!r}"
    assert "base/1" not in result.stderr, "a database's base/<oid> is not a data directory"


def test_guard_script_passes_when_pgdata_holds_data(tmp_path: Path) -> None:
    _data_dir(tmp_path / "18" / "docker", "18")
    _data_dir(tmp_path / "pgdata", "17")  # an old directory left after an upgrade
    result = _run_guard(tmp_path, tmp_path / "18" / "docker")
    assert (result.returncode, result.stderr) == (0, ""), result.stderr


def test_guard_script_passes_on_an_empty_volume(tmp_path: Path) -> None:
    (tmp_path / "lost+found").mkdir()
    result = _run_guard(tmp_path, tmp_path / "18" / "docker")
    assert (result.returncode, result.stderr) == (0, ""), result.stderr


def test_guard_script_ignores_data_deeper_than_four_levels(tmp_path: Path) -> None:
    _data_dir(tmp_path / "a" / "b" / "c" / "d", "17")
    result = _run_guard(tmp_path, tmp_path / "18" / "docker")
    assert result.returncode == 0, result.stderr
