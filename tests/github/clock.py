"""Clocks shared by the GitHub API emulator and the code under test.

The emulator derives every run's status from its clock, so a test that hands
the same `FakeClock` to the client sees a 10-minute build finish in no real
time: the client's `sleep` advances the clock the emulator reads.
"""

from __future__ import annotations

import threading
import time


class FakeClock:
    """Virtual time: `sleep` returns at once and moves time forward."""

    def __init__(self, start: float = 1_780_000_000.0) -> None:
        self._lock = threading.Lock()
        self._now = float(start)
        # monotonic() starts elsewhere than time(), like the real clocks, so code
        # that mixes the two up gets wrong answers in tests too.
        self._monotonic_offset = 1_000.0 - float(start)
        self.sleeps: list[float] = []

    def time(self) -> float:
        """Wall clock, epoch seconds."""
        with self._lock:
            return self._now

    def monotonic(self) -> float:
        with self._lock:
            return self._now + self._monotonic_offset

    def sleep(self, seconds: float) -> None:
        """Advance time by `seconds` at once and record the sleep."""
        if seconds < 0:
            raise ValueError(f"sleep length must be non-negative, got {seconds}")
        with self._lock:
            self.sleeps.append(float(seconds))
            self._now += float(seconds)

    def advance(self, seconds: float) -> None:
        """Move time forward without recording a sleep (time passing elsewhere)."""
        if seconds < 0:
            raise ValueError(f"time only moves forward; cannot advance by {seconds}")
        with self._lock:
            self._now += float(seconds)

    def __repr__(self) -> str:
        return f"FakeClock(now={self.time():.3f}, sleeps={len(self.sleeps)})"


class RealClock:
    """The time module, for an emulator talking to another process."""

    def time(self) -> float:
        return time.time()

    def monotonic(self) -> float:
        return time.monotonic()

    def sleep(self, seconds: float) -> None:
        time.sleep(seconds)

    def __repr__(self) -> str:
        return "RealClock()"
