"""The build workflow users copy into their application repository."""

from __future__ import annotations

import os
import re
import subprocess
from pathlib import Path
from typing import Any, cast

import pytest
import yaml

from components.images.imagebuild.provider import DEFAULT_INPUTS as PROVIDER_DEFAULT_INPUTS
from stack.config import DEFAULT_BUILD_INPUTS
from tests.conftest import REPO_ROOT


@pytest.fixture
def build_job(build_template: dict[str, Any]) -> dict[str, Any]:
    return cast(dict[str, Any], build_template["jobs"]["build"])


def step_named(job: dict[str, Any], name: str) -> dict[str, Any]:
    [step] = [s for s in job["steps"] if s.get("name") == name]
    return cast(dict[str, Any], step)


def step_using(job: dict[str, Any], prefix: str) -> dict[str, Any]:
    [step] = [s for s in job["steps"] if str(s.get("uses", "")).startswith(prefix)]
    return cast(dict[str, Any], step)


def run_script(step: dict[str, Any], env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["bash", "--noprofile", "--norc", "-eo", "pipefail", "-c", step["run"]],
        env={"PATH": os.environ["PATH"], **env},
        capture_output=True,
        text=True,
        check=False,
        timeout=30,
    )


def test_inputs_are_exactly_those_the_provider_default_mapping_sends(
    build_template: dict[str, Any],
) -> None:
    # GitHub answers 422 to a dispatch with an input the workflow does not declare.
    inputs = build_template["on"]["workflow_dispatch"]["inputs"]
    assert set(inputs) == set(PROVIDER_DEFAULT_INPUTS), "differs from the provider's default"
    assert set(inputs) == set(DEFAULT_BUILD_INPUTS), "differs from the config's default"
    assert set(inputs) == {"ref", "sha", "tag", "environment", "correlation_id"}


def test_every_input_is_a_documented_string(build_template: dict[str, Any]) -> None:
    for name, spec in build_template["on"]["workflow_dispatch"]["inputs"].items():
        assert spec["type"] == "string", f"input {name} is {spec['type']}"
        assert len(spec.get("description", "")) > 20, f"input {name} is not documented"


def test_run_name_carries_the_correlation_id_in_brackets(build_template: dict[str, Any]) -> None:
    assert build_template["run-name"] == "Build ${{ inputs.tag }} [${{ inputs.correlation_id }}]"


def test_rendered_run_title_contains_the_correlation_id(build_template: dict[str, Any]) -> None:
    values = {"tag": "pr-12-0123456789ab", "correlation_id": "5f0c1d2e3a4b"}
    title = re.sub(
        r"\$\{\{\s*inputs\.(\w+)\s*\}\}", lambda m: values[m.group(1)], build_template["run-name"]
    )
    assert "5f0c1d2e3a4b" in title, f"run title {title!r} lost the correlation id"
    assert "${{" not in title, f"run-name uses more than the tag and the id: {title!r}"


def test_job_may_only_read_code_and_write_packages(
    build_template: dict[str, Any], build_job: dict[str, Any]
) -> None:
    assert build_template["permissions"] == {}
    assert build_job["permissions"] == {"contents": "read", "packages": "write"}


def test_matrix_builds_backend_and_frontend_from_their_dockerfiles(
    build_job: dict[str, Any],
) -> None:
    include = build_job["strategy"]["matrix"]["include"]
    assert include == [
        {"image": "backend", "dockerfile": "Dockerfile.back", "context": "back"},
        {"image": "frontend", "dockerfile": "Dockerfile.front", "context": "front"},
    ]
    assert build_job["strategy"]["fail-fast"] is False


def test_checkout_builds_the_resolved_sha_without_keeping_credentials(
    build_job: dict[str, Any],
) -> None:
    checkout = step_using(build_job, "actions/checkout@")
    assert checkout["with"]["ref"] == "${{ inputs.sha || inputs.ref }}"
    assert checkout["with"]["persist-credentials"] is False


def test_login_uses_the_built_in_token_for_ghcr(build_job: dict[str, Any]) -> None:
    login = step_using(build_job, "docker/login-action@")
    assert login["with"] == {
        "registry": "ghcr.io",
        "username": "${{ github.actor }}",
        "password": "${{ secrets.GITHUB_TOKEN }}",
    }


def test_build_pushes_the_tag_with_a_layer_cache_per_image(build_job: dict[str, Any]) -> None:
    build = step_named(build_job, "Build and push")["with"]
    assert build["push"] is True
    assert build["context"] == "${{ matrix.context }}"
    assert build["file"] == "${{ matrix.dockerfile }}"
    assert build["tags"] == "${{ steps.image.outputs.repository }}:${{ inputs.tag }}"
    assert build["cache-from"] == "type=gha,scope=tims-stack-${{ matrix.image }}"
    assert build["cache-to"] == "type=gha,mode=max,scope=tims-stack-${{ matrix.image }}"


@pytest.mark.parametrize("image", ["backend", "frontend"])
def test_image_repository_is_lowercased_and_matches_the_example_config(
    build_job: dict[str, Any], tmp_path: Path, image: str
) -> None:
    output = tmp_path / "github_output"
    done = run_script(
        step_named(build_job, "Image repository"),
        {"OWNER": "AcMe", "IMAGE": image, "GITHUB_OUTPUT": str(output)},
    )
    assert done.returncode == 0, done.stderr
    repository = output.read_text().strip().removeprefix("repository=")
    example = yaml.safe_load((REPO_ROOT / "Pulumi.example.yaml").read_text(encoding="utf-8"))
    assert repository == example["config"]["tims-stack:images"][image]


@pytest.mark.parametrize(
    ("tag", "sha", "ok"),
    [
        ("dev-0123456789ab", "", True),
        ("pr-12-0123456789ab", "0123456789abcdef0123456789abcdef01234567", True),
        ("bad tag", "", False),
        ("$(id)", "", False),
        ("-lead", "", False),
        ("x" * 129, "", False),
        ("dev-1", "abc123", False),
    ],
)
def test_inputs_are_checked_before_anything_is_built(
    build_job: dict[str, Any], tag: str, sha: str, ok: bool
) -> None:
    done = run_script(
        step_named(build_job, "Check inputs"), {"TAG": tag, "SHA": sha, "ENVIRONMENT": "dev"}
    )
    assert (done.returncode == 0) is ok, f"tag={tag!r} sha={sha!r}: {done.stdout}{done.stderr}"


def test_a_refused_push_is_explained_by_a_failing_step_named_for_the_fix(
    build_template: dict[str, Any], tmp_path: Path
) -> None:
    # ImageBuild's failure error lists the failed steps' names (run_errors.failure_error),
    # so the fix is in the name the user reads in `pulumi up`.
    steps = build_template["jobs"]["build"]["steps"]
    names = [s.get("name") for s in steps]
    explain = steps[-1]
    assert names.index("Build and push") == len(steps) - 2
    assert explain["if"] == "failure() && steps.push.outcome == 'failure'"
    assert "write_package" in explain["name"]
    assert "Write access to the package" in explain["name"]
    done = subprocess.run(
        ["bash", "-eo", "pipefail", "-c", explain["run"]],
        env={"PATH": os.environ["PATH"], "REPOSITORY": "ghcr.io/acme/x", "THIS_REPO": "acme/app"},
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 1
    assert "Manage Actions access -> Add repository: acme/app, role Write" in done.stdout
