"""The clocks the emulator and the code under test share."""

from __future__ import annotations

import pytest

from tests.github.clock import FakeClock, RealClock


def test_fake_sleep_returns_at_once_advancing_time_and_recording_it() -> None:
    clock = FakeClock(start=1_000.0)
    real = RealClock()
    began = real.monotonic()

    clock.sleep(600)

    assert clock.time() == 1_600.0
    assert clock.sleeps == [600.0]
    assert real.monotonic() - began < 1, "FakeClock.sleep waited in real time"


def test_fake_advance_moves_time_without_recording_a_sleep() -> None:
    clock = FakeClock(start=1_000.0)
    before = clock.monotonic()

    clock.advance(30)

    assert (clock.time(), clock.monotonic() - before, clock.sleeps) == (1_030.0, 30.0, [])


def test_fake_clock_refuses_to_go_back() -> None:
    clock = FakeClock()

    with pytest.raises(ValueError, match="cannot advance by -1"):
        clock.advance(-1)
    with pytest.raises(ValueError, match="non-negative"):
        clock.sleep(-1)
