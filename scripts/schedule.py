"""Nightly stop: PR environments stop outside working hours and start again in the morning.

    python3 -m scripts.schedule        # prints what is due; switch=stop|start|none to GITHUB_OUTPUT
    python -m scripts.nightly --repo owner/name --action stop|start [--dry-run]

Repository variables (all optional; without PR_WORKING_HOURS the schedule is off):

- PR_WORKING_HOURS: `HH:MM-HH:MM`, e.g. `08:00-19:00`, in PR_TIME_ZONE;
- PR_WORKING_DAYS: e.g. `mon-fri` (the default) or `mon,tue,thu`;
- PR_TIME_ZONE: an IANA zone such as `Europe/Paris` (default `UTC`); daylight
  saving time is followed through zoneinfo.

nightly.yml runs this every hour. `auto` acts only when working time began or
ended within the last hour (the cron interval): at the start, every stopped
environment of an open PR starts; at the end, every running one stops. In
between nothing runs, so a push during the night (which deploys the PR
running) is not undone until the next evening. Skipped: PRs labelled
`keep-running`, environments the TTL stopped at the PR's current commit,
stacks some other run is working on, and stacks whose PR is not open.
"""

from __future__ import annotations

import argparse
import enum
import os
import re
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, time, timedelta
from pathlib import Path
from typing import TextIO
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

DAY_NAMES = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
CRON_INTERVAL = timedelta(hours=1)
"""How often nightly.yml runs; a transition is acted on by the first run after it."""
_HOURS_RE = re.compile(r"^([01]\d|2[0-3]):([0-5]\d)-([01]\d|2[0-3]):([0-5]\d)$")


class ScheduleError(ValueError):
    pass


class Switch(enum.Enum):
    STOP = "stop"
    START = "start"


@dataclass(frozen=True)
class WorkingHours:
    start: time
    end: time
    days: frozenset[int]
    """Weekdays, Monday = 0."""
    zone: ZoneInfo

    def working(self, when: datetime) -> bool:
        """Whether `when` (any time zone) is working time in this schedule's zone."""
        if when.tzinfo is None:
            raise ValueError("a schedule needs an aware datetime")
        local = when.astimezone(self.zone)
        return local.weekday() in self.days and self.start <= local.time() < self.end


def _days(value: str) -> frozenset[int]:
    text = value.strip().lower() or "mon-fri"
    days: set[int] = set()
    for part in text.split(","):
        ends = [p.strip() for p in part.split("-")]
        if len(ends) > 2 or any(e not in DAY_NAMES for e in ends):
            raise ScheduleError(
                f"repository variable PR_WORKING_DAYS is {value!r}: use day names "
                f"({', '.join(DAY_NAMES)}) separated by commas, or ranges like mon-fri"
            )
        first, last = DAY_NAMES.index(ends[0]), DAY_NAMES.index(ends[-1])
        if last < first:
            raise ScheduleError(f"PR_WORKING_DAYS range {part.strip()!r} runs backwards")
        days.update(range(first, last + 1))
    return frozenset(days)


def parse_schedule(env: Mapping[str, str]) -> WorkingHours | None:
    """The working hours the repository variables describe, or None when the schedule is off."""
    hours = env.get("PR_WORKING_HOURS", "").strip()
    if not hours or hours.lower() == "off":
        return None
    match = _HOURS_RE.fullmatch(hours)
    if not match:
        raise ScheduleError(
            f"repository variable PR_WORKING_HOURS is {hours!r}: use HH:MM-HH:MM (24-hour "
            "clock), e.g. 08:00-19:00, or leave it unset to turn the nightly stop off"
        )
    start = time(int(match[1]), int(match[2]))
    end = time(int(match[3]), int(match[4]))
    if end <= start:
        raise ScheduleError(
            f"PR_WORKING_HOURS {hours!r} ends before it starts: the end must be later the same day"
        )
    zone_name = env.get("PR_TIME_ZONE", "").strip() or "UTC"
    try:
        zone = ZoneInfo(zone_name)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise ScheduleError(
            f"repository variable PR_TIME_ZONE is {zone_name!r}, not an IANA time zone "
            "(e.g. Europe/Paris, America/New_York, UTC)"
        ) from exc
    return WorkingHours(start, end, _days(env.get("PR_WORKING_DAYS", "")), zone)


def due(hours: WorkingHours, now: datetime, interval: timedelta = CRON_INTERVAL) -> Switch | None:
    """The switch due at `now`: only if working time began or ended since `now - interval`."""
    working_now = hours.working(now)
    if working_now == hours.working(now - interval):
        return None
    return Switch.START if working_now else Switch.STOP


def resolve(action: str, env: Mapping[str, str], now: datetime, out: TextIO) -> Switch | None:
    """The switch to make now: `stop`/`start` as asked, or what the schedule says is due."""
    if action != "auto":
        return Switch(action)
    hours = parse_schedule(env)
    if hours is None:
        print("PR_WORKING_HOURS is not set: the nightly stop is off.", file=out)
        return None
    switch = due(hours, now)
    if switch is None:
        state = "working" if hours.working(now) else "outside working"
        print(f"{now.astimezone(hours.zone):%a %H:%M %Z}: {state} hours, no change due", file=out)
    return switch


def main(argv: Sequence[str] | None = None) -> int:
    """Standard library only, so the hourly check runs without `make setup`."""
    parser = argparse.ArgumentParser(description="Print which switch the schedule has due now.")
    parser.add_argument("--action", choices=("auto", "stop", "start"), default="auto")
    args = parser.parse_args(argv)
    try:
        switch = resolve(args.action, os.environ, datetime.now(UTC), sys.stdout)
    except ScheduleError as exc:
        print(f"::error title=Nightly schedule::{exc}", file=sys.stderr)
        return 1
    value = switch.value if switch else "none"
    print(f"due: {value}")
    output = os.environ.get("GITHUB_OUTPUT", "")
    if output:
        with Path(output).open("a", encoding="utf-8") as handle:
            handle.write(f"switch={value}\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
