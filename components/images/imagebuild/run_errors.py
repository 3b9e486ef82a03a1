"""Errors a workflow run can end with, in words the user can act on."""

from __future__ import annotations

from collections.abc import Mapping

from . import actions
from .actions import WorkflowRun
from .base import GitHubApiError, ImageBuildError
from .base import NotFoundError as NotFound
from .rest import GitHubClient
from .spec import BuildSpec

_FAILED_CONCLUSIONS = ("failure", "cancelled", "timed_out", "startup_failure", "action_required")

NO_CORRELATION_MESSAGE = (
    "This server cannot return run details, so the run must be found by a correlation id: "
    "declare a `correlation_id` input in the workflow, echo it in its name with "
    "`run-name: Build ${{ inputs.tag }} [${{ inputs.correlation_id }}]`, and map it in "
    "tims-stack:build.inputs as `correlation_id: '{correlation_id}'`."
)


def failure_error(
    client: GitHubClient, spec: BuildSpec, run: WorkflowRun, deadline: float
) -> ImageBuildError:
    """The error for a run that ended without success: which jobs and steps failed."""
    details: list[str] = []
    try:
        jobs = actions.list_jobs(client, spec.repository, run.id, deadline=deadline)
    except ImageBuildError as exc:
        details.append(f"(could not list the run's jobs: {exc})")
        jobs = []
    for job in jobs:
        if job.conclusion not in _FAILED_CONCLUSIONS:
            continue
        where = (
            f"failed step(s): {', '.join(repr(s) for s in job.failed_steps)}"
            if job.failed_steps
            else "no failed step reported"
        )
        details.append(f"job {job.name!r} {job.conclusion}: {where}")
    if not details:
        details.append("no failed job reported")
    what = {
        "cancelled": "was cancelled (by someone or something other than this deployment)",
        "timed_out": "timed out on GitHub",
    }.get(run.conclusion or "", f"ended with conclusion {run.conclusion!r}")
    return ImageBuildError(
        f"The image build for {spec.environment} {what}: workflow run {run.html_url}\n  - "
        + "\n  - ".join(details)
        + "\nOpen the run to read the logs, fix the cause, then run `pulumi up` again."
    )


def dispatch_error(
    client: GitHubClient,
    spec: BuildSpec,
    inputs: Mapping[str, str],
    exc: GitHubApiError,
    deadline: float,
) -> ImageBuildError:
    """What a refused dispatch means (404: repository or workflow; 422: inputs or ref)."""
    if isinstance(exc, NotFound):
        try:
            client.get(f"/repos/{spec.repository}", deadline=deadline)
        except NotFound:
            return ImageBuildError(
                f"Repository {spec.repository} was not found (GitHub answered 404). Check "
                "tims-stack:build.repository (owner/name) and that the token can see the "
                "repository (a classic token with `repo`, or a fine-grained token granted "
                "access to it)."
            )
        except ImageBuildError:
            pass
        return ImageBuildError(
            f"Workflow {spec.workflow} was not found in {spec.repository} (GitHub answered "
            f"404 to the dispatch). Check tims-stack:build.workflow, that "
            f".github/workflows/{spec.workflow} exists on the default branch with an "
            "`on: workflow_dispatch` trigger, and that the token has Actions write access "
            "to the repository."
        )
    if exc.status == 422:
        return ImageBuildError(
            f"GitHub refused to dispatch {spec.workflow} in {spec.repository} on "
            f"{spec.ref!r} (422: {exc.github_message}). Inputs sent: "
            f"{', '.join(sorted(inputs)) or 'none'}. Map only the inputs the workflow "
            "declares under on.workflow_dispatch.inputs in tims-stack:build.inputs, and "
            "check that the ref exists and its copy of the workflow has the trigger."
        )
    return exc
