"""The nightly schedule: working hours in a time zone, and what a run stops or starts."""

from __future__ import annotations

import io
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from scripts.lock_holders import WorkflowRun
from scripts.nightly import NightlyError, switch_environments
from scripts.orphans import PrState, PullRequest
from scripts.pr_checkout import CheckoutError, NotDeployed
from scripts.schedule import ScheduleError, Switch, WorkingHours, due, parse_schedule, resolve
from scripts.sweep import CommandError
from scripts.ttl import TtlAction, TtlPolicy, comment_body

PARIS = ZoneInfo("Europe/Paris")
OFFICE = {"PR_WORKING_HOURS": "08:00-19:00", "PR_TIME_ZONE": "Europe/Paris"}


def hours(env: dict[str, str] = OFFICE) -> WorkingHours:
    parsed = parse_schedule(env)
    assert parsed is not None
    return parsed


def paris(year: int, month: int, day: int, hour: int, minute: int) -> datetime:
    return datetime(year, month, day, hour, minute, tzinfo=PARIS)


# --------------------------------------------------------------------------- parsing


@pytest.mark.parametrize("value", ["", "off", "  "])
def test_schedule_is_off_without_working_hours(value: str) -> None:
    assert parse_schedule({"PR_WORKING_HOURS": value}) is None


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"PR_WORKING_HOURS": "8-19"}, "PR_WORKING_HOURS is '8-19'"),
        ({"PR_WORKING_HOURS": "19:00-08:00"}, "ends before it starts"),
        ({**OFFICE, "PR_TIME_ZONE": "Paris"}, "PR_TIME_ZONE is 'Paris'"),
        ({**OFFICE, "PR_WORKING_DAYS": "mon-friday"}, "PR_WORKING_DAYS is 'mon-friday'"),
        ({**OFFICE, "PR_WORKING_DAYS": "fri-mon"}, "runs backwards"),
    ],
)
def test_bad_schedule_variables_are_named(env: dict[str, str], message: str) -> None:
    with pytest.raises(ScheduleError, match=message):
        parse_schedule(env)


def test_days_default_to_monday_to_friday_and_accept_lists() -> None:
    assert hours().days == frozenset(range(5))
    assert hours({**OFFICE, "PR_WORKING_DAYS": "mon,wed-thu"}).days == {0, 2, 3}


def test_zone_defaults_to_utc() -> None:
    assert hours({"PR_WORKING_HOURS": "08:00-19:00"}).zone == ZoneInfo("UTC")


# --------------------------------------------------------------------------- time zones


def test_working_hours_follow_daylight_saving_time() -> None:
    office = hours()
    # 08:30 in Paris is 07:30 UTC in winter (CET) and 06:30 UTC in summer (CEST).
    assert office.working(datetime(2026, 12, 7, 7, 30, tzinfo=UTC))
    assert not office.working(datetime(2026, 12, 7, 6, 30, tzinfo=UTC))
    assert office.working(datetime(2026, 7, 6, 6, 30, tzinfo=UTC))


def test_naive_times_are_refused() -> None:
    with pytest.raises(ValueError, match="aware"):
        hours().working(datetime(2026, 12, 7, 8, 30))


# --------------------------------------------------------------------------- transitions


@pytest.mark.parametrize(
    ("when", "expected"),
    [
        (paris(2026, 12, 7, 8, 7), Switch.START),  # Monday morning
        (paris(2026, 12, 7, 19, 7), Switch.STOP),  # Monday evening
        (paris(2026, 12, 7, 12, 7), None),  # during the day
        (paris(2026, 12, 7, 23, 7), None),  # during the night
        (paris(2026, 12, 11, 19, 7), Switch.STOP),  # Friday evening
        (paris(2026, 12, 12, 8, 7), None),  # Saturday: no start
        (paris(2026, 12, 7, 8, 59), Switch.START),  # a late cron run still starts
    ],
)
def test_a_switch_is_due_only_right_after_working_time_begins_or_ends(
    when: datetime, expected: Switch | None
) -> None:
    assert due(hours(), when.astimezone(UTC)) is expected


def test_the_start_after_the_spring_clock_change_is_at_local_time() -> None:
    every_day = hours({**OFFICE, "PR_WORKING_DAYS": "mon-sun"})
    # 2026-03-29: Paris moves to CEST; 08:07 local is 06:07 UTC, no longer 07:07.
    assert due(every_day, datetime(2026, 3, 29, 6, 7, tzinfo=UTC)) is Switch.START
    assert due(every_day, datetime(2026, 3, 29, 7, 7, tzinfo=UTC)) is None


