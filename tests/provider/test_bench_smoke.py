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
