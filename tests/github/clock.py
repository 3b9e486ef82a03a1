"""Clocks shared by the GitHub API emulator and the code under test.

The emulator derives every run's status from its clock, so a test that hands
the same `FakeClock` to the client sees a 10-minute build finish in no real
time: the client's `sleep` advances the clock the emulator reads.
"""

from __future__ import annotations

import heapq
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


class SkewedClock:
    """A machine whose wall clock is `offset` seconds off the shared (GitHub's) clock."""

    def __init__(self, inner: FakeClock, offset: float) -> None:
        self._inner = inner
        self._offset = offset

    def time(self) -> float:
        return self._inner.time() + self._offset

    def monotonic(self) -> float:
        return self._inner.monotonic()

    def sleep(self, seconds: float) -> None:
        self._inner.sleep(seconds)

    def __repr__(self) -> str:
        return f"SkewedClock(offset={self._offset:+.0f})"


class ConcurrentClock(FakeClock):
    """Virtual time for several threads at once (a discrete-event simulation).

    Each thread that sleeps on it must `join()` first and `leave()` when done. Time moves
    only when every joined thread sleeps; then the earliest wake-up runs. So 20 builds
    waiting side by side take the virtual time they would take in parallel, however the
    threads are scheduled for real.
    """

    def __init__(self, start: float = 1_780_000_000.0) -> None:
        super().__init__(start)
        self._turn = threading.Condition()
        self._active = 0
        self._sleepers: list[tuple[float, int]] = []
        self._tickets = 0

    def join(self) -> None:
        with self._turn:
            self._active += 1

    def leave(self) -> None:
        with self._turn:
            self._active -= 1
            self._turn.notify_all()

    def sleep(self, seconds: float) -> None:
        if seconds < 0:
            raise ValueError(f"sleep length must be non-negative, got {seconds}")
        with self._turn:
            self._tickets += 1
            ticket = (self.time() + seconds, self._tickets)
            heapq.heappush(self._sleepers, ticket)
            with self._lock:
                self.sleeps.append(float(seconds))
            self._turn.notify_all()  # the earliest sleeper may now be the one to wake
            while not (len(self._sleepers) >= self._active and self._sleepers[0] == ticket):
                self._turn.wait()
            heapq.heappop(self._sleepers)
            with self._lock:
                self._now = max(self._now, ticket[0])
            self._turn.notify_all()