def test_manual_actions_bypass_the_schedule() -> None:
    out = io.StringIO()
    assert resolve("stop", {}, datetime(2026, 12, 7, 12, tzinfo=UTC), out) is Switch.STOP
    assert resolve("auto", {}, datetime(2026, 12, 7, 12, tzinfo=UTC), out) is None
    assert "nightly stop is off" in out.getvalue()


# --------------------------------------------------------------------------- acting


def pr(number: int, *, state: PrState = PrState.OPEN, labels: Sequence[str] = ()) -> PullRequest:
    return PullRequest(number, state, f"branch-{number}", f"{number:040x}", frozenset(labels))


PR_CHECKOUTS = Path("/runner/temp/tims-stack-prs")


class Recorder:
    def __init__(
        self,
        fail_on: str | None = None,
        no_checkout: int | None = None,
        not_deployed: int | None = None,
    ) -> None:
        self.commands: list[list[str]] = []
        self.prepared: list[tuple[str, str, Path]] = []
        self.fail_on = fail_on
        self.no_checkout = no_checkout
        self.not_deployed = not_deployed

    def __call__(self, command: Sequence[str]) -> str:
        self.commands.append(list(command))
        if self.fail_on and self.fail_on in command and command[1] == "up":
            raise CommandError(f"`{' '.join(command)}` exited with status 255")
        return ""

    def checkout(self, pull: PullRequest) -> Path:
        if pull.number == self.no_checkout:
            raise CheckoutError(f"cannot fetch commit {pull.head_sha}")
        if pull.number == self.not_deployed:
            raise NotDeployed(f"PR #{pull.number}'s newest commit has no successful deploy")
        return PR_CHECKOUTS / f"pr-{pull.number}"

    def prepare(self, stack: str, ref: str, directory: Path) -> None:
        self.prepared.append((stack, ref, directory))


def switch(
    stacks: Sequence[str],
    action: Switch,
    pulls: dict[int, PullRequest],
    *,
    ttl: dict[int, str] | None = None,
    busy: dict[int, list[WorkflowRun]] | None = None,
    recorder: Recorder | None = None,
    dry_run: bool = False,
) -> tuple[list[str], Recorder, str]:
    recorder = recorder or Recorder()
    out = io.StringIO()
    done = switch_environments(
        stacks,
        action,
        pull=pulls.get,
        ttl_comment=(ttl or {}).get,
        busy=lambda p: (busy or {}).get(p.number, []),
        run=recorder,
        checkout=recorder.checkout,
        prepare=recorder.prepare,
        build_ref="",
        dry_run=dry_run,
        out=out,
    )
    return done, recorder, out.getvalue()


def test_stop_sets_the_programs_stopped_key_then_runs_up() -> None:
    done, recorder, _ = switch(["pr-1", "dev"], Switch.STOP, {1: pr(1)})
    assert done == ["pr-1"]
    here = ["--cwd", str(PR_CHECKOUTS / "pr-1")]
    assert recorder.prepared == [("pr-1", "branch-1", PR_CHECKOUTS / "pr-1")]
    assert recorder.commands == [
        ["pulumi", "config", "set", "--stack", "pr-1", "tims-stack:stopped", "true", *here],
        ["pulumi", "up", "--stack", "pr-1", "--yes", "--non-interactive", "--skip-preview", *here],
    ]


def test_the_switch_runs_the_prs_own_program_not_the_default_branchs() -> None:
    # The scheduled run checks out main; main's `up` would undo what the PR deployed.
    _, recorder, _ = switch(["pr-1", "pr-2"], Switch.STOP, {1: pr(1), 2: pr(2)})
    for command in recorder.commands:
        stack = command[command.index("--stack") + 1]
        assert command[-2:] == ["--cwd", str(PR_CHECKOUTS / stack)], (
            f"`{' '.join(command)}` does not run {stack}'s own program"
        )
    assert [p[2] for p in recorder.prepared] == [PR_CHECKOUTS / "pr-1", PR_CHECKOUTS / "pr-2"]


def test_a_pr_whose_program_cannot_be_checked_out_is_not_switched() -> None:
    recorder = Recorder(no_checkout=1)
    with pytest.raises(NightlyError, match="could not stop: pr-1"):
        switch(["pr-1", "pr-2"], Switch.STOP, {1: pr(1), 2: pr(2)}, recorder=recorder)
    assert {c[c.index("--stack") + 1] for c in recorder.commands} == {"pr-2"}


