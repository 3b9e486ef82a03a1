"""Which `pr-<number>` stacks are orphans: their pull request is closed or gone.

The decision is made for every stack before anything is deleted, and any
GitHub answer we cannot interpret raises. "Could not list pull requests" must
never read as "no pull request is open": tools that treat a transient API
error as an empty list have deleted every environment at once.

GitHub answers 404 both for a pull request that does not exist and for a
repository the token cannot see. `GitHubPrLookup.preflight()` therefore
proves the token can read this repository's pull requests before any 404 is
believed to mean "gone".
"""

from __future__ import annotations

import enum
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime

from scripts.github_api import GitHubApi, GitHubApiError, check_repository
from scripts.stack_names import pr_number_of


class PrState(enum.Enum):
    OPEN = "open"
    CLOSED = "closed"
    MISSING = "missing"


@dataclass(frozen=True)
class PullRequest:
    """What the sweep and the nightly schedule need to know about one pull request."""

    number: int
    state: PrState
    head_ref: str
    head_sha: str
    labels: frozenset[str]
    head_repo: str = ""
    """owner/name the head branch lives in: another one means a fork's PR."""


@dataclass(frozen=True)
class StackDecision:
    """What the sweep does with one `pr-<number>` stack."""

    stack: str
    pr_number: int
    state: PrState

    @property
    def orphan(self) -> bool:
        """Only a closed or missing pull request makes its stack an orphan."""
        return self.state is not PrState.OPEN


PrLookup = Callable[[int], PrState]


def classify(
    stack_names: Iterable[str], lookup: PrLookup, *, app: bool = False
) -> list[StackDecision]:
    """Decide every `pr-<number>` stack (`app-pr-<number>` with `app`); other stacks are
    not considered at all.

    Each number is looked up once. Any exception from `lookup` propagates, so
    the caller gets no decisions, and deletes nothing, unless all lookups
    succeeded.
    """
    states: dict[int, PrState] = {}
    decisions: list[StackDecision] = []
    for name in stack_names:
        number = pr_number_of(name, app=app)
        if number is None:
            continue
        if number not in states:
            state = lookup(number)
            if not isinstance(state, PrState):
                raise TypeError(f"PR lookup for #{number} returned {state!r}, not a PrState")
            states[number] = state
        decisions.append(StackDecision(stack=name, pr_number=number, state=states[number]))
    return decisions


