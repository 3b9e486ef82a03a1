"""Every workflow and the build template pass GitHub's workflow schema and zizmor (offline)."""

from __future__ import annotations

import json
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from tests.ci.conftest import ALL_WORKFLOW_FILES, LOCAL_ACTIONS
from tests.conftest import REPO_ROOT

FAILING_SEVERITIES = {"Medium", "High"}


def run_zizmor(zizmor: Path, *paths: Path) -> list[dict[str, Any]]:
    """zizmor's findings (regular persona, repo's zizmor config if any), as parsed JSON."""
    done = subprocess.run(
        [str(zizmor), "--offline", "--format", "json", *map(str, paths)],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    # zizmor exits non-zero when it has findings; only unparsable output is a tool failure.
    try:
        findings = json.loads(done.stdout)
    except ValueError:
        pytest.fail(f"zizmor printed no JSON (exit {done.returncode}): {done.stderr[-2000:]}")
    assert isinstance(findings, list), f"zizmor JSON is not a list: {done.stdout[:200]}"
    return findings


def finding_files(finding: dict[str, Any]) -> set[str]:
    files = set()
    for location in finding.get("locations", []):
        key = location.get("symbolic", {}).get("key", {})
        local = key.get("Local", {}) if isinstance(key, dict) else {}
        # zizmor 1.32 names it verbatim_path; older releases said given_path.
        for path in (local.get("verbatim_path"), local.get("given_path")):
            if isinstance(path, str):
                files.add(Path(path).name)
    return files


def describe(finding: dict[str, Any]) -> str:
    severity = finding["determinations"]["severity"]
    return f"{finding['ident']} ({severity}): {finding.get('desc', '')}"


@pytest.fixture(scope="module")
def zizmor_findings(venv_tool: Callable[[str], Path]) -> list[dict[str, Any]]:
    """One zizmor run over every file; the per-file tests pick their findings."""
    return run_zizmor(venv_tool("zizmor"), *ALL_WORKFLOW_FILES, *LOCAL_ACTIONS)


def check_schema(
    check_jsonschema: Path, *paths: Path, schema: str = "vendor.github-workflows"
) -> dict[str, list[str]]:
    """Schema errors by file name, from one check-jsonschema run over `paths`."""
    done = subprocess.run(
        [
            str(check_jsonschema),
            "--builtin-schema",
            schema,
            "--output-format",
            "json",
            *map(str, paths),
        ],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    try:
        report = json.loads(done.stdout)
    except ValueError:
        pytest.fail(f"check-jsonschema printed no JSON (exit {done.returncode}): {done.stderr}")
    errors: dict[str, list[str]] = {path.name: [] for path in paths}
    for error in report.get("errors", []) + report.get("parse_errors", []):
        name = Path(error.get("filename", "?")).name
        best = error.get("best_match") or error
        errors.setdefault(name, []).append(f"{best.get('path')}: {best.get('message')}")
    assert (done.returncode == 0) == (report.get("status") == "ok"), done.stdout
    return errors


@pytest.fixture(scope="module")
def schema_errors(venv_tool: Callable[[str], Path]) -> dict[str, list[str]]:
    """One check-jsonschema run over every file; the per-file tests pick their errors."""
    return check_schema(venv_tool("check-jsonschema"), *ALL_WORKFLOW_FILES)


def test_workflow_passes_the_github_workflow_schema(
    workflow_path: Path, schema_errors: dict[str, list[str]]
) -> None:
    name = workflow_path.name
    assert name in schema_errors, f"{name} was not checked"
    assert schema_errors[name] == [], (
        f"{name} fails the GitHub workflow schema: {schema_errors[name]}"
    )


def test_workflow_has_no_medium_or_high_zizmor_finding(
    workflow_path: Path, zizmor_findings: list[dict[str, Any]]
) -> None:
    bad = [
        describe(f)
        for f in zizmor_findings
        if workflow_path.name in finding_files(f)
        and f["determinations"]["severity"] in FAILING_SEVERITIES
    ]
    assert bad == [], f"zizmor findings in {workflow_path.name}: {bad}"


@pytest.mark.parametrize("action", LOCAL_ACTIONS, ids=lambda p: p.parent.name)
def test_local_action_passes_the_github_action_schema(
    action: Path, venv_tool: Callable[[str], Path]
) -> None:
    errors = check_schema(venv_tool("check-jsonschema"), action, schema="vendor.github-actions")
    assert errors["action.yml"] == [], f"{action.parent.name} fails the action schema: {errors}"


@pytest.mark.parametrize("action", LOCAL_ACTIONS, ids=lambda p: p.parent.name)
def test_local_action_has_no_medium_or_high_zizmor_finding(
    action: Path, zizmor_findings: list[dict[str, Any]]
) -> None:
    # zizmor names an action's findings by the path it was given, ending in action.yml.
    bad = [
        describe(f)
        for f in zizmor_findings
        if "action.yml" in finding_files(f)
        and f["determinations"]["severity"] in FAILING_SEVERITIES
    ]
    assert bad == [], f"zizmor findings in {action.parent.name}/action.yml: {bad}"


def test_zizmor_findings_are_attributed_to_files(zizmor_findings: list[dict[str, Any]]) -> None:
    """Guards the per-file test: a finding we cannot place would otherwise pass unseen."""
    unplaced = [describe(f) for f in zizmor_findings if not finding_files(f)]
    assert unplaced == [], f"zizmor findings without a file: {unplaced}"


def test_zizmor_catches_template_injection_offline(
    tmp_path: Path, venv_tool: Callable[[str], Path]
) -> None:
    """The lint really runs: a known-bad workflow yields high findings in that file."""
    bad = tmp_path / "bad.yml"
    bad.write_text(
        "name: bad\non: pull_request\npermissions: {}\njobs:\n  x:\n"
        "    runs-on: ubuntu-latest\n    permissions: {}\n    steps:\n"
        '      - run: echo "${{ github.event.pull_request.title }}"\n',
        encoding="utf-8",
    )
    findings = run_zizmor(venv_tool("zizmor"), bad)
    idents = {f["ident"] for f in findings if "bad.yml" in finding_files(f)}
    assert "template-injection" in idents, f"zizmor missed the injection: {idents}"


def test_schema_check_rejects_a_broken_workflow(
    tmp_path: Path, venv_tool: Callable[[str], Path]
) -> None:
    broken = tmp_path / "broken.yml"
    broken.write_text("on: push\njobs:\n  x:\n    steps: []\n", encoding="utf-8")
    errors = check_schema(venv_tool("check-jsonschema"), broken)
    assert any("runs-on" in e for e in errors["broken.yml"]), (
        f"check-jsonschema accepted a job without runs-on: {errors}"
    )
