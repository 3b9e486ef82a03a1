"""JSON shapes of workflow runs, their jobs and steps (timing derived from the RunPlan)."""

from __future__ import annotations

from typing import Any

from tests.github.emulator.model import (
    _FAILING_STEP,
    _RUN_NAME_EXPR,
    DEFAULT_JOBS,
    DEFAULT_STEPS,
    HTML_BASE,
    _check_suite_id,
    _fake_sha,
    _JobTiming,
    _node_id,
    _Run,
    _RunState,
    iso,
)
from tests.github.emulator.repos import _Repos


class _RunViews(_Repos):
    def _run_json(self, run: _Run, now: float) -> dict[str, Any]:
        state = self._state(run, now)
        repo = run.repo
        base = f"{self._api}/repos/{repo.full_name}"
        url = f"{base}/actions/runs/{run.id}"
        commit = repo.commits[run.head_sha]
        owner = self._accounts[repo.owner.lower()]
        actor = self._simple_user(self._accounts[run.actor.lower()])
        check_suite_id = _check_suite_id(run)
        return {
            "id": run.id,
            "name": run.workflow.name,
            "node_id": _node_id("WFR", run.id),
            "head_branch": run.branch,
            "head_sha": run.head_sha,
            "path": f".github/workflows/{run.workflow.file_name}",
            "display_title": self._display_title(run),
            "run_number": run.run_number,
            "event": "workflow_dispatch",
            "status": state.status,
            "conclusion": state.conclusion,
            "workflow_id": run.workflow.id,
            "check_suite_id": check_suite_id,
            "check_suite_node_id": _node_id("CS", check_suite_id),
            "url": url,
            "html_url": f"{HTML_BASE}/{repo.full_name}/actions/runs/{run.id}",
            "pull_requests": [],
            "created_at": iso(run.created_at),
            "updated_at": iso(state.updated_at),
            "actor": actor,
            "triggering_actor": actor,
            "run_attempt": 1,
            "referenced_workflows": [],
            "run_started_at": iso(run.created_at),
            "jobs_url": f"{url}/jobs",
            "logs_url": f"{url}/logs",
            "check_suite_url": f"{base}/check-suites/{check_suite_id}",
            "artifacts_url": f"{url}/artifacts",
            "cancel_url": f"{url}/cancel",
            "rerun_url": f"{url}/rerun",
            "previous_attempt_url": None,
            "workflow_url": f"{base}/actions/workflows/{run.workflow.id}",
            "head_commit": {
                "id": commit.sha,
                "tree_id": _fake_sha(commit.sha, "tree"),
                "message": commit.message,
                "timestamp": iso(commit.timestamp),
                "author": {
                    "name": owner.login.capitalize(),
                    "email": f"{owner.login}@users.noreply.github.com",
                },
                "committer": {"name": "GitHub", "email": "noreply@github.com"},
            },
            "repository": self._minimal_repo(repo),
            "head_repository": self._minimal_repo(repo),
        }

    def _display_title(self, run: _Run) -> str:
        template = run.workflow.run_name
        if template is None:
            return run.workflow.name
        return _RUN_NAME_EXPR.sub(lambda m: run.inputs.get(m.group(1), ""), template)

    def _jobs_json(self, run: _Run, now: float) -> list[dict[str, Any]]:
        plan = run.plan
        names = list(plan.jobs) if plan.jobs is not None else list(DEFAULT_JOBS)
        names += [name for name in plan.failed_jobs if name not in names]
        failed = dict(plan.failed_jobs)
        if plan.conclusion in ("failure", "timed_out") and not failed and names:
            failed = {names[0]: [_FAILING_STEP]}
        base = f"{self._api}/repos/{run.repo.full_name}"
        html = f"{HTML_BASE}/{run.repo.full_name}/actions/runs/{run.id}"
        jobs = []
        for index, name in enumerate(names):
            job_id = run.id * 10 + index + 1_000_000_000_000
            steps = list(DEFAULT_STEPS)
            for step in failed.get(name, []):
                if step not in steps:
                    steps.insert(len(steps) - 1, step)
            failing = plan.conclusion in ("failure", "timed_out") and name in failed
            timing = self._job_timing(run, steps, failed.get(name, []) if failing else [])
            if now >= timing.ends:
                status, conclusion = "completed", timing.conclusion
            elif now >= timing.starts:
                status, conclusion = "in_progress", None
            else:
                status, conclusion = "queued", None
            assigned = status != "queued"
            jobs.append(
                {
                    "id": job_id,
                    "run_id": run.id,
                    "workflow_name": run.workflow.name,
                    "head_branch": run.branch,
                    "run_url": f"{base}/actions/runs/{run.id}",
                    "run_attempt": 1,
                    "node_id": _node_id("CR", job_id),
                    "head_sha": run.head_sha,
                    "url": f"{base}/actions/jobs/{job_id}",
                    "html_url": f"{html}/job/{job_id}",
                    "status": status,
                    "conclusion": conclusion,
                    "created_at": iso(run.created_at),
                    # GitHub reports the creation time until a runner picks the job up.
                    "started_at": iso(
                        min(timing.starts, timing.ends) if assigned else run.created_at
                    ),
                    "completed_at": iso(timing.ends) if status == "completed" else None,
                    "name": name,
                    "steps": self._steps_json(steps, timing, status, now),
                    "check_run_url": f"{base}/check-runs/{job_id}",
                    "labels": ["ubuntu-latest"],
                    "runner_id": 4 if assigned else None,
                    "runner_name": "GitHub Actions 4" if assigned else None,
                    "runner_group_id": 1 if assigned else None,
                    "runner_group_name": "GitHub Actions" if assigned else None,
                }
            )
        return jobs

    def _job_timing(self, run: _Run, steps: list[str], failed_steps: list[str]) -> _JobTiming:
        """When a job starts and ends, and how: a job with failed steps stops after
        the last of them; a cancel request stops every job still running."""
        plan = run.plan
        starts = run.created_at + plan.queued_for
        slot = (plan.duration - plan.queued_for) / len(steps)
        failed_at = {steps.index(step) for step in failed_steps}
        if failed_at:
            ends, conclusion = starts + slot * (max(failed_at) + 1), plan.conclusion
        else:
            ends = run.created_at + plan.duration
            conclusion = "cancelled" if plan.conclusion == "cancelled" else "success"
        if run.cancel_requested_at is not None:
            cancel_done = run.cancel_requested_at + self.cancel_latency
            if cancel_done < ends:
                # Cancelled before its failing step ended: nothing failed.
                ends, conclusion, failed_at = cancel_done, "cancelled", set()
        return _JobTiming(starts, ends, conclusion, slot, failed_at)

    def _steps_json(
        self, names: list[str], timing: _JobTiming, job_status: str, now: float
    ) -> list[dict[str, Any]]:
        last_failed = max(timing.failed_at, default=None)
        steps = []
        for index, name in enumerate(names):
            planned_start = timing.starts + timing.slot * index
            planned_end = planned_start + timing.slot
            final = index == len(names) - 1
            started: str | None = iso(min(planned_start, timing.ends))
            completed: str | None = iso(min(planned_end, timing.ends))
            status = "completed"
            conclusion: str | None
            if job_status == "completed":
                if final:
                    # "Complete job" runs whatever happened before it.
                    conclusion = "success"
                    started = completed = iso(max(timing.ends - 1, min(planned_start, timing.ends)))
                elif index in timing.failed_at:
                    conclusion = "failure"
                elif (last_failed is not None and index > last_failed) or (
                    timing.conclusion == "cancelled" and planned_start >= timing.ends
                ):
                    conclusion = "skipped"
                elif timing.conclusion == "cancelled" and planned_end > timing.ends:
                    conclusion = "cancelled"
                else:
                    conclusion = "success"
            elif job_status == "in_progress" and now >= planned_end:
                conclusion = "success"
            elif job_status == "in_progress" and now >= planned_start:
                status, conclusion, completed = "in_progress", None, None
            else:
                status, conclusion, started, completed = "queued", None, None, None
            steps.append(
                {
                    "name": name,
                    "status": status,
                    "conclusion": conclusion,
                    "number": index + 1,
                    "started_at": started,
                    "completed_at": completed,
                }
            )
        return steps

    def _state(self, run: _Run, now: float) -> _RunState:
        plan = run.plan
        started = run.created_at + plan.queued_for
        ends = run.created_at + plan.duration
        conclusion = plan.conclusion
        if run.cancel_requested_at is not None:
            cancel_done = run.cancel_requested_at + self.cancel_latency
            if cancel_done < ends:
                ends, conclusion = cancel_done, "cancelled"
        if now >= ends:
            return _RunState("completed", conclusion, ends, min(started, ends), ends)
        touched = max(run.cancel_requested_at or 0.0, run.created_at)
        if now >= started:
            return _RunState("in_progress", None, max(started, touched), started, ends)
        return _RunState("queued", None, touched, started, ends)
