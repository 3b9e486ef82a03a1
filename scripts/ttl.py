"""Time-to-live of PR environments: stop after N days without a push, destroy after M.

The sweep applies this to every stack whose pull request is open. The days
come from the repository variables PR_STOP_AFTER_DAYS (default 7) and
PR_DESTROY_AFTER_DAYS (default 21); `0` turns that step off. A pull request
labelled `keep-running` is never stopped, but is still destroyed after M days
without a push. "Last push" is the later of the head commit's committer date
and the newest pr-environment.yml run for that commit whose deploy job ran
(GitHubPrLookup.last_push).

Before each step the PR gets a comment (one per PR, edited in place), which
also records the step and the head commit it applied to. That record is how
a later sweep knows the environment is already stopped, and how the nightly
start knows to leave it stopped; a push changes the head commit and so ends it.
"""

from __future__ import annotations

import enum
import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta

from scripts.labels import KEEP_RUNNING_LABEL

MARKER = "<!-- tims-stack:ttl -->"
_STATE_RE = re.compile(r"<!-- tims-stack:ttl-state (stopped|destroyed) ([0-9a-f]{7,40}) -->")
DEFAULT_STOP_DAYS = 7
DEFAULT_DESTROY_DAYS = 21


class TtlAction(enum.Enum):
    NONE = "none"
    STOP = "stop"
    DESTROY = "destroy"


class TtlConfigError(ValueError):
    pass


@dataclass(frozen=True)
class TtlPolicy:
    stop_after_days: int
    """0: never stopped for age."""
    destroy_after_days: int
    """0: never destroyed for age."""

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> TtlPolicy:
        stop = _days(env, "PR_STOP_AFTER_DAYS", DEFAULT_STOP_DAYS)
        destroy = _days(env, "PR_DESTROY_AFTER_DAYS", DEFAULT_DESTROY_DAYS)
        if stop and destroy and destroy <= stop:
            raise TtlConfigError(
                f"PR_DESTROY_AFTER_DAYS ({destroy}) must be more than PR_STOP_AFTER_DAYS "
                f"({stop}), or 0 to never destroy for age"
            )
        return cls(stop, destroy)


def _days(env: Mapping[str, str], name: str, default: int) -> int:
    raw = env.get(name, "").strip()
    if not raw:
        return default
    if not raw.isdigit() or int(raw) > 365:
        raise TtlConfigError(
            f"repository variable {name} is {raw!r}: use a whole number of days from 0 "
            f"(off) to 365; unset means {default}"
        )
    return int(raw)


@dataclass(frozen=True)
class TtlState:
    step: TtlAction
    head_sha: str


def recorded_state(body: str) -> TtlState | None:
    """The step and head commit the TTL comment recorded, if any."""
    match = _STATE_RE.search(body)
    if not match:
        return None
    return TtlState(TtlAction.STOP if match.group(1) == "stopped" else TtlAction.DESTROY, match[2])


def decide(
    policy: TtlPolicy,
    *,
    last_push: datetime,
    now: datetime,
    labels: frozenset[str],
    head_sha: str,
    recorded: TtlState | None,
) -> TtlAction:
    """What the sweep does to the environment of an open PR."""
    idle = now - last_push
    if policy.destroy_after_days and idle >= timedelta(days=policy.destroy_after_days):
        return TtlAction.DESTROY
    if not policy.stop_after_days or idle < timedelta(days=policy.stop_after_days):
        return TtlAction.NONE
    if KEEP_RUNNING_LABEL in labels:
        return TtlAction.NONE
    if recorded is not None and recorded.head_sha == head_sha:
        return TtlAction.NONE  # already stopped (or destroyed) at this commit
    return TtlAction.STOP


def stopped_by_ttl(body: str | None, head_sha: str) -> bool:
    """Whether the TTL stopped or destroyed the environment at the PR's current head."""
    state = recorded_state(body or "")
    return state is not None and state.head_sha == head_sha


def comment_body(
    action: TtlAction, *, stack: str, policy: TtlPolicy, last_push: datetime, head_sha: str
) -> str:
    """The PR comment posted right before the step."""
    day = last_push.date().isoformat()
    if action is TtlAction.STOP:
        word = "stopped"
        text = (
            f"No push to this PR since {day} ({policy.stop_after_days} days or more), so its "
            f"environment `{stack}` is being **stopped**: every workload scales to zero, the "
            "data is kept. Push a commit to start it again, or add the "
            f"`{KEEP_RUNNING_LABEL}` label to keep it running."
        )
        if policy.destroy_after_days:
            text += (
                f" Without a push it is destroyed {policy.destroy_after_days} days after the "
                "last one."
            )
    elif action is TtlAction.DESTROY:
        word = "destroyed"
        text = (
            f"No push to this PR since {day} ({policy.destroy_after_days} days or more), so "
            f"its environment `{stack}` is being **destroyed** and its stack removed, data "
            "included. The next push deploys a new one."
        )
    else:
        raise ValueError(f"no comment for {action}")
    return f"{MARKER}\n<!-- tims-stack:ttl-state {word} {head_sha} -->\n{text}\n"
