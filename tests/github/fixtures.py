"""Fixtures for tests that talk to the GitHub API emulator.

Other test folders re-export them:
    from tests.github.fixtures import emulator, fake_clock, github_openapi  # noqa: F401
"""

from __future__ import annotations

import ssl
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from openapi_core import OpenAPI

from tests.conftest import SHARED_DIR, shared_path
from tests.github.clock import FakeClock, RealClock
from tests.github.emulator import GitHubEmulator
from tests.github.openapi_check import (
    ISSUES_SUPPLEMENT,
    SPEC_RELATIVE_PATH,
    load_github_openapi,
)

APP_REPO = "acme/app"
WORKFLOW_FILE = "build-images.yml"
WORKFLOW_INPUTS = ["ref", "sha", "tag", "environment", "correlation_id"]
RUN_NAME = "Build ${{ inputs.tag }} [${{ inputs.correlation_id }}]"
SAMPLE_INPUTS = {"tag": "dev-5d0c4a9f2e8b", "correlation_id": "corr-1"}


def standard_world(emulator: GitHubEmulator) -> GitHubEmulator:
    """User "acme" (owns the token), org "acme-org", repo acme/app with branch main
    and the workflow build-images.yml our template ships."""
    emulator.add_account("acme", "User")
    emulator.add_account("acme-org", "Organization")
    emulator.add_repo(APP_REPO, {"main": "5d0c4a9f2e8b7c6d1a3f4e5b6c7d8e9f0a1b2c3d"})
    emulator.add_workflow(APP_REPO, WORKFLOW_FILE, WORKFLOW_INPUTS, run_name=RUN_NAME)
    return emulator


GHES_HOST = "ghe.example.com"
GHES_REGISTRY = f"containers.{GHES_HOST}"


def enterprise_server(emulator_args: dict[str, Any], *, version: str = "3.19") -> GitHubEmulator:
    """An emulated GitHub Enterprise Server (standard world) as GHES answers:
    - the REST API below `/api/v3`;
    - dispatch refuses `return_run_details` (before the feature): 3.19 with 422, 3.20 with
      400, message `"return_run_details" is not a permitted key.`, no run created;
    - the container registry on its own host `containers.<host>` (subdomain isolation),
      its packages in the instance's own Packages API."""
    emulator = standard_world(GitHubEmulator(path_prefix="/api/v3", **emulator_args))
    emulator.return_run_details = "reject_422" if version == "3.19" else "reject_400"
    emulator.registry.service = GHES_REGISTRY
    return emulator


def client_for(emulator: GitHubEmulator, token: str | None = None) -> httpx.Client:
    """An httpx client for the emulator, authenticated like a GitHub client."""
    return httpx.Client(
        base_url=emulator.base_url,
        # Plain HTTP on loopback: a context that trusts nothing spares the ~40 ms
        # httpx spends loading the CA bundle for every client.
        verify=ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT),
        headers={
            "Authorization": f"Bearer {token or emulator.token}",
            "Accept": "application/vnd.github+json",
            "X-GitHub-Api-Version": "2022-11-28",
        },
        timeout=10,
    )


def dispatch(
    client: httpx.Client, inputs: dict[str, str] | None = None, **body: Any
) -> httpx.Response:
    """POST a workflow_dispatch of build-images.yml on main."""
    payload: dict[str, Any] = {"ref": "main", "inputs": inputs or {}, **body}
    return client.post(
        f"/repos/{APP_REPO}/actions/workflows/{WORKFLOW_FILE}/dispatches", json=payload
    )


def assert_no_spec_violations(emulator: GitHubEmulator) -> None:
    """Fail the current test when the emulator saw anything GitHub's description forbids."""
    if emulator.spec_violations:
        listing = "\n  ".join(emulator.spec_violations)
        pytest.fail(
            f"{len(emulator.spec_violations)} GitHub OpenAPI violation(s) at the emulator "
            f"{emulator.base_url}:\n  {listing}",
            pytrace=False,
        )


@pytest.fixture(scope="session")
def github_openapi() -> OpenAPI | None:
    """GitHub's OpenAPI description (loaded once), or None when ../shared is absent."""
    path = SHARED_DIR / SPEC_RELATIVE_PATH
    if not path.is_file():
        return None
    return load_github_openapi(path, ISSUES_SUPPLEMENT)


@pytest.fixture
def fake_clock() -> FakeClock:
    return FakeClock()


def _run_emulator(emulator: GitHubEmulator) -> Iterator[GitHubEmulator]:
    standard_world(emulator)
    emulator.start()
    try:
        yield emulator
    finally:
        emulator.stop()
    assert_no_spec_violations(emulator)


@pytest.fixture
def emulator(fake_clock: FakeClock, github_openapi: OpenAPI | None) -> Iterator[GitHubEmulator]:
    """A started emulator on virtual time with the standard world; fails the test at
    teardown if any request or response broke GitHub's OpenAPI description."""
    yield from _run_emulator(GitHubEmulator(clock=fake_clock, spec=github_openapi))


@pytest.fixture
def gh(emulator: GitHubEmulator) -> Iterator[httpx.Client]:
    """A plain httpx client for `emulator`."""
    with client_for(emulator) as client:
        yield client


@pytest.fixture
def conformance_emulator(
    fake_clock: FakeClock, github_openapi: OpenAPI | None
) -> Iterator[GitHubEmulator]:
    """Like `emulator` but always validating (skips without ../shared) and leaving
    `spec_violations` to the test: for tests that provoke violations on purpose."""
    if github_openapi is None:
        shared_path(SPEC_RELATIVE_PATH)  # skips, naming the missing file
    emulator = standard_world(GitHubEmulator(clock=fake_clock, spec=github_openapi))
    with emulator:
        yield emulator


@pytest.fixture
def real_emulator(github_openapi: OpenAPI | None) -> Iterator[GitHubEmulator]:
    """Like `emulator`, on real time: for clients in another process (the provider host)."""
    yield from _run_emulator(GitHubEmulator(clock=RealClock(), spec=github_openapi))