def test_start_sets_stopped_false() -> None:
    _, recorder, _ = switch(["pr-1"], Switch.START, {1: pr(1)})
    assert recorder.commands[0][5:7] == ["tims-stack:stopped", "false"]


def test_keep_running_label_is_left_alone() -> None:
    done, recorder, out = switch(["pr-1"], Switch.STOP, {1: pr(1, labels=["keep-running"])})
    assert (done, recorder.commands) == ([], [])
    assert "labelled keep-running -> skip" in out


def test_start_leaves_an_environment_the_ttl_stopped() -> None:
    body = comment_body(
        TtlAction.STOP,
        stack="pr-1",
        policy=TtlPolicy(7, 21),
        last_push=datetime(2026, 11, 1, tzinfo=UTC),
        head_sha=pr(1).head_sha,
    )
    done, recorder, out = switch(["pr-1"], Switch.START, {1: pr(1)}, ttl={1: body})
    assert (done, recorder.commands) == ([], [])
    assert "TTL stopped it" in out


@pytest.mark.parametrize("state", [PrState.CLOSED, None])
def test_stacks_of_prs_not_open_are_left_to_the_sweep(state: PrState | None) -> None:
    pulls = {} if state is None else {1: pr(1, state=state)}
    done, recorder, _ = switch(["pr-1"], Switch.STOP, pulls)
    assert (done, recorder.commands) == ([], [])


def test_a_stack_another_run_works_on_is_skipped() -> None:
    live = WorkflowRun(
        5, "pr-environment.yml", "pull_request", "in_progress", "PR environment pr-1", ""
    )
    done, recorder, out = switch(["pr-1"], Switch.STOP, {1: pr(1)}, busy={1: [live]})
    assert (done, recorder.commands) == ([], [])
    assert "run 5" in out


def test_dry_run_changes_nothing() -> None:
    done, recorder, out = switch(["pr-1"], Switch.STOP, {1: pr(1)}, dry_run=True)
    assert (done, recorder.commands, recorder.prepared) == ([], [], [])
    assert "would run: pulumi config set --stack pr-1 tims-stack:stopped true" in out


def test_a_failed_stack_does_not_stop_the_others_but_fails_the_run() -> None:
    recorder = Recorder(fail_on="pr-1")
    with pytest.raises(NightlyError, match="could not stop: pr-1"):
        switch(["pr-1", "pr-2"], Switch.STOP, {1: pr(1), 2: pr(2)}, recorder=recorder)
    assert ["pulumi", "config", "set", "--stack", "pr-2"] in [c[:5] for c in recorder.commands]


def test_a_pr_whose_newest_commit_was_not_deployed_is_skipped_not_failed() -> None:
    # Its program has not passed the environment's gate: it is not run, and the
    # nightly run stays green (the PR's own failed or pending deploy says why).
    recorder = Recorder(not_deployed=1)
    done, _, out = switch(["pr-1", "pr-2"], Switch.STOP, {1: pr(1), 2: pr(2)}, recorder=recorder)
    assert done == ["pr-2"]
    assert {c[c.index("--stack") + 1] for c in recorder.commands} == {"pr-2"}
    assert "pr-1: PR #1's newest commit has no successful deploy -> skip" in out


def test_a_switched_environment_is_shown_in_its_pr_comment() -> None:
    from scripts.nightly import say_switched

    edits: list[str] = []
    outputs = '{"url": "https://backend-pr-1.example.com"}'
    say_switched("pr-1", Switch.STOP, lambda command: outputs, edits.append)
    say_switched("pr-1", Switch.START, lambda command: outputs, edits.append)
    assert "**Stopped**" in edits[0]
    assert "**Stopped**" not in edits[1]
    assert all("https://backend-pr-1.example.com" in body for body in edits)


def test_a_comment_that_cannot_be_updated_does_not_fail_the_switch(
    capsys: pytest.CaptureFixture[str],
) -> None:
    from scripts.nightly import say_switched
    from scripts.pulumi_cli import CommandError

    def broken(command: object) -> str:
        raise CommandError("no outputs")

    say_switched("pr-1", Switch.STOP, broken, lambda body: None)
    assert "switched, but its PR comment was not updated" in capsys.readouterr().out
