"""The emulator's OpenAPI validation is live: it passes what GitHub documents and
catches what GitHub's description forbids, in requests and in responses."""

from __future__ import annotations

import pytest

from tests.github.emulator import GitHubEmulator, RunPlan
from tests.github.fixtures import (
    APP_REPO,
    SAMPLE_INPUTS,
    WORKFLOW_FILE,
    assert_no_spec_violations,
    client_for,
    dispatch,
    standard_world,
)

RUNS = f"/repos/{APP_REPO}/actions/runs"


def _violations_about(emulator: GitHubEmulator, text: str) -> list[str]:
    return [v for v in emulator.spec_violations if text in v]


def test_every_operation_in_the_description_is_served_and_validated(
    conformance_emulator: GitHubEmulator,
) -> None:
    emu = conformance_emulator
    for owner in ("acme", "acme-org"):
        emu.add_package(owner, "app", [["a"], ["b"], []])
    emu.plan_next_run(APP_REPO, WORKFLOW_FILE, RunPlan(duration=600))
    with client_for(emu) as gh:
        run_id = dispatch(gh, SAMPLE_INPUTS, return_run_details=True).json()["workflow_run_id"]
        for path in (
            "/user",
            "/rate_limit",
            "/users/acme",
            "/orgs/acme-org",
            f"/repos/{APP_REPO}",
            f"/repos/{APP_REPO}/branches/main",
            f"/repos/{APP_REPO}/commits/main",
            f"/repos/{APP_REPO}/git/ref/heads/main",
            f"/repos/{APP_REPO}/actions/workflows/{WORKFLOW_FILE}",
            f"/repos/{APP_REPO}/actions/workflows/{WORKFLOW_FILE}/runs",
            f"{RUNS}?status=queued&per_page=1",
            f"{RUNS}/{run_id}",
            f"{RUNS}/{run_id}/jobs?filter=latest",
        ):
            assert gh.get(path).status_code == 200, path
        assert gh.post(f"{RUNS}/{run_id}/cancel").status_code == 202
        for scope in ("/user", "/users/acme", "/orgs/acme-org"):
            package = f"{scope}/packages/container/app"
            assert gh.get(f"{scope}/packages?package_type=container").status_code == 200
            assert gh.get(package).status_code == 200, package
            oldest = gh.get(f"{package}/versions").json()[-1]["id"]
            assert gh.get(f"{package}/versions/{oldest}").status_code == 200
            assert gh.delete(f"{package}/versions/{oldest}").status_code == 204
            assert gh.post(f"{package}/versions/{oldest}/restore").status_code == 204
            assert gh.delete(package).status_code == 204, package
            assert gh.post(f"{package}/restore").status_code == 204, package
        issues = f"/repos/{APP_REPO}/issues"
        created = gh.post(issues, json={"title": "Drift on staging", "labels": ["drift"]})
        assert created.status_code == 201, created.text
        assert gh.get(f"{issues}?state=open&labels=drift").status_code == 200
        number = created.json()["number"]
        comment = gh.post(f"{issues}/{number}/comments", json={"body": "seen"})
        assert comment.status_code == 201, comment.text
        assert gh.get(f"{issues}/{number}/comments").status_code == 200
        edited = gh.patch(f"{issues}/comments/{comment.json()['id']}", json={"body": "again"})
        assert edited.status_code == 200
        closed = {"state": "closed", "state_reason": "completed"}
        assert gh.patch(f"{issues}/{number}", json=closed).status_code == 200
        pull = emu.add_pull(APP_REPO, "feat/login", "b" * 40, labels=["preview"])
        pulls = f"/repos/{APP_REPO}/pulls"
        assert gh.get(f"{pulls}?state=all&per_page=1").status_code == 200
        assert gh.get(f"{pulls}/{pull}").status_code == 200

    assert emu.spec_violations == []
    assert emu.documented_operation_ids, "the description lists no operations"
    missing = emu.documented_operation_ids - emu.validated_operations
    assert not missing, f"operations never validated: {sorted(missing)}"


def test_documented_error_answers_are_validated_too(conformance_emulator: GitHubEmulator) -> None:
    with client_for(conformance_emulator) as gh:
        statuses = [
            gh.get("/users/nobody").status_code,
            gh.get(f"/repos/{APP_REPO}/commits/0000000").status_code,
            gh.delete("/orgs/acme-org/packages/container/nothing").status_code,
        ]

    assert statuses == [404, 422, 404]
    assert conformance_emulator.spec_violations == []
    assert {"users/get-by-username", "repos/get-commit", "packages/delete-package-for-org"} <= (
        conformance_emulator.validated_operations
    )


def test_undocumented_body_field_is_a_violation(conformance_emulator: GitHubEmulator) -> None:
    with client_for(conformance_emulator) as gh:
        dispatch(gh, SAMPLE_INPUTS, wait_for_run=True)

    assert _violations_about(conformance_emulator, "'wait_for_run' was unexpected"), (
        conformance_emulator.spec_violations
    )


def test_missing_required_body_field_is_a_violation(conformance_emulator: GitHubEmulator) -> None:
    with client_for(conformance_emulator) as gh:
        gh.post(
            f"/repos/{APP_REPO}/actions/workflows/{WORKFLOW_FILE}/dispatches",
            json={"inputs": SAMPLE_INPUTS},
        )

    assert _violations_about(conformance_emulator, "'ref' is a required property"), (
        conformance_emulator.spec_violations
    )


