"""The build template collects Django's static files into the backend image, and only there.

Facts from ../shared/spec/original-stack.md, "Static files": the settings
serve `/static/` from `back/static/` (STATIC_ROOT "static/" under /back),
which is git-ignored and which Dockerfile.back never fills; the original build
ran `manage.py collectstatic --noinput` in an image of Dockerfile.back_dev
with back/ mounted before building Dockerfile.back.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any, cast

import pytest

from tests.ci.test_build_template import step_named

BUILD_ACTION = "docker/build-push-action@"
COLLECT = "Collect static files into the backend build context"
TOOLS = "Build the collectstatic image"
CHECKOUT = "Check out the commit to build"
ORIGINAL_STEPS = [
    "Check inputs",
    CHECKOUT,
    "Image repository",
    "Set up Docker Buildx",
    "Log in to ghcr.io",
    "Build and push",
]
"""What every image's job ran before static files were collected (the frontend still does)."""

FAKE_DOCKER = """\
import json, os, sys
args = sys.argv[1:]
with open(os.environ["DOCKER_LOG"], "a") as log:
    log.write(json.dumps(args) + "\\n")
if os.environ.get("FAKE_COLLECT") == "1":
    source = args[args.index("--volume") + 1].split(":")[0]
    target = os.path.join(source, "static", "admin", "css")
    os.makedirs(target, exist_ok=True)
    with open(os.path.join(target, "base.css"), "w") as f:
        f.write("body {}")
"""


@pytest.fixture
def job(build_template: dict[str, Any]) -> dict[str, Any]:
    return cast(dict[str, Any], build_template["jobs"]["build"])


def matrix_entry(job: dict[str, Any], image: str) -> dict[str, str]:
    [entry] = [e for e in job["strategy"]["matrix"]["include"] if e["image"] == image]
    return cast(dict[str, str], entry)


def runs_for(step: dict[str, Any], entry: dict[str, str]) -> bool:
    """Evaluate a step's `if:` for one matrix entry of a run where every step succeeds;
    only `matrix.X == 'v'` and `failure() && ...` are understood."""
    condition = step.get("if")
    if condition is None:
        return True
    if str(condition).startswith("failure() && "):
        return False
    match = re.fullmatch(r"\s*matrix\.(\w+)\s*==\s*'([^']*)'\s*", str(condition))
    assert match, f"step {step.get('name')!r}: the test cannot evaluate if: {condition!r}"
    return entry.get(match[1]) == match[2]


def steps_for(job: dict[str, Any], image: str) -> list[dict[str, Any]]:
    entry = matrix_entry(job, image)
    return [s for s in job["steps"] if runs_for(s, entry)]


def label(step: dict[str, Any]) -> str:
    return str(step.get("name") or step.get("uses") or step.get("run"))


def resolve(value: str, entry: dict[str, str]) -> str:
    """`value` with `${{ matrix.X }}` replaced by the matrix entry's value."""
    return re.sub(r"\$\{\{\s*matrix\.(\w+)\s*\}\}", lambda m: entry[m[1]], value)


def final_build(job: dict[str, Any]) -> dict[str, Any]:
    return step_named(job, "Build and push")


def run_collect(
    job: dict[str, Any], workspace: Path, *, collect: bool, extra_env: dict[str, str] | None = None
) -> tuple[subprocess.CompletedProcess[str], list[list[str]]]:
    """Run the collect step's script for the backend with a fake `docker` on PATH."""
    entry = matrix_entry(job, "backend")
    step = step_named(job, COLLECT)
    bin_dir = workspace / "fake-bin"
    bin_dir.mkdir()
    docker = bin_dir / "docker"
    docker.write_text(f"#!{sys.executable}\n{FAKE_DOCKER}")
    docker.chmod(0o755)
    log = workspace / "docker.log"
    env = {k: resolve(str(v), entry) for k, v in step["env"].items()}
    env |= {
        "PATH": f"{bin_dir}{os.pathsep}{os.environ['PATH']}",
        "DOCKER_LOG": str(log),
        "FAKE_COLLECT": "1" if collect else "0",
        **(extra_env or {}),
    }
    done = subprocess.run(
        ["bash", "--noprofile", "--norc", "-eo", "pipefail", "-c", step["run"]],
        cwd=workspace,
        env=env,
        capture_output=True,
        text=True,
        check=False,
        timeout=30,
    )
    calls = [json.loads(line) for line in log.read_text().splitlines()] if log.exists() else []
    return done, calls


@pytest.fixture
def workspace(tmp_path: Path, job: dict[str, Any]) -> Path:
    """A checkout of the application: both backend Dockerfiles from the same base."""
    entry = matrix_entry(job, "backend")
    (tmp_path / entry["context"]).mkdir()
    (tmp_path / entry["context"] / "manage.py").write_text("")
    for name in (entry["dockerfile"], "Dockerfile.back_dev"):
        (tmp_path / name).write_text("FROM python:3.10-alpine\nWORKDIR /back\n")
    return tmp_path