class GitHubPrLookup:
    """Looks up pull request states in one repository through the REST API."""

    def __init__(self, api: GitHubApi, repo: str) -> None:
        self._api = api
        self._repo = check_repository(repo)
        self._checked = False
        # Where the PR's deploy runs live (this repository for its own PRs).
        self._runs_api = api
        self._runs_repo = self._repo

    def preflight(self) -> None:
        """Prove the token sees the repository and may list its pull requests, or raise."""
        try:
            self._api.request("GET", f"/repos/{self._repo}")
            self._api.request(
                "GET", f"/repos/{self._repo}/pulls", params={"state": "all", "per_page": 1}
            )
        except GitHubApiError as exc:
            raise GitHubApiError(
                f"cannot read pull requests of {self._repo}, so no stack can be judged "
                f"(the token needs pull-requests: read): {exc}",
                status=exc.status,
            ) from exc
        self._checked = True

    def __call__(self, number: int) -> PrState:
        pull = self.pull(number)
        return PrState.MISSING if pull is None else pull.state

    def pull(self, number: int) -> PullRequest | None:
        """The pull request now, or None when GitHub has no such pull request."""
        if not self._checked:
            self.preflight()
        path = f"/repos/{self._repo}/pulls/{number}"
        response = self._api.request("GET", path, expected=(200, 404))
        if response.status_code == 404:
            return None
        body = response.json()
        state = body.get("state") if isinstance(body, dict) else None
        if state not in ("open", "closed"):
            raise GitHubApiError(
                f"GET {path}: unexpected state {state!r} (expected 'open' or 'closed')"
            )
        head = body.get("head") or {}
        labels = body.get("labels") or []
        return PullRequest(
            number=number,
            state=PrState(state),
            head_ref=str(head.get("ref") or ""),
            head_sha=str(head.get("sha") or ""),
            labels=frozenset(str(label.get("name")) for label in labels if label.get("name")),
            head_repo=str((head.get("repo") or {}).get("full_name") or ""),
        )

    def last_push(self, pull: PullRequest) -> datetime:
        """When the PR's head commit last arrived: the later of its committer date and
        the newest pr-environment.yml run for that commit whose deploy job ran.

        A committer date alone is not a push date: a branch committed three weeks
        ago and opened as a PR today would be destroyed by the next sweep. A push,
        open or reopen (or, in label mode, adding the `preview` label) runs the
        deploy job for the PR's head commit. Runs whose deploy job was skipped,
        such as adding `keep-running` or any other label, do not count.
        """
        committed = self._commit_date(pull.head_sha)
        for created, run_id in self._head_runs(pull):
            if created <= committed:
                break
            if any(c != "skipped" for c in self._up_conclusions(run_id)):
                return created
        return committed

    def deployed_head(self, pull: PullRequest) -> bool:
        """Whether a deploy job succeeded for the PR's current head commit.

        Only then has that commit passed the `pr-environments` environment's
        gate (required reviewers, branch rules): a scheduled run may run its
        program. A push still waiting for approval, or whose deploy failed, may not.
        """
        return any("success" in self._up_conclusions(run_id) for _, run_id in self._head_runs(pull))

    def _head_runs(self, pull: PullRequest) -> list[tuple[datetime, int]]:
        """(created_at, id) of pull_request runs of pr-environment.yml for the PR's head, newest
        first."""
        path = f"/repos/{self._repo}/actions/runs"
        params: dict[str, str | int] = {
            "head_sha": pull.head_sha,
            "event": "pull_request",
            "per_page": 100,
        }
        body = self._api.request("GET", path, params=params).json()
        runs = body.get("workflow_runs") if isinstance(body, dict) else None
        if not isinstance(runs, list):
            raise GitHubApiError(f"GET {path}: no workflow_runs list in the answer")
        return sorted(
            (
                (_stamp(run.get("created_at"), f"GET {path}: created_at"), int(run["id"]))
                for run in runs
                if isinstance(run, dict)
                and run.get("head_sha") == pull.head_sha
                and str(run.get("path") or "").split("@", 1)[0] == PR_WORKFLOW_PATH
            ),
            reverse=True,
        )

    def _up_conclusions(self, run_id: int) -> list[str | None]:
        """Conclusions of the run's deploy job: "skipped" when the label rules skipped it,
        None while it runs."""
        path = f"/repos/{self._runs_repo}/actions/runs/{run_id}/jobs"
        body = self._runs_api.request("GET", path, params={"per_page": 100}).json()
        jobs = body.get("jobs") if isinstance(body, dict) else None
        if not isinstance(jobs, list):
            raise GitHubApiError(f"GET {path}: no jobs list in the answer")
        return [
            job.get("conclusion")
            for job in jobs
            if isinstance(job, dict) and str(job.get("name") or "").startswith(UP_JOB_NAME)
        ]

    def _commit_date(self, sha: str) -> datetime:
        path = f"/repos/{self._repo}/commits/{sha}"
        body = self._api.request("GET", path).json()
        try:
            return _stamp(body["commit"]["committer"]["date"], f"GET {path}: commit date")
        except (KeyError, TypeError) as exc:
            raise GitHubApiError(f"GET {path}: no commit date in the answer ({exc})") from exc


class AppPrLookup(GitHubPrLookup):
    """Pull requests of the application repository (`api`, `repo`, read with its token).

    Their deploys are runs of this repository's pr-environment.yml, dispatched
    by the app's workflow (`runs_api`, `runs_repo`) and titled with the stack
    (`PR environment app-pr-<n>`): a dispatch carries no commit of the app, so
    the newest such run whose deploy job ran, after the head commit, is the
    last push, open or reopen.
    """

    def __init__(self, api: GitHubApi, repo: str, runs_api: GitHubApi, runs_repo: str) -> None:
        super().__init__(api, repo)
        self._runs_api = runs_api
        self._runs_repo = check_repository(runs_repo)

    def _head_runs(self, pull: PullRequest) -> list[tuple[datetime, int]]:
        path = f"/repos/{self._runs_repo}/actions/runs"
        title = f"PR environment app-pr-{pull.number}"
        found = [
            (_stamp(run.get("created_at"), f"GET {path}: created_at"), int(run["id"]))
            for run in self._runs_api.paginate(
                path, {"event": "workflow_dispatch"}, key="workflow_runs"
            )
            if isinstance(run, dict)
            and str(run.get("path") or "").split("@", 1)[0] == PR_WORKFLOW_PATH
            and str(run.get("display_title") or "") == title
        ]
        return sorted(found, reverse=True)


PR_WORKFLOW_PATH = ".github/workflows/pr-environment.yml"
UP_JOB_NAME = "pulumi up"
"""How the deploy job's name in pr-environment.yml starts (then the stack)."""


def _stamp(value: object, what: str) -> datetime:
    """An aware datetime from the API's ISO 8601 text; anything else raises GitHubApiError."""
    try:
        stamp = datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    except ValueError as exc:
        raise GitHubApiError(f"{what} is not a date: {value!r}") from exc
    if stamp.tzinfo is None:
        raise GitHubApiError(f"{what} has no time zone: {value!r}")
    return stamp
