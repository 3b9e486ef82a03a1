"""Smoke test of bench/imagebuild.py: its baseline is faithful and its counters work.

It times nothing: the benchmark's numbers come from `make bench` only.
"""

from __future__ import annotations

from bench import imagebuild


def test_seed_baseline_gives_up_at_400_seconds_on_a_long_build() -> None:
    result = imagebuild.run_seed_strategy(600.0)
    assert result.outcome == "gave up at 400 s", result
    assert result.delay is None


def test_seed_baseline_takes_the_newest_run_whoever_started_it() -> None:
    result = imagebuild.run_seed_strategy(60.0, foreign_after=3.0)
    assert result.run_correct is False, "the seed strategy reads workflow_runs[0]"


def test_bench_provider_run_takes_its_own_run_and_counts_requests() -> None:
    result = imagebuild.run_provider(60.0, 0, foreign_after=3.0)
    assert result.run_correct is True
    assert result.outcome == "success"
    assert 0 < result.rate_limited <= result.requests


def test_bench_counts_zero_calls_for_a_no_change_up() -> None:
    assert imagebuild.calls_for_no_change_up() == 0


def test_bench_twenty_environments_each_take_their_own_run_within_the_budget() -> None:
    counted, _total, own = imagebuild.run_many_environments(20)
    assert own, "each of the 20 environments must get its own run"
    assert counted < 120, f"20 builds spent {counted} rate-limited requests (budget: under 120)"


def test_bench_a_build_costs_at_most_five_rate_limited_requests() -> None:
    for duration in (60.0, 600.0):
        measured = imagebuild.run_provider(duration, 0)
        assert measured.rate_limited <= 5, f"a {duration:.0f} s build: {measured}"
