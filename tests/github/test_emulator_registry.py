"""The emulated container registry, GHES mode, Date and X-OAuth-Scopes headers."""

from __future__ import annotations

from email.utils import parsedate_to_datetime

import httpx

from tests.github.clock import FakeClock
from tests.github.emulator import GitHubEmulator
from tests.github.fixtures import client_for, dispatch, enterprise_server

ACCEPT = {
    "Accept": "application/vnd.oci.image.index.v1+json, application/vnd.oci.image.manifest.v1+json"
}


def pull_token(
    emulator: GitHubEmulator, repository: str, password: str | None = None
) -> httpx.Response:
    return httpx.get(
        f"{emulator.registry_url}/token",
        params={"service": "ghcr.io", "scope": f"repository:{repository}:pull"},
        auth=("anyone", password or emulator.token),
    )


def test_manifest_head_without_a_token_is_a_bearer_challenge(emulator: GitHubEmulator) -> None:
    emulator.add_package("acme", "app-backend", [["v1"]])
    answer = httpx.head(f"{emulator.registry_url}/v2/acme/app-backend/manifests/v1", headers=ACCEPT)
    assert answer.status_code == 401
    challenge = answer.headers["www-authenticate"]
    assert challenge.startswith('Bearer realm="http://127.0.0.1:')
    assert 'service="ghcr.io"' in challenge
    assert 'scope="repository:acme/app-backend:pull"' in challenge


def test_the_token_endpoint_takes_the_github_token_as_basic_password(
    emulator: GitHubEmulator,
) -> None:
    assert pull_token(emulator, "acme/app-backend").json()["token"]
    assert pull_token(emulator, "acme/app-backend", "ghp_wrong").status_code == 401


def test_manifest_head_answers_the_digest_the_packages_api_lists(
    emulator: GitHubEmulator,
) -> None:
    emulator.add_package("acme", "app-backend", [["old"], ["v1"]])
    token = pull_token(emulator, "acme/app-backend").json()["token"]
    headers = {**ACCEPT, "Authorization": f"Bearer {token}"}
    found = httpx.head(f"{emulator.registry_url}/v2/acme/app-backend/manifests/v1", headers=headers)
    assert found.status_code == 200
    digest = found.headers["docker-content-digest"]
    assert emulator.package_digests("acme", "app-backend")[digest] == ["v1"]
    by_digest = httpx.head(
        f"{emulator.registry_url}/v2/acme/app-backend/manifests/{digest}", headers=headers
    )
    assert by_digest.status_code == 200
    missing = httpx.head(
        f"{emulator.registry_url}/v2/acme/app-backend/manifests/nope", headers=headers
    )
    assert missing.status_code == 404


def test_registry_requests_cost_no_rate_limit(emulator: GitHubEmulator) -> None:
    pull_token(emulator, "acme/app-backend")
    assert [r.registry for r in emulator.requests] == [True]
    assert not any(r.rate_limited for r in emulator.requests)


def test_answers_carry_the_emulators_time_in_the_date_header(
    emulator: GitHubEmulator, fake_clock: FakeClock
) -> None:
    with client_for(emulator) as gh:
        answer = gh.get("/user")
    assert parsedate_to_datetime(answer.headers["date"]).timestamp() == int(fake_clock.time())


def test_oauth_scopes_are_sent_and_a_missing_read_scope_hides_packages(
    emulator: GitHubEmulator,
) -> None:
    emulator.add_package("acme", "app-backend", [["v1"]])
    emulator.oauth_scopes = "repo"
    with client_for(emulator) as gh:
        answer = gh.get("/user/packages/container/app-backend/versions")
    assert answer.headers["x-oauth-scopes"] == "repo"
    assert answer.status_code == 404, "without read:packages the package looks gone"
    assert pull_token(emulator, "acme/app-backend").status_code == 403


def test_ghes_3_19_refuses_return_run_details_with_422_and_starts_nothing(
    fake_clock: FakeClock,
) -> None:
    with enterprise_server({"clock": fake_clock}, version="3.19") as server:
        with client_for(server) as gh:
            answer = dispatch(gh, {"tag": "t", "correlation_id": "c"}, return_run_details=True)
        assert answer.status_code == 422
        assert '"return_run_details" is not a permitted key.' in answer.json()["message"]
        assert server.runs("acme/app") == []
        assert server.base_url.endswith("/api/v3")


def test_a_manifest_of_a_type_the_accept_header_does_not_name_is_not_found(
    emulator: GitHubEmulator,
) -> None:
    emulator.add_package("acme", "app-backend", [["v1"]])  # a single-platform manifest
    token = pull_token(emulator, "acme/app-backend").json()["token"]
    url = f"{emulator.registry_url}/v2/acme/app-backend/manifests/v1"
    index_only = {"Accept": "application/vnd.oci.image.index.v1+json"}
    answer = httpx.head(url, headers={**index_only, "Authorization": f"Bearer {token}"})
    assert answer.status_code == 404
    answer = httpx.head(url, headers={**ACCEPT, "Authorization": f"Bearer {token}"})
    assert answer.status_code == 200