def test_frontend_runs_exactly_the_steps_it_ran_before(job: dict[str, Any]) -> None:
    assert [label(s) for s in steps_for(job, "frontend")] == ORIGINAL_STEPS


def test_frontend_build_is_unchanged(job: dict[str, Any]) -> None:
    build = final_build(job)["with"]
    entry = matrix_entry(job, "frontend")
    assert (resolve(build["context"], entry), resolve(build["file"], entry)) == (
        "front",
        "Dockerfile.front",
    )
    assert "build-contexts" not in build
    assert "build-args" not in build


def test_backend_collects_static_files_after_checkout_and_before_its_image_is_built(
    job: dict[str, Any],
) -> None:
    labels = [label(s) for s in steps_for(job, "backend")]
    assert labels.index(CHECKOUT) < labels.index(TOOLS) < labels.index(COLLECT)
    assert labels.index(COLLECT) < labels.index("Build and push"), labels


def test_collect_writes_into_the_backend_build_context(
    job: dict[str, Any], workspace: Path
) -> None:
    done, calls = run_collect(job, workspace, collect=True)
    assert done.returncode == 0, done.stdout + done.stderr
    [call] = calls
    source, target = call[call.index("--volume") + 1].split(":")
    context = resolve(final_build(job)["with"]["context"], matrix_entry(job, "backend"))
    assert Path(source) == workspace / context, "mounts a directory the image is not built from"
    # STATIC_ROOT is "static/" relative to the image's working directory /back.
    assert target == "/back"
    assert call[call.index("--workdir") + 1] == "/back"
    assert call[-4:] == ["python3", "manage.py", "collectstatic", "--noinput"]
    assert (workspace / context / "static" / "admin" / "css" / "base.css").is_file()


def test_collect_runs_in_the_image_built_from_the_dev_dockerfile(job: dict[str, Any]) -> None:
    tools = step_named(job, TOOLS)
    assert tools["uses"].startswith(BUILD_ACTION)
    settings = tools["with"]
    entry = matrix_entry(job, "backend")
    assert resolve(settings["context"], entry) == entry["context"]
    assert settings["file"] == "Dockerfile.back_dev"
    assert settings["load"] is True
    assert settings["push"] is False
    assert step_named(job, COLLECT)["env"]["TOOLS_IMAGE"] == settings["tags"]


def test_collect_image_installs_the_requirements_afresh_on_every_build(
    job: dict[str, Any],
) -> None:
    """The app's requirements.txt leaves jazzmin, drf-spectacular-sidecar and whitenoise
    unpinned. A cached install would go on collecting the files of the release it first
    resolved while Dockerfile.back installs the current one: templates and static files
    of different releases."""
    settings = step_named(job, TOOLS)["with"]
    assert settings.get("no-cache") is True, f"{TOOLS}: reuses a cached pip install"
    assert "cache-from" not in settings, f"{TOOLS}: imports cached layers"
    # The backend image itself keeps its layer cache (it reinstalls on every source change).
    assert "cache-from" in final_build(job)["with"]


def test_collect_needs_no_database_secret_or_network(job: dict[str, Any], workspace: Path) -> None:
    for name in (TOOLS, COLLECT):
        assert "secrets." not in str(step_named(job, name)), f"{name} reads a secret"
    done, [call] = run_collect(job, workspace, collect=True)
    assert done.returncode == 0, done.stderr
    assert call[call.index("--network") + 1] == "none"
    passed = [call[i + 1].split("=")[0] for i, a in enumerate(call) if a in ("--env", "-e")]
    assert sorted(passed) == ["HOME", "PYTHONDONTWRITEBYTECODE"]


def test_collect_writes_no_bytecode_into_the_build_context(
    job: dict[str, Any], workspace: Path
) -> None:
    # .pyc files carry source mtimes, which differ on every checkout: they would
    # change the build context and defeat the layer cache.
    done, [call] = run_collect(job, workspace, collect=True)
    assert done.returncode == 0, done.stderr
    assert "PYTHONDONTWRITEBYTECODE=1" in call


def test_collect_fails_the_build_when_nothing_was_collected(
    job: dict[str, Any], workspace: Path
) -> None:
    done, _ = run_collect(job, workspace, collect=False)
    assert done.returncode != 0
    assert "collectstatic wrote no file into back/static" in done.stdout


def test_collect_refuses_a_dev_image_with_another_python(
    job: dict[str, Any], workspace: Path
) -> None:
    (workspace / "Dockerfile.back_dev").write_text("FROM python:3.12-slim\n")
    done, calls = run_collect(job, workspace, collect=True)
    assert done.returncode != 0
    assert calls == []
    assert "start FROM different images" in done.stdout
