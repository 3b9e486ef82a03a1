"""The emulated world's data: runs plans, accounts, repositories, runs, packages, and
the answer/error types every handler returns."""

from __future__ import annotations

import base64
import hashlib
import re
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Literal

from tests.github.clock import FakeClock, RealClock

DEFAULT_TOKEN = "ghp_emulatortoken0000000000000000000000"
HTML_BASE = "https://github.com"
DOCS = "https://docs.github.com/rest"
# Jobs and steps of a run when its RunPlan does not name them: the shipped
# workflow builds backend and frontend in a matrix.
DEFAULT_JOBS = ("build (backend)", "build (frontend)")
DEFAULT_STEPS = (
    "Set up job",
    "Checkout",
    "Set up Docker Buildx",
    "Log in to GHCR",
    "Build and push",
    "Complete job",
)
_FAILING_STEP = "Build and push"
_LAST_TAGGED_VERSION = (
    "You cannot delete the last tagged version of a package. You must delete the package instead."
)
_RUN_NAME_EXPR = re.compile(r"\$\{\{\s*inputs\.([A-Za-z0-9_-]+)\s*\}\}")

Clock = FakeClock | RealClock
ReturnRunDetails = Literal["supported", "reject_400", "reject_422", "ignore_204"]


def iso(epoch: float) -> str:
    """GitHub's timestamp format: UTC, whole seconds, `Z`."""
    return datetime.fromtimestamp(int(epoch), UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _node_id(prefix: str, number: int) -> str:
    return prefix + "_" + base64.b64encode(f"{prefix}{number}".encode()).decode().rstrip("=")


def _fake_sha(*parts: object) -> str:
    return hashlib.sha1(":".join(map(str, parts)).encode(), usedforsecurity=False).hexdigest()


@dataclass
class RunPlan:
    """How the next dispatched run of a workflow behaves."""

    duration: float = 60.0
    """Seconds from creation to completed."""
    queued_for: float = 5.0
    """Seconds in "queued" before "in_progress"."""
    conclusion: str = "success"
    """success | failure | cancelled | timed_out."""
    failed_jobs: dict[str, list[str]] = field(default_factory=dict)
    """Job name -> names of its failed steps. A failed run without any gets
    its first job failing at "Build and push", so a failure always has a cause."""
    built_sha: str | None = None
    """head_sha the run reports; default: the branch head at dispatch."""
    push: dict[str, str] = field(default_factory=dict)
    """On success: package name -> input holding the tag pushed to it."""
    jobs: list[str] | None = None
    """Job names; default DEFAULT_JOBS (plus any job named in failed_jobs)."""
    platforms: int = 0
    """Manifests each pushed image index lists (platform images, attestations): GHCR shows
    each as an untagged version of the package, next to the tagged index."""
    reproducible: bool = False
    """The build gives the same image as the one its tag already names (all layers cached,
    nothing unique in it): that push adds no version, the tag stays on the existing one."""

    def __post_init__(self) -> None:
        allowed = ("success", "failure", "cancelled", "timed_out")
        if self.conclusion not in allowed:
            raise ValueError(
                f"RunPlan.conclusion is {self.conclusion!r}; allowed: {', '.join(allowed)}"
            )
        if self.duration < self.queued_for or self.queued_for < 0:
            raise ValueError(
                f"RunPlan needs 0 <= queued_for <= duration, got queued_for={self.queued_for}, "
                f"duration={self.duration}"
            )


@dataclass
class RecordedRequest:
    """One request as the emulator received it. The Authorization value is redacted."""

    method: str
    path: str
    query: dict[str, list[str]]
    headers: dict[str, str]
    json: Any
    status: int | None = None
    """Answer status; None when the connection was reset instead."""
    rate_limited: bool = False
    """True when the answer counted against the rate-limit budget."""
    operation_id: str | None = None
    fault: bool = False
    """True when an injected fault answered instead of the emulated API."""
    registry: bool = False
    """True for a container registry request (`/v2/...`, `/token`; see
    `tests.github.emulator.registry`)."""


@dataclass
class _Answer:
    status: int
    body: Any = None  # JSON-able, or None for no body
    headers: dict[str, str] = field(default_factory=dict)
    raw: bytes | None = None  # body bytes as given (injected faults)


@dataclass
class _Fault:
    method: str
    pattern: re.Pattern[str]
    status: int | None
    headers: dict[str, str]
    body: Any
    reset_connection: bool
    remaining: int


@dataclass
class _Account:
    login: str
    type: str
    id: int
    created_at: float


@dataclass
class _Commit:
    sha: str
    message: str
    timestamp: float
    parent: str | None


@dataclass
class _Workflow:
    id: int
    file_name: str
    name: str
    inputs: list[str]
    run_name: str | None
    created_at: float
    plans: deque[RunPlan] = field(default_factory=deque)
    run_count: int = 0


@dataclass
class _Repo:
    owner: str
    name: str
    id: int
    default_branch: str
    created_at: float
    branches: dict[str, str] = field(default_factory=dict)
    commits: dict[str, _Commit] = field(default_factory=dict)
    workflows: dict[str, _Workflow] = field(default_factory=dict)

    @property
    def full_name(self) -> str:
        return f"{self.owner}/{self.name}"


@dataclass
class _Run:
    id: int
    repo: _Repo
    workflow: _Workflow
    run_number: int
    inputs: dict[str, str]
    branch: str
    head_sha: str
    created_at: float
    plan: RunPlan
    actor: str
    cancel_requested_at: float | None = None
    pushed: bool = False


@dataclass
class _RunState:
    status: str
    conclusion: str | None
    updated_at: float
    started_at: float
    ends_at: float


@dataclass
class _JobTiming:
    starts: float
    ends: float
    conclusion: str
    slot: float
    failed_at: set[int]


@dataclass
class _Version:
    id: int
    name: str
    tags: list[str]
    created_at: float
    updated_at: float
    deleted_at: float | None = None
    children: list[str] = field(default_factory=list)
    """Digests of the manifests an image index lists (platform images, attestations)."""


@dataclass
class _Package:
    owner: _Account
    name: str
    id: int
    created_at: float
    updated_at: float
    versions: list[_Version] = field(default_factory=list)  # oldest first
    repository: _Repo | None = None
    deleted_at: float | None = None

    def active(self) -> list[_Version]:
        return [v for v in self.versions if v.deleted_at is None]


class _HttpError(Exception):
    """Answer the current request with a GitHub error object."""

    def __init__(self, status: int, message: str, documentation_url: str = DOCS) -> None:
        super().__init__(message)
        self.answer = _Answer(status, _error_body(status, message, documentation_url))


def _not_found(message: str = "Not Found") -> _HttpError:
    return _HttpError(404, message)


@dataclass
class _Ctx:
    method: str
    path: str
    query: dict[str, list[str]]
    body: Any
    now: float

    def q(self, name: str, default: str | None = None) -> str | None:
        values = self.query.get(name)
        return values[-1] if values else default


Handler = Callable[..., _Answer]


def _error_body(status: int, message: str, documentation_url: str) -> dict[str, str]:
    body = {"message": message, "documentation_url": documentation_url}
    # GitHub's description gives 422 ("Validation Error") and 503 answers no
    # `status` field; every other error object has one.
    if status not in (422, 503):
        body["status"] = str(status)
    return body


def _check_suite_id(run: _Run) -> int:
    return run.id + 7_000_000_000