def test_more_than_25_inputs_is_a_violation(conformance_emulator: GitHubEmulator) -> None:
    with client_for(conformance_emulator) as gh:
        dispatch(gh, {f"input{i}": "x" for i in range(26)})

    assert _violations_about(conformance_emulator, "has too many properties"), (
        conformance_emulator.spec_violations
    )


def test_undocumented_query_parameter_is_a_violation(conformance_emulator: GitHubEmulator) -> None:
    with client_for(conformance_emulator) as gh:
        gh.get(RUNS, params={"workflow": WORKFLOW_FILE})

    assert _violations_about(conformance_emulator, "query parameter 'workflow' is not documented")


def test_query_value_outside_the_enum_is_a_violation(conformance_emulator: GitHubEmulator) -> None:
    with client_for(conformance_emulator) as gh:
        gh.get(RUNS, params={"status": "running"})

    assert _violations_about(conformance_emulator, "'running' is not one of"), (
        conformance_emulator.spec_violations
    )


def test_undocumented_path_is_a_violation(conformance_emulator: GitHubEmulator) -> None:
    with client_for(conformance_emulator) as gh:
        answer = gh.get(f"/repos/{APP_REPO}/actions/workflows/{WORKFLOW_FILE}/latest")

    assert answer.status_code == 404
    assert _violations_about(
        conformance_emulator, "no operation of the OpenAPI description matches"
    )


def test_undocumented_method_is_a_violation(conformance_emulator: GitHubEmulator) -> None:
    with client_for(conformance_emulator) as gh:
        gh.delete(f"/repos/{APP_REPO}/actions/runs/1")

    assert _violations_about(conformance_emulator, "DELETE /repos/acme/app/actions/runs/1")


def test_response_with_a_wrongly_typed_field_is_a_violation(
    conformance_emulator: GitHubEmulator,
) -> None:
    conformance_emulator.inject(
        "POST", "/dispatches$", status=200, body={"workflow_run_id": "1", "run_url": "x"}
    )

    with client_for(conformance_emulator) as gh:
        dispatch(gh, SAMPLE_INPUTS, return_run_details=True)

    (violation,) = conformance_emulator.spec_violations
    assert "injected fault response invalid for actions/create-workflow-dispatch" in violation
    assert "'1' is not of type 'integer'" in violation
    assert "'html_url' is a required property" in violation
    assert "'x' is not a 'uri'" in violation


def test_response_with_a_bad_timestamp_is_a_violation(
    conformance_emulator: GitHubEmulator,
) -> None:
    with client_for(conformance_emulator) as gh:
        workflow = gh.get(f"/repos/{APP_REPO}/actions/workflows/{WORKFLOW_FILE}").json()
        workflow["updated_at"] = "yesterday"
        conformance_emulator.inject("GET", "/workflows/", status=200, body=workflow)
        gh.get(f"/repos/{APP_REPO}/actions/workflows/{WORKFLOW_FILE}")

    assert _violations_about(conformance_emulator, "'yesterday' is not a 'date-time'"), (
        conformance_emulator.spec_violations
    )


def test_response_with_an_undocumented_field_is_a_violation(
    conformance_emulator: GitHubEmulator,
) -> None:
    with client_for(conformance_emulator) as gh:
        user = gh.get("/users/acme").json()
        conformance_emulator.inject("GET", "^/users/acme$", status=200, body={**user, "x": 1})
        gh.get("/users/acme")

    assert conformance_emulator.spec_violations, "an object GitHub does not describe passed"


def test_malformed_error_body_on_an_undocumented_status_is_a_violation(
    conformance_emulator: GitHubEmulator,
) -> None:
    conformance_emulator.inject("GET", "/actions/runs$", status=429, body={"error": "slow down"})

    with client_for(conformance_emulator) as gh:
        gh.get(RUNS)

    assert _violations_about(conformance_emulator, "error body is not a GitHub error object")


def test_known_gaps_in_the_description_are_unvalidated_not_violations(
    conformance_emulator: GitHubEmulator,
) -> None:
    conformance_emulator.add_package("acme", "app", [["a"]])

    with client_for(conformance_emulator) as gh:
        gh.get("/users/acme/packages/container/app/versions", params={"per_page": 100})
        gh.get(RUNS, params={"created": ">=2026-05-28T00:00:00Z"})

    assert conformance_emulator.spec_violations == []
    notes = "\n".join(conformance_emulator.unvalidated)
    assert "github/rest-api-description#1651" in notes, "page/per_page on user versions"
    assert "github/rest-api-description#2195" in notes, "date range syntax of `created`"


def test_emulator_without_the_description_serves_and_validates_nothing() -> None:
    with standard_world(GitHubEmulator(spec=None)) as emulator, client_for(emulator) as gh:
        answer = gh.get(RUNS, params={"undocumented": "1"})

    assert answer.status_code == 200
    assert (emulator.spec_violations, emulator.unvalidated) == ([], [])
    assert emulator.validated_operations == set()


def test_teardown_check_fails_the_test_when_violations_exist() -> None:
    emulator = GitHubEmulator(spec=None)
    emulator.spec_violations.append("GET /x: no operation of the OpenAPI description matches")

    with pytest.raises(pytest.fail.Exception, match="1 GitHub OpenAPI violation"):
        assert_no_spec_violations(emulator)
