"""Transient failures and rate limits: retried within bounds, honouring GitHub's waits."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import httpx
import pytest

from components.images.imagebuild.base import ImageBuildError
from components.images.imagebuild.packages import Packages
from components.images.imagebuild.provider import PollPolicy
from components.images.imagebuild.registry import Registry
from components.images.imagebuild.rest import GitHubClient
from tests.github.clock import FakeClock
from tests.github.emulator import GitHubEmulator, RunPlan
from tests.provider.conftest import APP_REPO, MAIN_SHA, PUSH, TAG, WORKFLOW_FILE, Harness

RUN_PATH = r"/actions/runs/\d+$"
# A deadline no test reaches (monotonic seconds of the FakeClock, which start at 1000).
FAR = 1e9
USER = "/user"


@pytest.fixture
def client(emulator: GitHubEmulator, fake_clock: FakeClock) -> Iterator[GitHubClient]:
    with GitHubClient(emulator.token, emulator.base_url, clock=fake_clock) as github:
        yield github


def faults(emulator: GitHubEmulator) -> int:
    return sum(1 for r in emulator.requests if r.fault)


def test_a_burst_of_5xx_while_polling_is_retried_and_the_build_succeeds(harness: Harness) -> None:
    harness.plan(duration=120)
    harness.emulator.inject("GET", RUN_PATH, status=502, times=2)
    harness.emulator.inject("GET", RUN_PATH, status=503, times=2)
    result = harness.create()
    assert result.outs is not None
    assert result.outs["skipped"] is False
    assert faults(harness.emulator) == 4, "all four injected 5xx answers were met and retried"
    assert harness.emulator.cancelled_run_ids() == []


def test_persistent_5xx_gives_up_after_a_bounded_number_of_attempts(
    client: GitHubClient, emulator: GitHubEmulator
) -> None:
    emulator.inject("GET", f"^{USER}$", status=503, times=100)
    with pytest.raises(ImageBuildError, match=r"failed 6 times in a row.*503"):
        client.get(USER, deadline=FAR)
    assert len(emulator.requests) == 6, "6 attempts, then a clear error"


def test_transient_retries_back_off_with_jitter(
    client: GitHubClient, emulator: GitHubEmulator, fake_clock: FakeClock
) -> None:
    emulator.inject("GET", f"^{USER}$", status=500, times=4)
    client.get(USER, deadline=FAR)
    assert len(fake_clock.sleeps) == 4
    for attempt, slept in enumerate(fake_clock.sleeps):
        ceiling = 2.0**attempt
        assert ceiling / 2 <= slept <= ceiling, f"retry {attempt + 1} waited {slept} s"
    assert fake_clock.sleeps != [1.0, 2.0, 4.0, 8.0], "waits are jittered, not fixed"


def test_429_waits_as_long_as_retry_after_says(
    client: GitHubClient, emulator: GitHubEmulator, fake_clock: FakeClock
) -> None:
    emulator.inject("GET", f"^{USER}$", status=429, headers={"retry-after": "42"})
    assert client.get(USER, deadline=FAR).body["login"] == "acme"
    assert len(fake_clock.sleeps) == 1, fake_clock.sleeps
    assert 42 <= fake_clock.sleeps[0] <= 43, fake_clock.sleeps


def test_secondary_rate_limit_403_with_retry_after_is_honoured(
    client: GitHubClient, emulator: GitHubEmulator, fake_clock: FakeClock
) -> None:
    emulator.inject("GET", f"^{USER}$", status=403, headers={"retry-after": "60"})
    assert client.get(USER, deadline=FAR).status == 200
    assert 60 <= fake_clock.sleeps[0] <= 61, fake_clock.sleeps


def test_secondary_rate_limit_without_headers_waits_at_least_a_minute(
    client: GitHubClient, emulator: GitHubEmulator, fake_clock: FakeClock
) -> None:
    # The emulator's default 403 body is GitHub's "secondary rate limit" message.
    emulator.inject("GET", f"^{USER}$", status=403)
    assert client.get(USER, deadline=FAR).status == 200
    assert fake_clock.sleeps[0] >= 60, fake_clock.sleeps


def test_403_with_no_remaining_budget_waits_until_the_reset_time(
    client: GitHubClient, emulator: GitHubEmulator, fake_clock: FakeClock
) -> None:
    reset = int(fake_clock.time()) + 300
    emulator.inject(
        "GET",
        f"^{USER}$",
        status=403,
        headers={"x-ratelimit-remaining": "0", "x-ratelimit-reset": str(reset)},
        body={"message": "API rate limit exceeded for user ID 1."},
    )
    client.get(USER, deadline=FAR)
    assert fake_clock.time() >= reset, "the retry happened after x-ratelimit-reset"
    assert fake_clock.sleeps[0] <= 301, fake_clock.sleeps


def test_rate_limit_wait_past_the_deadline_fails_clearly_without_waiting(
    client: GitHubClient, emulator: GitHubEmulator, fake_clock: FakeClock
) -> None:
    emulator.inject("GET", f"^{USER}$", status=429, headers={"retry-after": "3600"})
    with pytest.raises(ImageBuildError, match=r"rate limit.*3600 s.*passes the deadline"):
        client.get(USER, deadline=fake_clock.monotonic() + 120)
    assert fake_clock.sleeps == [], "no point sleeping for a retry that cannot happen in time"


def test_a_plain_403_is_a_permission_error_and_is_not_retried(
    client: GitHubClient, emulator: GitHubEmulator
) -> None:
    emulator.inject(
        "GET", f"^{USER}$", status=403, body={"message": "Resource not accessible by integration"}
    )
    with pytest.raises(ImageBuildError, match="lacks a permission"):
        client.get(USER, deadline=FAR)
    assert len(emulator.requests) == 1


def test_a_reset_connection_is_retried(client: GitHubClient, emulator: GitHubEmulator) -> None:
    emulator.inject("GET", f"^{USER}$", reset_connection=True, times=2)
    assert client.get(USER, deadline=FAR).body["login"] == "acme"
    assert len(emulator.requests) == 3


def test_a_reset_connection_on_dispatch_starts_exactly_one_run(harness: Harness) -> None:
    harness.emulator.inject("POST", r"/dispatches$", reset_connection=True)
    harness.plan(duration=60)
    result = harness.create()
    runs = harness.emulator.runs(APP_REPO)
    assert len(runs) == 1, f"a retried dispatch must not start a second run: {runs}"
    assert result.outs is not None
    assert result.outs["runId"] == runs[0]["id"]


def test_a_5xx_on_dispatch_looks_for_our_run_before_dispatching_again(harness: Harness) -> None:
    emulator = harness.emulator
    harness.plan(duration=60)
    emulator.inject("POST", r"/dispatches$", status=502)
    result = harness.create()
    dispatches = [i for i, r in enumerate(emulator.requests) if r.path.endswith("/dispatches")]
    assert len(dispatches) == 2, dispatches
    between = emulator.requests[dispatches[0] + 1 : dispatches[1]]
    assert between, "the runs list is read before dispatching again"
    assert all(r.path.endswith(f"/workflows/{WORKFLOW_FILE}/runs") for r in between), (
        f"only the runs list is read between the two dispatches: {[r.path for r in between]}"
    )
    runs = emulator.runs(APP_REPO)
    assert len(runs) == 1
    assert result.outs is not None
    assert result.outs["runId"] == runs[0]["id"]


def test_a_run_github_started_despite_a_5xx_is_adopted_not_duplicated(
    harness: Harness, monkeypatch: pytest.MonkeyPatch
) -> None:
    # GitHub can act on a dispatch and still answer 502. The emulator's fault answers
    # instead of the API, so the run GitHub "started anyway" is planted with our id.
    correlation = uuid.UUID(int=0xC0FFEE)
    monkeypatch.setattr(uuid, "uuid4", lambda: correlation)
    emulator = harness.emulator
    inputs = {"ref": "main", "sha": MAIN_SHA, "tag": TAG, "environment": "dev"}
    planted = emulator.start_foreign_run(
        APP_REPO,
        WORKFLOW_FILE,
        RunPlan(duration=60, push=dict(PUSH)),
        {**inputs, "correlation_id": correlation.hex},
    )
    emulator.inject("POST", r"/dispatches$", status=502)
    result = harness.create()
    assert len(harness.dispatches()) == 1, "no second dispatch once our run was found"
    assert result.outs is not None
    assert result.outs["runId"] == planted


def test_conditional_requests_reuse_the_cached_body_on_304(
    client: GitHubClient, emulator: GitHubEmulator
) -> None:
    first = client.get(USER, deadline=FAR)
    second = client.get(USER, deadline=FAR)
    assert second.from_cache
    assert second.body == first.body
    assert emulator.requests[1].status == 304
    assert not emulator.requests[1].rate_limited
    assert emulator.requests[1].headers.get("if-none-match"), "the ETag is sent back"


def test_pagination_follows_every_link_to_the_last_page(
    client: GitHubClient, emulator: GitHubEmulator
) -> None:
    emulator.add_package("acme", "many", [[f"t{i}"] for i in range(250)])
    packages = Packages(client, Registry(client.token, client.clock))
    scope = packages.scope("acme", deadline=FAR)
    versions = packages.versions(scope, "many", deadline=FAR)
    assert versions is not None
    assert len(versions) == 250
    pages = [r for r in emulator.requests if r.path.endswith("/many/versions")]
    assert [r.query.get("page", ["1"])[0] for r in pages] == ["1", "2", "3"]


def test_a_pagination_link_to_another_host_is_not_followed_with_the_token(
    client: GitHubClient, emulator: GitHubEmulator
) -> None:
    emulator.add_package("acme", "app-backend", [["a"]])
    emulator.inject(
        "GET",
        r"/versions$",
        status=200,
        body=[],
        headers={"link": '<https://elsewhere.example/x?page=2>; rel="next"'},
    )
    packages = Packages(client, Registry(client.token, client.clock))
    scope = packages.scope("acme", deadline=FAR)
    with pytest.raises(ImageBuildError, match="outside the configured API base URL"):
        packages.versions(scope, "app-backend", deadline=FAR)


def test_a_github_enterprise_base_url_prefixes_every_call() -> None:
    seen: list[httpx.Request] = []

    def answer(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        if request.url.params.get("page") == "2":
            return httpx.Response(200, json=[{"id": 2}])
        link = (
            '<https://ghe.example.com/api/v3/user/packages/container/x/versions?page=2>; rel="next"'
        )
        return httpx.Response(200, json=[{"id": 1}], headers={"link": link})

    transport = httpx.MockTransport(answer)
    with GitHubClient("ghp_t", "https://ghe.example.com/api/v3/", transport=transport) as client:
        items = list(client.paginate("/user/packages/container/x/versions", deadline=FAR))
    assert [i["id"] for i in items] == [1, 2]
    assert [str(r.url).split("?")[0] for r in seen] == [
        "https://ghe.example.com/api/v3/user/packages/container/x/versions"
    ] * 2
    assert all(r.headers["authorization"] == "Bearer ghp_t" for r in seen)


def test_an_uncertain_dispatch_without_correlation_id_fails_at_once_naming_the_actions_page(
    harness: Harness,
) -> None:
    harness.emulator.inject("POST", r"/dispatches$", status=502, times=3)
    with pytest.raises(ImageBuildError, match="uncertain") as error:
        harness.create(inputs={"ref": "{ref}", "sha": "{sha}", "tag": "{tag}"})
    assert f"actions/workflows/{WORKFLOW_FILE}" in str(error.value), (
        f"the error must say where to look for a run of {APP_REPO} it may have started"
    )
    assert len(harness.dispatches()) == 1, (
        "without a correlation id a run cannot be told apart: no blind second dispatch"
    )


def test_a_run_of_an_uncertain_dispatch_listed_late_is_adopted_not_duplicated(
    harness: Harness, monkeypatch: pytest.MonkeyPatch
) -> None:
    # GitHub acted on the 502'd dispatch, but the run shows in the list only a minute later.
    correlation = uuid.UUID(int=0xBEEF)
    monkeypatch.setattr(uuid, "uuid4", lambda: correlation)
    inputs = {"ref": "main", "sha": MAIN_SHA, "tag": TAG, "environment": "dev"}
    late = harness.emulator.start_foreign_run(
        APP_REPO,
        WORKFLOW_FILE,
        RunPlan(duration=120, push=dict(PUSH)),
        {**inputs, "correlation_id": correlation.hex},
        offset=60,
    )
    harness.emulator.inject("POST", r"/dispatches$", status=502)
    result = harness.create()
    assert len(harness.dispatches()) == 1, f"{APP_REPO} got a second dispatch before run {late}"
    assert result.outs is not None
    assert result.outs["runId"] == late


def test_a_duplicate_run_of_an_uncertain_dispatch_listed_after_the_window_is_cancelled(
    harness: Harness, monkeypatch: pytest.MonkeyPatch
) -> None:
    correlation = uuid.UUID(int=0xFACE)
    monkeypatch.setattr(uuid, "uuid4", lambda: correlation)
    window = PollPolicy().correlation_window  # the harness provider uses the defaults
    inputs = {"ref": "main", "sha": MAIN_SHA, "tag": TAG, "environment": "dev"}
    straggler = harness.emulator.start_foreign_run(
        APP_REPO,
        WORKFLOW_FILE,
        RunPlan(duration=900),
        {**inputs, "correlation_id": correlation.hex},
        offset=window + 30,
    )
    harness.emulator.inject("POST", r"/dispatches$", status=502)
    harness.plan(duration=300)
    result = harness.create()
    assert result.outs is not None
    assert result.outs["runId"] != straggler
    assert harness.emulator.cancelled_run_ids() == [straggler], (
        f"run {straggler} of {APP_REPO} carries our correlation id and must not be left running"
    )
