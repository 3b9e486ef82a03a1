"""Injected faults: statuses with headers, bursts and connection resets."""

from __future__ import annotations

import httpx
import pytest

from tests.github.emulator import GitHubEmulator
from tests.github.fixtures import APP_REPO, client_for

REPO = f"/repos/{APP_REPO}"


def test_429_fault_carries_retry_after_then_the_api_answers_again(
    emulator: GitHubEmulator, gh: httpx.Client
) -> None:
    emulator.inject("GET", r"^/repos/acme/app$", status=429, headers={"Retry-After": "7"})

    limited, normal = gh.get(REPO), gh.get(REPO)

    assert limited.status_code == 429, limited.text
    assert limited.headers["retry-after"] == "7"
    assert limited.json()["message"] == "API rate limit exceeded."
    assert normal.status_code == 200, "the fault outlived its `times`"


def test_secondary_rate_limit_fault_carries_the_reset_headers(
    emulator: GitHubEmulator, gh: httpx.Client
) -> None:
    reset = "1780000123"
    emulator.inject(
        "GET",
        r"^/user$",
        status=403,
        headers={"x-ratelimit-remaining": "0", "x-ratelimit-reset": reset},
    )

    answer = gh.get("/user")

    assert answer.status_code == 403
    assert (answer.headers["x-ratelimit-remaining"], answer.headers["x-ratelimit-reset"]) == (
        "0",
        reset,
    ), "an injected header must win over the emulator's own"
    assert "secondary rate limit" in answer.json()["message"]


def test_5xx_burst_lasts_exactly_times_requests(emulator: GitHubEmulator, gh: httpx.Client) -> None:
    emulator.inject("GET", r"/actions/runs$", status=502, times=3)

    statuses = [gh.get(f"{REPO}/actions/runs").status_code for _ in range(4)]

    assert statuses == [502, 502, 502, 200]


def test_connection_reset_fault_breaks_the_connection_once(
    emulator: GitHubEmulator, gh: httpx.Client
) -> None:
    emulator.inject("GET", r"^/user$", reset_connection=True)

    with pytest.raises(httpx.TransportError):
        gh.get("/user")
    after = gh.get("/user")

    assert after.status_code == 200
    reset, answered = emulator.requests
    assert (reset.status, reset.fault) == (None, True), "the reset request's record"
    assert (answered.status, answered.fault) == (200, False)


def test_fault_only_hits_its_method(emulator: GitHubEmulator, gh: httpx.Client) -> None:
    emulator.inject("POST", r"/dispatches$", status=500)

    assert gh.get(f"{REPO}/actions/workflows/build-images.yml").status_code == 200
    assert (
        gh.post(
            f"{REPO}/actions/workflows/build-images.yml/dispatches", json={"ref": "main"}
        ).status_code
        == 500
    )


def test_fault_with_a_custom_body_is_sent_as_given(
    emulator: GitHubEmulator, gh: httpx.Client
) -> None:
    emulator.inject("GET", r"^/user$", status=503, body="<html>unicorn</html>")

    answer = gh.get("/user")

    assert (answer.status_code, answer.text) == (503, "<html>unicorn</html>")


def test_fault_status_github_does_not_document_is_unvalidated_not_valid(
    conformance_emulator: GitHubEmulator,
) -> None:
    # actions/list-workflow-runs-for-repo documents only 200.
    conformance_emulator.inject("GET", r"/actions/runs$", status=429, headers={"Retry-After": "1"})

    with client_for(conformance_emulator) as client:
        client.get(f"{REPO}/actions/runs")

    assert conformance_emulator.spec_violations == []
    assert any(
        "status 429 is not documented for actions/list-workflow-runs-for-repo" in note
        and "injected fault" in note
        for note in conformance_emulator.unvalidated
    ), conformance_emulator.unvalidated
    assert "actions/list-workflow-runs-for-repo" not in conformance_emulator.validated_operations


def test_fault_status_github_documents_is_validated(conformance_emulator: GitHubEmulator) -> None:
    # repos/get-commit documents 503 with GitHub's error object.
    conformance_emulator.inject("GET", r"/commits/", status=503)

    with client_for(conformance_emulator) as client:
        answer = client.get(f"{REPO}/commits/main")

    assert answer.status_code == 503
    assert (conformance_emulator.spec_violations, conformance_emulator.unvalidated) == ([], [])
    assert "repos/get-commit" in conformance_emulator.validated_operations
