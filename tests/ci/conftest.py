"""Fixtures for the CI tests: the workflow files, the venv's tools, a fake GitHub API."""

from __future__ import annotations

import json
import re
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml

from scripts.github_api import GitHubApi
from tests.conftest import REPO_ROOT

WORKFLOW_DIR = REPO_ROOT / ".github" / "workflows"
BUILD_TEMPLATE = REPO_ROOT / "templates" / "github" / "build-images.yml"
REPO_WORKFLOWS = ("ci.yml", "pr-environment.yml", "sweep.yml", "nightly.yml")
LONG_LIVED_WORKFLOWS = ("long-lived.yml", "drift.yml", "e2e-kind.yml")
"""Staging/production, drift and kind: their behaviour is tested in tests/ci/long_lived/."""
APP_TEMPLATE = REPO_ROOT / "templates" / "github" / "app-pr-environment.yml"
TEMPLATES = [BUILD_TEMPLATE, APP_TEMPLATE]
ALL_WORKFLOW_FILES = [
    WORKFLOW_DIR / name for name in REPO_WORKFLOWS + LONG_LIVED_WORKFLOWS
] + TEMPLATES
KUBECONFIG_ACTION_DIR = ".github/actions/write-kubeconfig"
KUBECONFIG_ACTION = REPO_ROOT / KUBECONFIG_ACTION_DIR / "action.yml"
LOCAL_ACTIONS = [KUBECONFIG_ACTION]
REPO = "acme/tims-stack"
TOKEN = "ghs_test-token-must-never-leak-0123456789"


def load_workflow(path: Path) -> dict[str, Any]:
    """A workflow as a dict; PyYAML reads the key `on` as True, so it is put back."""
    document = yaml.safe_load(path.read_text(encoding="utf-8"))
    assert isinstance(document, dict), f"{path.name} is not a YAML mapping"
    if True in document:
        document["on"] = document.pop(True)
    return document


@pytest.fixture(params=ALL_WORKFLOW_FILES, ids=lambda p: p.name)
def workflow_path(request: pytest.FixtureRequest) -> Path:
    path: Path = request.param
    assert path.is_file(), f"{path.relative_to(REPO_ROOT)} is missing"
    return path


@pytest.fixture
def workflows() -> dict[str, dict[str, Any]]:
    """The repository's workflows by file name."""
    return {name: load_workflow(WORKFLOW_DIR / name) for name in REPO_WORKFLOWS}


@pytest.fixture
def kubeconfig_action() -> dict[str, Any]:
    """The composite action every Pulumi job writes its kubeconfig with."""
    document = yaml.safe_load(KUBECONFIG_ACTION.read_text(encoding="utf-8"))
    assert isinstance(document, dict), f"{KUBECONFIG_ACTION_DIR}/action.yml is not a mapping"
    return document


@pytest.fixture
def build_template() -> dict[str, Any]:
    return load_workflow(BUILD_TEMPLATE)


@pytest.fixture(scope="session")
def venv_tool() -> Callable[[str], Path]:
    """Path of a tool installed next to this interpreter (the project venv's bin/)."""

    def find(name: str) -> Path:
        path = Path(sys.executable).parent / name
        assert path.is_file(), f"{name} is not installed in {path.parent}: run `make setup`"
        return path

    return find


# --------------------------------------------------------------------------- fake GitHub


