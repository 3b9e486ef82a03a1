"""Typed views and calls of the GitHub Actions REST endpoints the provider uses."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

from .base import GitHubApiError
from .rest import GitHubClient

# GitHub Enterprise Server before run details answers 400 (3.20) or 422 (3.19) with these
# words, and starts no run: https://github.com/github/gh-aw/pull/19414 handles it alike.
_RUN_DETAILS_REFUSAL = "return_run_details"


@dataclass(frozen=True)
class WorkflowRun:
    id: int
    name: str
    display_title: str
    status: str
    conclusion: str | None
    html_url: str
    head_sha: str

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> WorkflowRun:
        return cls(
            id=int(data["id"]),
            name=str(data.get("name") or ""),
            display_title=str(data.get("display_title") or ""),
            status=str(data.get("status") or ""),
            conclusion=data.get("conclusion"),
            html_url=str(data.get("html_url") or ""),
            head_sha=str(data.get("head_sha") or ""),
        )

    def carries(self, correlation_id: str) -> bool:
        return correlation_id in self.display_title or correlation_id in self.name


@dataclass(frozen=True)
class Job:
    name: str
    conclusion: str | None
    failed_steps: tuple[str, ...]

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Job:
        return cls(
            name=str(data.get("name") or ""),
            conclusion=data.get("conclusion"),
            failed_steps=tuple(
                str(step.get("name") or "")
                for step in data.get("steps") or []
                if step.get("conclusion") in ("failure", "timed_out")
            ),
        )


@dataclass(frozen=True)
class DispatchResult:
    """What a dispatch answered: the run's id and URL when the server gave run details."""

    run_id: int | None
    html_url: str | None


def refuses_run_details(exc: GitHubApiError) -> bool:
    """GitHub Enterprise Server without the feature: 400 or 422 naming the key."""
    return exc.status in (400, 422) and _RUN_DETAILS_REFUSAL in exc.github_message


def _workflow_path(repository: str, workflow: str) -> str:
    return f"/repos/{repository}/actions/workflows/{quote(workflow, safe='')}"


def dispatch_workflow(
    client: GitHubClient,
    repository: str,
    workflow: str,
    ref: str,
    inputs: Mapping[str, str],
    *,
    return_run_details: bool,
    deadline: float,
) -> DispatchResult:
    body: dict[str, Any] = {"ref": ref, "inputs": dict(inputs)}
    if return_run_details:
        body["return_run_details"] = True
    response = client.request(
        "POST",
        f"{_workflow_path(repository, workflow)}/dispatches",
        json_body=body,
        deadline=deadline,
        idempotent=False,
    )
    if response.status == 200 and isinstance(response.body, dict):
        run_id = response.body.get("workflow_run_id")
        if run_id is not None:
            return DispatchResult(int(run_id), response.body.get("html_url"))
    return DispatchResult(None, None)


def get_run(client: GitHubClient, repository: str, run_id: int, *, deadline: float) -> WorkflowRun:
    response = client.get(f"/repos/{repository}/actions/runs/{run_id}", deadline=deadline)
    return WorkflowRun.from_json(response.body)


def list_dispatched_runs(
    client: GitHubClient, repository: str, workflow: str, *, created_since: str, deadline: float
) -> Iterator[WorkflowRun]:
    for item in client.paginate(
        f"{_workflow_path(repository, workflow)}/runs",
        params={"event": "workflow_dispatch", "created": f">={created_since}", "per_page": 100},
        item_key="workflow_runs",
        deadline=deadline,
    ):
        yield WorkflowRun.from_json(item)


def cancel_run(client: GitHubClient, repository: str, run_id: int, *, deadline: float) -> bool:
    """Ask GitHub to cancel a run; False when it had already completed (409)."""
    try:
        client.request(
            "POST", f"/repos/{repository}/actions/runs/{run_id}/cancel", deadline=deadline
        )
    except GitHubApiError as exc:
        if exc.status == 409:
            return False
        raise
    return True


def list_jobs(client: GitHubClient, repository: str, run_id: int, *, deadline: float) -> list[Job]:
    return [
        Job.from_json(item)
        for item in client.paginate(
            f"/repos/{repository}/actions/runs/{run_id}/jobs",
            params={"filter": "latest", "per_page": 100},
            item_key="jobs",
            deadline=deadline,
        )
    ]
