"""Workflow runs: dispatch (with GHES's refusal of `return_run_details`), lifecycle on the
emulator's clock, listing with GitHub's filters, cancel and jobs."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

from tests.github.emulator.model import (
    HTML_BASE,
    RunPlan,
    _Account,
    _Answer,
    _check_suite_id,
    _Commit,
    _Ctx,
    _HttpError,
    _Repo,
    _Run,
    _Workflow,
)
from tests.github.emulator.run_views import _RunViews


class _Runs(_RunViews):
    def plan_next_run(self, full_name: str, file_name: str, plan: RunPlan) -> None:
        with self._lock:
            self._workflow_or_error(full_name, file_name).plans.append(plan)

    def start_foreign_run(
        self,
        full_name: str,
        file_name: str,
        plan: RunPlan,
        inputs: dict[str, str],
        *,
        offset: float = 0.0,
    ) -> int:
        """A run somebody else dispatched, created `offset` seconds from now (may be negative).

        A run created in the future is invisible until the clock reaches it.
        """
        with self._lock:
            repo = self._repo_or_error(full_name)
            workflow = self._workflow_or_error(full_name, file_name)
            if "someone-else" not in self._accounts:
                self._accounts["someone-else"] = _Account(
                    "someone-else", "User", self._next_id(1_000_000), self.clock.time() - 86_400
                )
            run = self._create_run(
                repo,
                workflow,
                plan,
                dict(inputs),
                repo.default_branch,
                created_at=self.clock.time() + offset,
                actor="someone-else",
            )
            return run.id

    def set_run_status(
        self, full_name: str, run_id: int, status: str, conclusion: str = "success"
    ) -> None:
        """Play the runner for a run: "in_progress" from now on, or "completed" now.

        For tests that execute a run's jobs themselves (tests/ci); plan the run
        with a long `queued_for` so it waits in "queued" until started here.
        """
        if status not in ("in_progress", "completed"):
            raise ValueError(f"status {status!r}: use in_progress or completed")
        with self._lock:
            repo = self._repo_or_error(full_name)
            found = [r for r in self._runs if r.repo is repo and r.id == run_id]
            if not found:
                raise ValueError(f"{full_name} has no run {run_id}")
            run, elapsed = found[0], self.clock.time() - found[0].created_at
            if status == "in_progress":
                run.plan.queued_for = elapsed
                run.plan.duration = max(run.plan.duration, elapsed + 86_400.0)
            else:
                run.plan.queued_for = min(run.plan.queued_for, elapsed)
                run.plan.duration = elapsed
                run.plan.conclusion = conclusion

    def runs(self, full_name: str) -> list[dict[str, Any]]:
        """Current run objects of a repository (as GET would show them), newest first."""
        with self._lock:
            repo = self._repo_or_error(full_name)
            now = self.clock.time()
            self._settle(now)
            return [self._run_json(r, now) for r in self._visible_runs(repo, now)]

    def cancelled_run_ids(self) -> list[int]:
        with self._lock:
            return list(self._cancelled)

    def _create_run(
        self,
        repo: _Repo,
        workflow: _Workflow,
        plan: RunPlan,
        inputs: dict[str, str],
        branch: str,
        *,
        created_at: float,
        actor: str,
    ) -> _Run:
        workflow.run_count += 1
        run = _Run(
            id=self._next_id(20_000_000_000),
            repo=repo,
            workflow=workflow,
            run_number=workflow.run_count,
            inputs=inputs,
            branch=branch,
            head_sha=plan.built_sha or repo.branches[branch],
            created_at=created_at,
            plan=plan,
            actor=actor,
        )
        if run.head_sha not in repo.commits:
            repo.commits[run.head_sha] = _Commit(
                run.head_sha, f"Commit {run.head_sha[:7]}", created_at - 120, None
            )
        self._runs.append(run)
        return run

    def _visible_runs(self, repo: _Repo, now: float) -> list[_Run]:
        runs = [r for r in self._runs if r.repo is repo and r.created_at <= now]
        return sorted(runs, key=lambda r: (r.created_at, r.id), reverse=True)

    def _dispatch(self, ctx: _Ctx, owner: str, repo: str, workflow_id: str) -> _Answer:
        found = self._repo(owner, repo)
        workflow = self._workflow(found, workflow_id)
        body = ctx.body if isinstance(ctx.body, dict) else {}
        if "return_run_details" in body and self.return_run_details in ("reject_400", "reject_422"):
            # GitHub Enterprise Server before the feature knows no such field: 3.20 answers
            # 400, 3.19 was observed answering 422. No run is created.
            raise _HttpError(
                400 if self.return_run_details == "reject_400" else 422,
                'Invalid request.\n\n"return_run_details" is not a permitted key.',
            )
        ref = body.get("ref")
        if not isinstance(ref, str) or not ref:
            raise _HttpError(422, 'Invalid request.\n\n"ref" wasn\'t supplied.')
        inputs = body.get("inputs") or {}
        if not isinstance(inputs, dict):
            raise _HttpError(
                422, "Invalid request.\n\nFor 'properties/inputs', it is not an object."
            )
        unexpected = [name for name in inputs if name not in workflow.inputs]
        if unexpected:
            raise _HttpError(422, f"Unexpected inputs provided: {json.dumps(unexpected)}")
        branch = ref.removeprefix("refs/heads/")
        if branch not in found.branches:
            raise _HttpError(422, f"No ref found for: {ref}")
        plan = workflow.plans.popleft() if workflow.plans else RunPlan()
        run = self._create_run(
            found,
            workflow,
            plan,
            {str(k): str(v) for k, v in inputs.items()},
            branch,
            created_at=ctx.now,
            actor=self.authenticated_login or found.owner,
        )
        if body.get("return_run_details") is True and self.return_run_details == "supported":
            return _Answer(
                200,
                {
                    "workflow_run_id": run.id,
                    "run_url": f"{self._api}/repos/{found.full_name}/actions/runs/{run.id}",
                    "html_url": f"{HTML_BASE}/{found.full_name}/actions/runs/{run.id}",
                },
            )
        return _Answer(204)

    def _list_runs(
        self, ctx: _Ctx, owner: str, repo: str, workflow_id: str | None = None
    ) -> _Answer:
        found = self._repo(owner, repo)
        runs = self._visible_runs(found, ctx.now)
        if workflow_id is not None:
            workflow = self._workflow(found, workflow_id)
            runs = [r for r in runs if r.workflow is workflow]
        event, branch, status = ctx.q("event"), ctx.q("branch"), ctx.q("status")
        actor, head_sha, created = ctx.q("actor"), ctx.q("head_sha"), ctx.q("created")
        check_suite_id = ctx.q("check_suite_id")
        matching = []
        for run in runs:
            state = self._state(run, ctx.now)
            if event is not None and event != "workflow_dispatch":
                continue
            if branch is not None and branch != run.branch:
                continue
            if status is not None and status not in (state.status, state.conclusion):
                continue
            if actor is not None and actor.lower() != run.actor.lower():
                continue
            if head_sha is not None and head_sha != run.head_sha:
                continue
            if check_suite_id is not None and check_suite_id != str(_check_suite_id(run)):
                continue
            if created is not None and not _created_matches(created, run.created_at):
                continue
            matching.append(run)
        page, link = self._paginate(ctx, matching)
        return _Answer(
            200,
            {
                "total_count": len(matching),
                "workflow_runs": [self._run_json(r, ctx.now) for r in page],
            },
            link,
        )

    def _get_run(self, ctx: _Ctx, owner: str, repo: str, run_id: str) -> _Answer:
        found = self._repo(owner, repo)
        return _Answer(200, self._run_json(self._run(found, run_id, ctx.now), ctx.now))

    def _cancel_run(self, ctx: _Ctx, owner: str, repo: str, run_id: str) -> _Answer:
        found = self._repo(owner, repo)
        run = self._run(found, run_id, ctx.now)
        if self._state(run, ctx.now).status == "completed":
            raise _HttpError(409, "Cannot cancel a workflow run that is completed.")
        if run.cancel_requested_at is None:
            run.cancel_requested_at = ctx.now
            self._cancelled.append(run.id)
        return _Answer(202, {})

    def _list_jobs(self, ctx: _Ctx, owner: str, repo: str, run_id: str) -> _Answer:
        found = self._repo(owner, repo)
        jobs = self._jobs_json(self._run(found, run_id, ctx.now), ctx.now)
        page, link = self._paginate(ctx, jobs)
        return _Answer(200, {"total_count": len(jobs), "jobs": page}, link)


def _search_time(text: str, *, upper: bool) -> float:
    if "T" in text:
        return datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()
    day = datetime.fromisoformat(text).replace(tzinfo=UTC).timestamp()
    return day + 86_399 if upper else day


def _created_matches(expr: str, created_at: float) -> bool:
    """GitHub's search syntax for dates: D, >D, >=D, <D, <=D, A..B (with * for open ends)."""
    try:
        for op in (">=", "<=", ">", "<"):
            if expr.startswith(op):
                value = expr[len(op) :]
                if op == ">=":
                    return created_at >= _search_time(value, upper=False)
                if op == ">":
                    return created_at > _search_time(value, upper=True)
                if op == "<=":
                    return created_at <= _search_time(value, upper=True)
                return created_at < _search_time(value, upper=False)
        if ".." in expr:
            low, _, high = expr.partition("..")
            above = low == "*" or created_at >= _search_time(low, upper=False)
            below = high == "*" or created_at <= _search_time(high, upper=True)
            return above and below
        return (
            _search_time(expr, upper=False) <= created_at <= _search_time(expr, upper=True)
            if "T" not in expr
            else int(created_at) == int(_search_time(expr, upper=False))
        )
    except ValueError:
        return False  # GitHub answers an empty list for a date it cannot parse
