"""Which workflow runs may be running Pulumi on a PR stack now, and waiting for them.

The runs are this repository's unfinished runs of pr-environment.yml (titled
with the stack by its run-name, RUN_TITLE), sweep.yml and nightly.yml. A run
never waits for a run queued behind it: runs of pr-environment.yml for the same
stack created after this one are in its queue (or are a destroy that waits for
this run), so they cannot hold the lock now. A lock taken outside this
repository's workflows (someone running `pulumi up --stack pr-12` by hand)
looks stale: PR stacks belong to CI.
"""

from __future__ import annotations

import math
import os
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, TextIO

from tenacity import RetryCallState, Retrying, retry_if_result, stop_after_attempt, wait_fixed

from scripts.github_api import GitHubApi, check_repository

PR_WORKFLOW = "pr-environment.yml"
SCHEDULED_WORKFLOWS = ("sweep.yml", "nightly.yml")
"""Workflows that run Pulumi on any PR stack."""
RUN_TITLE = "PR environment {stack}"
"""The run-name of pr-environment.yml: how a run of it names the stack it works on."""
RUN_LOOKBACK = timedelta(hours=24)
"""GitHub cancels a run that waits longer than this, so older runs are all completed."""


@dataclass(frozen=True)
class WorkflowRun:
    id: int
    workflow: str
    """File name of the workflow, e.g. pr-environment.yml."""
    event: str
    status: str
    title: str
    """The run's display title; pr-environment.yml puts its stack there (RUN_TITLE)."""
    created_at: str
    url: str = ""

    @classmethod
    def from_api(cls, raw: Mapping[str, Any]) -> WorkflowRun:
        path = str(raw.get("path") or "").split("@", 1)[0]
        return cls(
            id=int(raw["id"]),
            workflow=path.rsplit("/", 1)[-1],
            event=str(raw.get("event") or ""),
            status=str(raw.get("status") or ""),
            title=str(raw.get("display_title") or ""),
            created_at=str(raw.get("created_at") or ""),
            url=str(raw.get("html_url") or ""),
        )

    def describe(self) -> str:
        return f"{self.workflow} run {self.id} ({self.event}, {self.status}) {self.url}".strip()

    def names_stack(self, stack: str) -> bool:
        return stack.rsplit("/", 1)[-1] in self.title.split()


def live_runs(api: GitHubApi, repo: str, now: datetime) -> list[WorkflowRun]:
    """This repository's runs of the Pulumi workflows that have not completed."""
    since = (now - RUN_LOOKBACK).strftime("%Y-%m-%dT%H:%M:%SZ")
    runs = (
        WorkflowRun.from_api(raw)
        for raw in api.paginate(
            f"/repos/{check_repository(repo)}/actions/runs",
            {"created": f">={since}"},
            key="workflow_runs",
        )
    )
    return [
        r
        for r in runs
        if r.status != "completed" and r.workflow in (PR_WORKFLOW, *SCHEDULED_WORKFLOWS)
    ]


def holders(
    runs: Sequence[WorkflowRun],
    *,
    stack: str,
    own_run_id: int | None,
    own_workflow: str | None = None,
) -> list[WorkflowRun]:
    """The runs that may be running Pulumi on `stack` right now.

    Runs of pr-environment.yml count when their title names the stack and they
    were created before this run (`own_run_id`, found in `runs`): a newer one
    is queued behind this run, or is a destroy that waits for it. Every run of
    sweep.yml and nightly.yml counts, except other runs of `own_workflow` (the
    one asking): its Pulumi job is in one fixed concurrency group, so while
    this run works no other run of it can.
    """
    own = next((r for r in runs if r.id == own_run_id), None)
    return [
        run
        for run in runs
        if run.id != own_run_id
        and run.workflow != own_workflow
        and (
            run.workflow in SCHEDULED_WORKFLOWS
            or (run.workflow == PR_WORKFLOW and run.names_stack(stack) and _older(run, own))
        )
    ]


def _older(run: WorkflowRun, own: WorkflowRun | None) -> bool:
    if own is None:
        return True
    return (run.created_at, run.id) < (own.created_at, own.id)


def wait_for_holders(
    current: Callable[[], list[WorkflowRun]],
    *,
    timeout_seconds: float,
    poll_seconds: float,
    out: TextIO,
    sleep: Callable[[float], None] = time.sleep,
) -> list[WorkflowRun]:
    """Poll `current` until it is empty or the time is up; returns what still holds the stack."""

    def report(state: RetryCallState) -> None:
        assert state.outcome is not None
        for run in state.outcome.result():
            print(f"waiting for {run.describe()}", file=out, flush=True)

    attempts = max(1, math.ceil(timeout_seconds / poll_seconds) + 1)
    retrying = Retrying(
        stop=stop_after_attempt(attempts),
        wait=wait_fixed(poll_seconds),
        retry=retry_if_result(bool),
        after=report,
        sleep=sleep,
        retry_error_callback=lambda state: state.outcome.result() if state.outcome else [],
        reraise=True,
    )
    remaining: list[WorkflowRun] = retrying(current)
    return remaining


def run_holders(
    api: GitHubApi, repo: str, own_workflow: str | None = None
) -> Callable[[str], list[WorkflowRun]]:
    """`current(stack)`: the live runs of `repo` that may hold `stack` (this run left out)."""
    own = os.environ.get("GITHUB_RUN_ID", "")

    def current(stack: str) -> list[WorkflowRun]:
        runs = live_runs(api, repo, datetime.now(UTC))
        return holders(
            runs, stack=stack, own_run_id=int(own) if own else None, own_workflow=own_workflow
        )

    return current