@dataclass
class FakeGitHub:
    """Just enough of the REST API for the CI scripts, served through httpx.MockTransport.

    `pulls` maps PR numbers to "open"/"closed"; an absent number answers 404.
    `heads` maps PR numbers to (head branch, head sha, labels); `commit_dates`
    maps a sha to its committer date; `runs` are workflow runs as the API
    lists them. `faults` maps a path (regex, full match) to a status code
    served instead. Every request is recorded in `requests`.
    """

    repo: str = REPO
    pulls: dict[int, str] = field(default_factory=dict)
    heads: dict[int, tuple[str, str, list[str]]] = field(default_factory=dict)
    commit_dates: dict[str, str] = field(default_factory=dict)
    runs: list[dict[str, Any]] = field(default_factory=list)
    comments: list[dict[str, Any]] = field(default_factory=list)
    faults: dict[str, int] = field(default_factory=dict)
    repo_visible: bool = True
    page_size: int = 100
    token_user: str = "deploy-bot"
    comment_author: str = "github-actions[bot]"
    """Who the token posts as: github-actions[bot], or `token_user` for a personal token."""
    requests: list[httpx.Request] = field(default_factory=list)
    _next_id: int = 1000

    def add_comment(self, body: str, login: str | None = None) -> int:
        self._next_id += 1
        author = login or self.comment_author
        self.comments.append({"id": self._next_id, "body": body, "user": {"login": author}})
        return self._next_id

    def handler(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        if request.headers.get("Authorization") != f"Bearer {TOKEN}":
            return httpx.Response(401, json={"message": "Bad credentials"})
        path = request.url.path
        for pattern, status in self.faults.items():
            if re.fullmatch(pattern, path):
                if status == 599:
                    raise httpx.ConnectError("connection reset by peer", request=request)
                return httpx.Response(status, json={"message": f"injected {status}"})
        base = f"/repos/{self.repo}"
        if path == "/user":
            return httpx.Response(200, json={"login": self.token_user})
        if path == base:
            if not self.repo_visible:
                return httpx.Response(404, json={"message": "Not Found"})
            return httpx.Response(200, json={"full_name": self.repo})
        if path == f"{base}/pulls":
            numbers = sorted(self.pulls, reverse=True)[:1]
            return httpx.Response(
                200, json=[{"number": n, "state": self.pulls[n]} for n in numbers]
            )
        match = re.fullmatch(rf"{base}/pulls/(\d+)", path)
        if match:
            return self._pull(int(match.group(1)))
        match = re.fullmatch(rf"{base}/commits/([0-9a-f]+)", path)
        if match and match.group(1) in self.commit_dates:
            date = self.commit_dates[match.group(1)]
            return httpx.Response(200, json={"commit": {"committer": {"date": date}}})
        match = re.fullmatch(rf"{base}/actions/runs/(\d+)/jobs", path)
        if match:
            for run in self.runs:
                if run["id"] == int(match.group(1)):
                    jobs = run.get("jobs", [])
                    return httpx.Response(200, json={"total_count": len(jobs), "jobs": jobs})
            return httpx.Response(404, json={"message": "Not Found"})
        if path == f"{base}/actions/runs":
            runs = self.runs
            # The real API filters by these; a fake that ignored them would hide a bad query.
            for key in ("head_sha", "event"):
                if key in request.url.params:
                    runs = [r for r in runs if r.get(key) == request.url.params[key]]
            return httpx.Response(200, json={"total_count": len(runs), "workflow_runs": runs})
        match = re.fullmatch(rf"{base}/issues/(\d+)/comments", path)
        if match and request.method == "GET":
            return self._comment_page(request)
        if match and request.method == "POST":
            body = json.loads(request.content)["body"]
            comment_id = self.add_comment(body)
            return httpx.Response(201, json={"id": comment_id, "body": body})
        match = re.fullmatch(rf"{base}/issues/comments/(\d+)", path)
        if match and request.method == "PATCH":
            for comment in self.comments:
                if comment["id"] == int(match.group(1)):
                    comment["body"] = json.loads(request.content)["body"]
                    return httpx.Response(200, json=comment)
            return httpx.Response(404, json={"message": "Not Found"})
        return httpx.Response(404, json={"message": f"fake GitHub has no route {path}"})

    def _pull(self, number: int) -> httpx.Response:
        if number not in self.pulls:
            return httpx.Response(404, json={"message": "Not Found"})
        ref, sha, labels = self.heads.get(number, (f"branch-{number}", "0" * 40, []))
        return httpx.Response(
            200,
            json={
                "number": number,
                "state": self.pulls[number],
                "head": {
                    "ref": ref,
                    "sha": sha,
                    "repo": {"full_name": self.repo},
                },
                "labels": [{"name": name} for name in labels],
            },
        )

    def add_run(
        self,
        run_id: int,
        workflow: str,
        *,
        status: str = "in_progress",
        event: str = "pull_request",
        head_branch: str = "",
        prs: tuple[int, ...] = (),
        head_sha: str = "",
        created_at: str = "2026-12-01T00:00:00Z",
        deployed: bool = True,
        stack: str = "",
    ) -> None:
        """`deployed`: whether the run's deploy job ran or was skipped by the label rules."""
        title = f"PR environment {stack or f'pr-{prs[0] if prs else 0}'}"
        up_job = {
            "name": f"pulumi up {stack or f'pr-{prs[0] if prs else 0}'}",
            "status": "completed",
            "conclusion": "success" if deployed else "skipped",
        }
        rules_job = {"name": "Does this event deploy or destroy?", "conclusion": "success"}
        self.runs.append(
            {
                "jobs": [rules_job, up_job],
                "id": run_id,
                "path": f".github/workflows/{workflow}",
                "event": event,
                "status": status,
                "head_branch": head_branch,
                "display_title": title,
                "head_sha": head_sha,
                "created_at": created_at,
                "pull_requests": [{"number": n} for n in prs],
                "html_url": f"https://github.test/{self.repo}/actions/runs/{run_id}",
            }
        )

    def _comment_page(self, request: httpx.Request) -> httpx.Response:
        page = int(request.url.params.get("page", "1"))
        start = (page - 1) * self.page_size
        chunk = self.comments[start : start + self.page_size]
        headers = {}
        if start + self.page_size < len(self.comments):
            next_url = request.url.copy_merge_params({"page": str(page + 1)})
            headers["Link"] = f'<{next_url}>; rel="next"'
        return httpx.Response(200, json=chunk, headers=headers)

    def mutations(self) -> list[httpx.Request]:
        return [r for r in self.requests if r.method not in ("GET", "HEAD")]


@pytest.fixture
def fake_github() -> FakeGitHub:
    return FakeGitHub()


@pytest.fixture
def github_api(fake_github: FakeGitHub) -> Iterator[GitHubApi]:
    with GitHubApi(
        TOKEN, "https://api.github.test", transport=httpx.MockTransport(fake_github.handler)
    ) as api:
        yield api
