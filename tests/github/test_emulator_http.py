"""Authentication, rate limits, ETags and errors of the emulator, seen through plain httpx."""

from __future__ import annotations

import httpx
from openapi_core import OpenAPI

from tests.github.clock import FakeClock
from tests.github.emulator import GitHubEmulator, RunPlan, parse_link_header
from tests.github.fixtures import APP_REPO, SAMPLE_INPUTS, client_for, dispatch, standard_world

RUN = f"/repos/{APP_REPO}/actions/runs/{{}}"


def _run_id(gh: httpx.Client) -> int:
    return int(dispatch(gh, SAMPLE_INPUTS, return_run_details=True).json()["workflow_run_id"])


def test_conditional_get_answers_304_without_counting_against_the_rate_limit(
    emulator: GitHubEmulator, gh: httpx.Client
) -> None:
    path = RUN.format(_run_id(gh))
    first = gh.get(path)

    again = gh.get(path, headers={"If-None-Match": first.headers["etag"]})

    assert (again.status_code, again.content) == (304, b""), f"conditional GET {path}"
    assert again.headers["x-ratelimit-remaining"] == first.headers["x-ratelimit-remaining"]
    assert emulator.requests[-1].rate_limited is False, "a 304 counted against the budget"


def test_etag_changes_when_the_run_changes(fake_clock: FakeClock, gh: httpx.Client) -> None:
    path = RUN.format(_run_id(gh))
    etag = gh.get(path).headers["etag"]
    fake_clock.advance(10)  # queued -> in_progress

    answer = gh.get(path, headers={"If-None-Match": etag})

    assert answer.status_code == 200, f"{path} changed but answered {answer.status_code}"
    assert answer.json()["status"] == "in_progress"
    assert answer.headers["etag"] != etag


def test_every_answer_counts_down_the_rate_limit_headers(
    emulator: GitHubEmulator, gh: httpx.Client
) -> None:
    emulator.rate_limit_total = 100

    remaining = [int(gh.get(f"/repos/{APP_REPO}").headers["x-ratelimit-remaining"]) for _ in "abc"]
    headers = gh.get("/user").headers

    assert remaining == [99, 98, 97]
    assert headers["x-ratelimit-limit"] == "100"
    assert headers["x-ratelimit-used"] == "4"
    assert int(headers["x-ratelimit-reset"]) > 1_780_000_000


def test_rate_limit_endpoint_does_not_count(emulator: GitHubEmulator, gh: httpx.Client) -> None:
    core = [gh.get("/rate_limit").json()["resources"]["core"]["remaining"] for _ in "ab"]

    assert core == [5000, 5000]
    assert [r.rate_limited for r in emulator.requests] == [False, False]


def test_exhausted_rate_limit_answers_403_until_the_reset_time(
    emulator: GitHubEmulator, fake_clock: FakeClock, gh: httpx.Client
) -> None:
    emulator.rate_limit_total = 2
    gh.get("/user")
    gh.get("/user")

    refused = gh.get("/user")
    fake_clock.advance(int(refused.headers["x-ratelimit-reset"]) - fake_clock.time())
    later = gh.get("/user")

    assert refused.status_code == 403, refused.text
    assert refused.headers["x-ratelimit-remaining"] == "0"
    assert refused.json()["message"].startswith("API rate limit exceeded")
    assert later.status_code == 200, "the budget did not renew at x-ratelimit-reset"


def test_bad_token_is_401_bad_credentials(emulator: GitHubEmulator) -> None:
    with client_for(emulator, token="ghp_wrong") as client:
        answer = client.get("/user")

    assert answer.status_code == 401
    assert answer.json()["message"] == "Bad credentials"
    assert answer.headers["x-ratelimit-limit"] == "60", "unauthenticated budget"


def test_missing_token_is_401(emulator: GitHubEmulator) -> None:
    answer = httpx.get(f"{emulator.base_url}/user")

    assert answer.status_code == 401
    assert answer.json()["message"] == "Requires authentication"


def test_token_scheme_is_accepted_like_bearer(emulator: GitHubEmulator) -> None:
    answer = httpx.get(
        f"{emulator.base_url}/user", headers={"Authorization": f"token {emulator.token}"}
    )

    assert answer.status_code == 200, answer.text
    assert answer.json()["login"] == "acme"


def test_unknown_run_is_404_with_githubs_error_body(gh: httpx.Client) -> None:
    answer = gh.get(RUN.format(999))

    assert answer.status_code == 404
    assert answer.json() == {
        "message": "Not Found",
        "documentation_url": "https://docs.github.com/rest",
        "status": "404",
    }


def test_unknown_repository_is_404(gh: httpx.Client) -> None:
    assert gh.get("/repos/acme/nope").status_code == 404


def test_branch_commit_and_ref_resolve_to_the_branch_head(
    emulator: GitHubEmulator, gh: httpx.Client
) -> None:
    head = "d" * 40
    emulator.set_branch(APP_REPO, "main", head)

    branch = gh.get(f"/repos/{APP_REPO}/branches/main").json()["commit"]["sha"]
    commit = gh.get(f"/repos/{APP_REPO}/commits/main").json()["sha"]
    ref = gh.get(f"/repos/{APP_REPO}/git/ref/heads/main").json()["object"]["sha"]

    assert (branch, commit, ref) == (head, head, head), f"{APP_REPO}@main"


def test_unknown_branch_is_404(gh: httpx.Client) -> None:
    answer = gh.get(f"/repos/{APP_REPO}/branches/nope")

    assert answer.status_code == 404
    assert answer.json()["message"] == "Branch not found"


def test_recorded_requests_and_reprs_never_show_the_token(
    emulator: GitHubEmulator, gh: httpx.Client
) -> None:
    gh.get("/user")

    assert emulator.token not in repr(emulator.requests)
    assert emulator.token not in repr(emulator)
    assert emulator.requests[0].headers["authorization"] == "Bearer <redacted>"


def test_requests_are_recorded_with_query_body_and_status(
    emulator: GitHubEmulator, gh: httpx.Client
) -> None:
    dispatch(gh, SAMPLE_INPUTS)
    gh.get(f"/repos/{APP_REPO}/actions/runs", params={"per_page": 5})

    posted, listed = emulator.requests
    assert (posted.method, posted.status) == ("POST", 204)
    assert posted.json == {"ref": "main", "inputs": SAMPLE_INPUTS}
    assert (listed.path, listed.query, listed.status) == (
        f"/repos/{APP_REPO}/actions/runs",
        {"per_page": ["5"]},
        200,
    )


def test_enterprise_path_prefix_serves_the_api_below_it(
    fake_clock: FakeClock, github_openapi: OpenAPI | None
) -> None:
    emulator = standard_world(
        GitHubEmulator(clock=fake_clock, spec=github_openapi, path_prefix="/api/v3")
    )
    for index in range(3):
        emulator.start_foreign_run(APP_REPO, "build-images.yml", RunPlan(), {}, offset=-index)
    with emulator, client_for(emulator) as gh:
        host = emulator.base_url.removesuffix("/api/v3")
        inside = gh.get(f"/repos/{APP_REPO}/actions/runs", params={"per_page": 1})
        outside = gh.get(f"{host}/user")

    assert emulator.base_url.endswith("/api/v3")
    assert inside.status_code == 200, inside.text
    assert parse_link_header(inside.headers["link"])["next"].startswith(
        f"{host}/api/v3/repos/{APP_REPO}/actions/runs?"
    )
    assert outside.status_code == 404, "the API answered outside its prefix"
