"""GitHub's clock, not ours; and every call within the build's deadline."""

from __future__ import annotations

import os
import time
from datetime import UTC, datetime

import pytest

from components.images.imagebuild.base import ImageBuildError
from components.images.imagebuild.retry import http_date
from tests.github.clock import FakeClock, SkewedClock
from tests.github.emulator import GitHubEmulator
from tests.provider.conftest import APP_REPO, Harness, configure, make_provider

SKEWS = [pytest.param(300.0, id="local clock 5 min ahead"), pytest.param(-300.0, id="5 min behind")]


def skewed(harness: Harness, offset: float) -> Harness:
    """The harness with a provider whose local clock is `offset` seconds off GitHub's."""
    lines: list[str] = []
    provider = make_provider(
        SkewedClock(harness.clock, offset), lines, registry=harness.emulator.registry_url
    )
    configure(provider, harness.emulator.token, harness.emulator.base_url)
    return Harness(provider, harness.emulator, harness.clock, lines)


@pytest.mark.parametrize("offset", SKEWS)
def test_the_run_is_found_by_correlation_id_whatever_the_local_clock(
    harness: Harness, offset: float
) -> None:
    off = skewed(harness, offset)
    off.emulator.return_run_details = "ignore_204"
    off.plan(duration=120)
    result = off.create()
    assert result.outs is not None
    assert result.outs["runId"] == off.emulator.runs(APP_REPO)[0]["id"], (
        f"with the local clock {offset:+.0f} s off, the run of {APP_REPO} is still found"
    )


@pytest.mark.parametrize("offset", SKEWS)
def test_a_rate_limit_reset_wait_is_measured_on_githubs_clock(
    harness: Harness, fake_clock: FakeClock, offset: float
) -> None:
    off = skewed(harness, offset)
    off.plan(duration=120)
    reset = int(fake_clock.time()) + 40
    off.emulator.inject(
        "GET",
        r"/actions/runs/\d+$",
        status=403,
        headers={"x-ratelimit-remaining": "0", "x-ratelimit-reset": str(reset)},
        body={"message": "API rate limit exceeded"},
    )
    off.create()
    waits = [s for s in fake_clock.sleeps if s >= 30]
    assert len(waits) == 1, f"one wait for the reset: {fake_clock.sleeps}"
    assert 38 <= waits[0] <= 42, (
        f"the reset is 40 s away on GitHub's clock; the local clock is {offset:+.0f} s off, "
        f"yet the wait was {waits[0]:.0f} s"
    )


def test_failure_detail_never_waits_past_the_deadline(
    harness: Harness, fake_clock: FakeClock
) -> None:
    harness.plan(duration=60, conclusion="failure")
    start = fake_clock.monotonic()
    harness.emulator.inject(
        "GET",
        r"/jobs$",
        status=403,
        headers={
            "x-ratelimit-remaining": "0",
            "x-ratelimit-reset": str(int(fake_clock.time()) + 7200),
        },
        body={"message": "API rate limit exceeded"},
        times=5,
    )
    with pytest.raises(ImageBuildError, match="could not list the run's jobs"):
        harness.create(timeoutSeconds=600.0)
    assert fake_clock.monotonic() - start <= 600, (
        "listing jobs only enriches the error: it must not wait out a reset past the deadline"
    )


def test_a_failure_before_the_run_is_identified_names_the_run_to_cancel(
    harness: Harness, emulator: GitHubEmulator
) -> None:
    emulator.return_run_details = "ignore_204"
    harness.plan(duration=600)
    emulator.inject("GET", r"/workflows/[^/]+/runs$", status=503, times=100)
    with pytest.raises(ImageBuildError) as error:
        harness.create(timeoutSeconds=300.0)
    sent = harness.dispatches()[0].json["inputs"]["correlation_id"]
    message = str(error.value)
    assert sent in message, f"the error names the correlation id of the dispatched run: {message}"
    assert "cancel it" in message, message
    assert "actions/workflows/build-images.yml" in message, message


def test_a_failure_after_an_uncertain_dispatch_names_the_run_to_cancel(
    harness: Harness, emulator: GitHubEmulator
) -> None:
    emulator.inject("POST", r"/dispatches$", status=502)
    emulator.inject("GET", r"/workflows/[^/]+/runs$", status=503, times=100)
    with pytest.raises(ImageBuildError) as error:
        harness.create(timeoutSeconds=300.0)
    sent = harness.dispatches()[0].json["inputs"]["correlation_id"]
    assert sent in str(error.value), f"the error names the correlation id: {error.value}"
    assert "cancel it" in str(error.value)


@pytest.mark.parametrize("zone", ["UTC0", "JST-9", "PST8PDT"])
def test_an_http_date_is_gmt_whatever_the_local_time_zone(zone: str) -> None:
    # "-0000" leaves the parsed date without a zone; it must not be taken as local time.
    expected = datetime(2026, 12, 2, 1, 55, 41, tzinfo=UTC).timestamp()
    saved = os.environ.get("TZ")
    os.environ["TZ"] = zone
    time.tzset()
    try:
        for value in ("Wed, 02 Dec 2026 01:55:41 GMT", "Wed, 02 Dec 2026 01:55:41 -0000"):
            assert http_date(value) == expected, f"{value} read with TZ={zone}"
    finally:
        if saved is None:
            os.environ.pop("TZ", None)
        else:
            os.environ["TZ"] = saved
        time.tzset()


@pytest.mark.parametrize("value", [None, "", "yesterday", "Wed, 99 Foo 2026 25:61:61 GMT"])
def test_a_missing_or_unparsable_date_header_is_no_time(value: str | None) -> None:
    assert http_date(value) is None
