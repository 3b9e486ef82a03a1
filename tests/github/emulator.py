r"""A GitHub REST API emulator: a real HTTP server on 127.0.0.1 for offline tests.

It serves the operations the ImageBuild provider uses (workflow dispatch, runs,
jobs, cancel, branches/commits/refs, users/orgs, rate limit, the Packages API)
with the status lifecycle of a run driven by an injected clock. With a loaded
OpenAPI description (`spec=`), every request it receives and every answer it
gives is checked against GitHub's description (see `openapi_check`); problems
land in `spec_violations`, and answers the description cannot judge (a status
it does not document for that operation) land in `unvalidated`.

It also serves the container registry at its root (`/v2/.../manifests/...` and
`/token`; see `tests.github.registry`), outside GitHub's description and rate limit,
and sends a `Date` header from its clock (GitHub's time, which clients must trust
over their own). `oauth_scopes` plays a classic token's `X-OAuth-Scopes`; GitHub
Enterprise Server is `tests.github.fixtures.enterprise_server`.

World set-up happens in Python (`add_account`, `add_repo`, `add_workflow`,
`plan_next_run`, `add_package`); behaviour switches are plain attributes
(`return_run_details`, `rate_limit_total`, `cancel_latency`); faults are
queued with `inject`. Typical use, with the fixtures of `tests.github.fixtures`:

    def test_failure(emulator, fake_clock):        # acme/app, build-images.yml
        emulator.plan_next_run("acme/app", "build-images.yml",
                               RunPlan(conclusion="failure",
                                       failed_jobs={"build (backend)": ["Build and push"]}))
        emulator.inject("GET", r"/actions/runs/\d+$", status=502, times=2)
        ...  # point the client at emulator.base_url with emulator.token, and
             # give it fake_clock so its sleeps move the emulator's time

Modelling choices worth knowing:
- a run is invisible until its `created_at` (a foreign run may start later);
- a cancel request completes the run as cancelled `cancel_latency` seconds
  later (3 s; set it lower for real-time tests), while it stays in_progress;
- a job with failed steps stops after the last of them; the run ends at
  `RunPlan.duration`; a successful run pushes `RunPlan.push` tags on completion
  (a pushed tag moves off any older version, as in a registry);
- package versions are given oldest first and listed newest first;
- 304 answers, 401 answers and GET /rate_limit do not count against the budget.
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import itertools
import json
import re
import socket
import struct
import threading
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Literal
from urllib.parse import parse_qsl, unquote, urlencode, urlsplit

from openapi_core import OpenAPI

from tests.github.clock import FakeClock, RealClock
from tests.github.openapi_check import Exchange, SpecChecker, checker_for
from tests.github.registry import RegistryEmulation

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
    """True for a container registry request (`/v2/...`, `/token`; see `tests.github.registry`)."""


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


class GitHubEmulator:
    """See the module docstring. Thread-safe; use as a context manager or start()/stop()."""

    def __init__(
        self,
        *,
        clock: Clock | None = None,
        spec: OpenAPI | None = None,
        token: str = DEFAULT_TOKEN,
        path_prefix: str = "",
    ) -> None:
        """`path_prefix` serves the API below a path, as GitHub Enterprise Server
        does at `/api/v3`; `base_url` then includes it."""
        self.clock: Clock = clock if clock is not None else RealClock()
        self.token = token
        if path_prefix and (not path_prefix.startswith("/") or path_prefix.endswith("/")):
            raise ValueError(f"path_prefix must look like '/api/v3', got {path_prefix!r}")
        self.path_prefix = path_prefix
        self._checker: SpecChecker | None = checker_for(spec) if spec is not None else None
        self.base_url = ""
        self.return_run_details: ReturnRunDetails = "supported"
        self.rate_limit_total = 5000
        self.cancel_latency = 3.0
        """Seconds between a cancel request and the run completing as cancelled."""
        self.requests: list[RecordedRequest] = []
        self.spec_violations: list[str] = []
        self.unvalidated: list[str] = []
        self.validated_operations: set[str] = set()
        """operationIds whose answers were validated against the description."""
        self.authenticated_login: str | None = None
        """Login the token belongs to; default: the first User account added."""
        self.oauth_scopes: str | None = None
        """`X-OAuth-Scopes` of the token (a classic PAT), e.g. "repo, read:packages"; None
        sends no header (a fine-grained token). Packages answer 404 without a read scope, and
        deletes 403 without `delete:packages`."""
        self.registry = RegistryEmulation(
            token=lambda: self.token,
            can_read=lambda: self._has_scope("read:packages", "write:packages"),
            lookup=self._registry_lookup,
        )
        """The container registry, served at the server's root (`/v2/`, `/token`)."""

        self._lock = threading.RLock()
        self._ids = itertools.count(1)
        self._accounts: dict[str, _Account] = {}
        self._repos: dict[str, _Repo] = {}
        self._runs: list[_Run] = []
        self._packages: dict[tuple[str, str], _Package] = {}
        self._faults: list[_Fault] = []
        self._cancelled: list[int] = []
        self._rate_used = 0
        self._rate_reset: float | None = None
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None
        self._connections: set[socket.socket] = set()
        self._routes = self._build_routes()

    @property
    def validating(self) -> bool:
        """True when exchanges are checked against GitHub's OpenAPI description."""
        return self._checker is not None

    @property
    def documented_operation_ids(self) -> frozenset[str]:
        """operationIds of the loaded description (empty without one)."""
        return self._checker.all_operation_ids if self._checker is not None else frozenset()

    def __repr__(self) -> str:
        # Never the token: reprs end up in assertion messages and logs.
        return f"GitHubEmulator(base_url={self.base_url!r}, clock={self.clock!r})"

    # ------------------------------------------------------------------ server

    def start(self) -> None:
        if self._server is not None:
            raise RuntimeError("the emulator is already started")
        emulator = self

        class _RequestHandler(_EmulatorHandler):
            owner = emulator

        server = ThreadingHTTPServer(("127.0.0.1", 0), _RequestHandler)
        server.daemon_threads = True
        server.block_on_close = False
        self._server = server
        self.registry_url = f"http://127.0.0.1:{server.server_address[1]}"
        """Root of the emulated registry (ghcr.io, or containers.<host> on GHES)."""
        self.base_url = self.registry_url + self.path_prefix
        self._thread = threading.Thread(
            # A short poll keeps stop() (and so every test's teardown) quick.
            target=server.serve_forever,
            kwargs={"poll_interval": 0.01},
            daemon=True,
        )
        self._thread.start()

    def stop(self) -> None:
        server, self._server = self._server, None
        if server is None:
            return
        server.shutdown()
        server.server_close()
        with self._lock:
            connections = list(self._connections)
        for conn in connections:
            # Unblocks keep-alive handler threads waiting for a next request.
            with contextlib.suppress(OSError):
                conn.shutdown(socket.SHUT_RDWR)
        if self._thread is not None:
            self._thread.join(timeout=5)

    def __enter__(self) -> GitHubEmulator:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # ------------------------------------------------------------- world set-up

    def _next_id(self, base: int) -> int:
        return base + next(self._ids)

    def add_account(self, login: str, type: Literal["User", "Organization"] = "User") -> None:
        if type not in ("User", "Organization"):
            raise ValueError(f"account type for {login!r} is {type!r}; allowed: User, Organization")
        with self._lock:
            if login.lower() in self._accounts:
                raise ValueError(f"account {login!r} already exists")
            self._accounts[login.lower()] = _Account(
                login, type, self._next_id(1_000_000), self.clock.time() - 86_400 * 400
            )
            if type == "User" and self.authenticated_login is None:
                self.authenticated_login = login

    def add_repo(
        self,
        full_name: str,
        branches: dict[str, str] | None = None,
        default_branch: str = "main",
    ) -> None:
        owner, sep, name = full_name.partition("/")
        if not sep or not owner or not name or "/" in name:
            raise ValueError(f"repository {full_name!r} must look like 'owner/name'")
        with self._lock:
            if owner.lower() not in self._accounts:
                raise ValueError(
                    f"repository {full_name!r}: owner {owner!r} is unknown; call add_account first"
                )
            if full_name.lower() in self._repos:
                raise ValueError(f"repository {full_name!r} already exists")
            now = self.clock.time()
            repo = _Repo(
                self._accounts[owner.lower()].login,
                name,
                self._next_id(700_000_000),
                default_branch,
                now - 86_400 * 200,
            )
            heads = dict(branches) if branches else {default_branch: _fake_sha(full_name, "root")}
            if default_branch not in heads:
                raise ValueError(
                    f"repository {full_name!r}: default branch {default_branch!r} is not among "
                    f"its branches {sorted(heads)}"
                )
            self._repos[full_name.lower()] = repo
            for branch, sha in heads.items():
                self._set_branch(repo, branch, sha, now)

    def _set_branch(self, repo: _Repo, branch: str, sha: str, now: float) -> None:
        if not re.fullmatch(r"[0-9a-f]{40}", sha):
            raise ValueError(f"{repo.full_name}@{branch}: sha must be 40 hex digits, got {sha!r}")
        parent = repo.branches.get(branch)
        repo.branches[branch] = sha
        if sha not in repo.commits:
            repo.commits[sha] = _Commit(sha, f"Update {branch} ({sha[:7]})", now - 60, parent)

    def set_branch(self, full_name: str, branch: str, sha: str) -> None:
        with self._lock:
            self._set_branch(self._repo_or_error(full_name), branch, sha, self.clock.time())

    def add_workflow(
        self,
        full_name: str,
        file_name: str,
        inputs: list[str],
        *,
        name: str = "Build images",
        run_name: str | None = None,
    ) -> None:
        with self._lock:
            repo = self._repo_or_error(full_name)
            if file_name in repo.workflows:
                raise ValueError(f"{full_name}: workflow {file_name!r} already exists")
            repo.workflows[file_name] = _Workflow(
                self._next_id(90_000_000),
                file_name,
                name,
                list(inputs),
                run_name,
                self.clock.time() - 86_400 * 30,
            )

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

    def add_package(self, owner: str, name: str, versions: list[list[str]]) -> None:
        """A container package; `versions` lists each version's tags, oldest first."""
        with self._lock:
            account = self._accounts.get(owner.lower())
            if account is None:
                raise ValueError(
                    f"package {owner}/{name}: owner is unknown; call add_account first"
                )
            if (owner.lower(), name) in self._packages:
                raise ValueError(f"package {owner}/{name} already exists")
            now = self.clock.time()
            start = now - 3_600 * (len(versions) + 1)
            package = _Package(account, name, self._next_id(5_000_000), start, now)
            for index, tags in enumerate(versions):
                stamp = start + 3_600 * (index + 1)
                package.versions.append(self._new_version(package, list(tags), stamp))
            self._packages[(owner.lower(), name)] = package

    def _new_version(self, package: _Package, tags: list[str], at: float) -> _Version:
        vid = self._next_id(100_000_000)
        digest = "sha256:" + hashlib.sha256(f"{package.name}:{vid}".encode()).hexdigest()
        return _Version(vid, digest, tags, at, at)

    def inject(
        self,
        method: str,
        path_regex: str,
        *,
        status: int | None = None,
        headers: dict[str, str] | None = None,
        body: Any = None,
        reset_connection: bool = False,
        times: int = 1,
    ) -> None:
        """The next `times` requests whose method matches (`*` = any) and whose path
        (without query) matches `path_regex` (re.search) get this fault."""
        if not reset_connection and status is None:
            raise ValueError("inject needs a status, or reset_connection=True")
        if times < 1:
            raise ValueError(f"inject times must be >= 1, got {times}")
        with self._lock:
            self._faults.append(
                _Fault(
                    method.upper(),
                    re.compile(path_regex),
                    status,
                    dict(headers or {}),
                    body,
                    reset_connection,
                    times,
                )
            )

    # -------------------------------------------------------------- inspection

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

    def package_digests(self, owner: str, name: str) -> dict[str, list[str]]:
        """Digest -> tags of each remaining version (empty when the package is gone)."""
        with self._lock:
            self._settle(self.clock.time())
            package = self._packages.get((owner.lower(), name))
            if package is None or package.deleted_at is not None:
                return {}
            return {v.name: list(v.tags) for v in package.active()}

    def package_versions(self, owner: str, name: str) -> list[list[str]] | None:
        """Tags of each remaining version, oldest first; None when the package is gone."""
        with self._lock:
            self._settle(self.clock.time())
            package = self._packages.get((owner.lower(), name))
            if package is None or package.deleted_at is not None:
                return None
            return [list(v.tags) for v in package.active()]

    # ------------------------------------------------------------ run lifecycle

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

    def _settle(self, now: float) -> None:
        """Apply the effects of runs that completed by `now` (image pushes)."""
        for run in self._runs:
            if run.pushed or not run.plan.push:
                continue
            state = self._state(run, now)
            if state.status != "completed":
                continue
            run.pushed = True
            if state.conclusion != "success":
                continue
            for package_name, input_name in run.plan.push.items():
                tag = run.inputs.get(input_name)
                if tag:
                    self._push(run.repo, package_name, tag, state.ends_at, run.plan.platforms)

    def _push(
        self, repo: _Repo, package_name: str, tag: str, at: float, platforms: int = 0
    ) -> None:
        owner = self._accounts[repo.owner.lower()]
        key = (owner.login.lower(), package_name)
        package = self._packages.get(key)
        if package is None or package.deleted_at is not None:
            package = _Package(owner, package_name, self._next_id(5_000_000), at, at)
            self._packages[key] = package
        package.repository = repo
        # A tag names one image: pushing it again moves it to the new version.
        for version in package.versions:
            if tag in version.tags:
                version.tags.remove(tag)
                version.updated_at = at
        children = [self._new_version(package, [], at) for _ in range(platforms)]
        package.versions.extend(children)
        index = self._new_version(package, [tag], at)
        index.children = [child.name for child in children]
        package.versions.append(index)
        package.updated_at = at

    def _visible_runs(self, repo: _Repo, now: float) -> list[_Run]:
        runs = [r for r in self._runs if r.repo is repo and r.created_at <= now]
        return sorted(runs, key=lambda r: (r.created_at, r.id), reverse=True)

    # ---------------------------------------------------------------- requests

    def handle(
        self, method: str, target: str, headers: dict[str, str], body: bytes
    ) -> _Answer | None:
        """Answer one HTTP request; None means: reset the connection."""
        method = method.upper()
        split = urlsplit(target)
        path = split.path
        if path == "/token" or path.startswith("/v2/"):
            return self._handle_registry(method, path, split.query, headers)
        if self.path_prefix:
            # Outside the prefix is not the API: checked as an unknown path.
            path = (
                path.removeprefix(self.path_prefix)
                if path.startswith(self.path_prefix + "/")
                else "/-" + path
            )
        pairs = parse_qsl(split.query, keep_blank_values=True)
        query: dict[str, list[str]] = {}
        for key, value in pairs:
            query.setdefault(key, []).append(value)
        lowered = {k.lower(): v for k, v in headers.items()}
        parsed: Any = None
        bad_json = False
        if body:
            try:
                parsed = json.loads(body)
            except ValueError:
                bad_json = True
        record = RecordedRequest(method, path, query, _redacted(lowered), parsed)
        exchange = Exchange(method, path, pairs, lowered, body)
        violations: list[str] = []
        notes: list[str] = []
        if self._checker is not None:
            found = self._checker.operation(method, path)
            record.operation_id = found[0].operation_id if found else None
            violations, notes = self._checker.check_request(exchange)
        with self._lock:
            self.requests.append(record)
            self.spec_violations.extend(violations)
            self.unvalidated.extend(notes)
            fault = self._take_fault(method, path)
        if fault is not None and fault.reset_connection:
            record.fault = True
            return None
        if fault is not None:
            record.fault = True
            answer = self._fault_answer(fault)
            counted = True
        else:
            answer, counted = self._serve(method, path, query, lowered, parsed, bad_json)
        answer, counted = self._finish(answer, counted, method, path, lowered)
        record.status = answer.status
        record.rate_limited = counted
        if self._checker is not None:
            origin = "injected fault" if fault is not None else "emulator"
            problems, notes, validated = self._checker.check_response(
                exchange, answer.status, answer.headers, _encode(answer), origin=origin
            )
            with self._lock:
                self.spec_violations.extend(problems)
                self.unvalidated.extend(notes)
                if validated and record.operation_id:
                    self.validated_operations.add(record.operation_id)
        return answer

    def _take_fault(self, method: str, path: str) -> _Fault | None:
        for fault in self._faults:
            if fault.method in ("*", method) and fault.pattern.search(path):
                fault.remaining -= 1
                if fault.remaining == 0:
                    self._faults.remove(fault)
                return fault
        return None

    def _fault_answer(self, fault: _Fault) -> _Answer:
        assert fault.status is not None
        if fault.body is None:
            message = _FAULT_MESSAGES.get(fault.status, "Server Error")
            body = None if fault.status == 304 else _error_body(fault.status, message, DOCS)
            return _Answer(fault.status, body, dict(fault.headers))
        if isinstance(fault.body, bytes | str):
            raw = fault.body.encode() if isinstance(fault.body, str) else fault.body
            return _Answer(fault.status, None, dict(fault.headers), raw=raw)
        return _Answer(fault.status, fault.body, dict(fault.headers))

    def _serve(
        self,
        method: str,
        path: str,
        query: dict[str, list[str]],
        headers: dict[str, str],
        body: Any,
        bad_json: bool,
    ) -> tuple[_Answer, bool]:
        """(answer, counted against the rate limit)."""
        auth = headers.get("authorization", "")
        scheme, _, given = auth.partition(" ")
        if not auth:
            return _HttpError(401, "Requires authentication").answer, False
        if scheme.lower() not in ("bearer", "token") or given.strip() != self.token:
            return _HttpError(401, "Bad credentials").answer, False
        with self._lock:
            now = self.clock.time()
            self._roll_rate_window(now)
            if path != "/rate_limit" and self._rate_used >= self.rate_limit_total:
                user = self._accounts.get((self.authenticated_login or "").lower())
                return _HttpError(
                    403,
                    f"API rate limit exceeded for user ID {user.id if user else 0}.",
                    "https://docs.github.com/rest/overview/rate-limits-for-the-rest-api",
                ).answer, False
            if bad_json:
                return _HttpError(400, "Problems parsing JSON").answer, True
            self._settle(now)
            ctx = _Ctx(method, path, query, body, now)
            for route_method, pattern, handler in self._routes:
                if route_method != method:
                    continue
                found = pattern.fullmatch(path)
                if found is None:
                    continue
                args = {k: unquote(v) for k, v in found.groupdict().items()}
                try:
                    answer = handler(ctx, **args)
                except _HttpError as error:
                    answer = error.answer
                return answer, path != "/rate_limit"
            return _not_found().answer, True

    def _roll_rate_window(self, now: float) -> None:
        if self._rate_reset is None or now >= self._rate_reset:
            self._rate_used = 0
            self._rate_reset = now + 3_600

    def _finish(
        self,
        answer: _Answer,
        counted: bool,
        method: str,
        path: str,
        headers: dict[str, str],
    ) -> tuple[_Answer, bool]:
        """Add ETag / 304 handling and the rate-limit headers."""
        out = {"content-type": "application/json; charset=utf-8"}
        if answer.status == 200 and method == "GET" and answer.body is not None:
            etag = 'W/"' + hashlib.sha256(_encode(answer)).hexdigest() + '"'
            out["etag"] = etag
            wanted = headers.get("if-none-match", "")
            if _etag_matches(wanted, etag):
                # GitHub does not count a 304 against the rate limit.
                answer, counted = _Answer(304, None, {}), False
        with self._lock:
            now = self.clock.time()
            self._roll_rate_window(now)
            if counted:
                self._rate_used += 1
            unauthenticated = answer.status == 401
            limit = 60 if unauthenticated else self.rate_limit_total
            used = 0 if unauthenticated else self._rate_used
            reset = int(self._rate_reset or now + 3_600)
        out.update(
            {
                "x-ratelimit-limit": str(limit),
                "x-ratelimit-remaining": str(max(0, limit - used)),
                "x-ratelimit-used": str(used),
                "x-ratelimit-reset": str(reset),
                "x-ratelimit-resource": "core",
                "x-github-api-version-selected": "2022-11-28",
                "x-github-request-id": f"EMU:{next(self._ids):08X}",
            }
        )
        if self.oauth_scopes is not None and not unauthenticated:
            out["x-oauth-scopes"] = self.oauth_scopes
        if answer.status in (204, 304) or (answer.body is None and answer.raw is None):
            out.pop("content-type")
        # Headers of the answer itself (Link, or an injected fault's) win.
        out.update({k.lower(): v for k, v in answer.headers.items()})
        return _Answer(answer.status, answer.body, out, answer.raw), counted

    # ------------------------------------------------------------------ routing

    def _build_routes(self) -> list[tuple[str, re.Pattern[str], Handler]]:
        seg = r"[^/]+"
        repo = rf"/repos/(?P<owner>{seg})/(?P<repo>{seg})"
        run = rf"{repo}/actions/runs/(?P<run_id>{seg})"
        pkg = rf"/packages/(?P<package_type>{seg})/(?P<package_name>{seg})"
        version = rf"{pkg}/versions/(?P<version_id>{seg})"
        owners = {
            "user": "/user",
            "users": rf"/users/(?P<username>{seg})",
            "orgs": rf"/orgs/(?P<org>{seg})",
        }
        table: list[tuple[str, str, Handler]] = [
            ("GET", "/user", self._get_authenticated_user),
            ("GET", "/rate_limit", self._get_rate_limit),
            ("GET", rf"/users/(?P<username>{seg})", self._get_user),
            ("GET", rf"/orgs/(?P<org>{seg})", self._get_org),
            ("GET", repo, self._get_repo),
            ("GET", rf"{repo}/branches/(?P<branch>.+)", self._get_branch),
            ("GET", rf"{repo}/commits/(?P<ref>.+)", self._get_commit),
            ("GET", rf"{repo}/git/ref/(?P<ref>.+)", self._get_ref),
            ("GET", rf"{repo}/actions/workflows/(?P<workflow_id>{seg})", self._get_workflow),
            (
                "POST",
                rf"{repo}/actions/workflows/(?P<workflow_id>{seg})/dispatches",
                self._dispatch,
            ),
            ("GET", rf"{repo}/actions/workflows/(?P<workflow_id>{seg})/runs", self._list_runs),
            ("GET", rf"{repo}/actions/runs", self._list_runs),
            ("GET", run, self._get_run),
            ("POST", rf"{run}/cancel", self._cancel_run),
            ("GET", rf"{run}/jobs", self._list_jobs),
        ]
        for kind, prefix in owners.items():
            table += [
                ("GET", rf"{prefix}/packages", self._owner_route(kind, self._list_packages)),
                ("GET", prefix + pkg, self._owner_route(kind, self._get_package)),
                ("DELETE", prefix + pkg, self._owner_route(kind, self._delete_package)),
                ("POST", rf"{prefix}{pkg}/restore", self._owner_route(kind, self._restore_package)),
                ("GET", rf"{prefix}{pkg}/versions", self._owner_route(kind, self._list_versions)),
                ("GET", prefix + version, self._owner_route(kind, self._get_version)),
                ("DELETE", prefix + version, self._owner_route(kind, self._delete_version)),
                (
                    "POST",
                    rf"{prefix}{version}/restore",
                    self._owner_route(kind, self._restore_version),
                ),
            ]
        return [(m, re.compile(p), h) for m, p, h in table]

    # ----------------------------------------------------------- lookups/errors

    def _repo_or_error(self, full_name: str) -> _Repo:
        repo = self._repos.get(full_name.lower())
        if repo is None:
            raise ValueError(f"repository {full_name!r} is unknown; call add_repo first")
        return repo

    def _workflow_or_error(self, full_name: str, file_name: str) -> _Workflow:
        repo = self._repo_or_error(full_name)
        workflow = repo.workflows.get(file_name)
        if workflow is None:
            raise ValueError(
                f"{full_name}: workflow {file_name!r} is unknown; known: {sorted(repo.workflows)}"
            )
        return workflow

    def _repo(self, owner: str, repo: str) -> _Repo:
        found = self._repos.get(f"{owner}/{repo}".lower())
        if found is None:
            raise _not_found()
        return found

    def _workflow(self, repo: _Repo, workflow_id: str) -> _Workflow:
        for workflow in repo.workflows.values():
            if workflow_id in (workflow.file_name, str(workflow.id)):
                return workflow
        raise _not_found()

    def _run(self, repo: _Repo, run_id: str, now: float) -> _Run:
        for run in self._runs:
            if run.repo is repo and str(run.id) == run_id and run.created_at <= now:
                return run
        raise _not_found()

    # ------------------------------------------------------------- JSON shapes

    @property
    def _api(self) -> str:
        return self.base_url or "https://api.github.com"

    def _simple_user(self, account: _Account) -> dict[str, Any]:
        api, login = self._api, account.login
        kind = "orgs" if account.type == "Organization" else "users"
        return {
            "login": login,
            "id": account.id,
            "node_id": _node_id("U" if account.type == "User" else "O", account.id),
            "avatar_url": f"https://avatars.githubusercontent.com/u/{account.id}?v=4",
            "gravatar_id": "",
            "url": f"{api}/users/{login}",
            "html_url": f"{HTML_BASE}/{login}",
            "followers_url": f"{api}/users/{login}/followers",
            "following_url": f"{api}/users/{login}/following{{/other_user}}",
            "gists_url": f"{api}/users/{login}/gists{{/gist_id}}",
            "starred_url": f"{api}/users/{login}/starred{{/owner}}{{/repo}}",
            "subscriptions_url": f"{api}/users/{login}/subscriptions",
            "organizations_url": f"{api}/users/{login}/orgs",
            "repos_url": f"{api}/{kind}/{login}/repos",
            "events_url": f"{api}/users/{login}/events{{/privacy}}",
            "received_events_url": f"{api}/users/{login}/received_events",
            "type": account.type,
            "user_view_type": "public",
            "site_admin": False,
        }

    def _public_user(self, account: _Account) -> dict[str, Any]:
        user = self._simple_user(account)
        user.update(
            {
                "name": account.login.capitalize(),
                "company": None,
                "blog": "",
                "location": None,
                "email": None,
                "hireable": None,
                "bio": None,
                "twitter_username": None,
                "public_repos": sum(1 for r in self._repos.values() if r.owner == account.login),
                "public_gists": 0,
                "followers": 3,
                "following": 1,
                "created_at": iso(account.created_at),
                "updated_at": iso(account.created_at + 86_400),
            }
        )
        return user

    def _private_user(self, account: _Account) -> dict[str, Any]:
        user = self._public_user(account)
        user.update(
            {
                "private_gists": 0,
                "total_private_repos": 1,
                "owned_private_repos": 1,
                "disk_usage": 2048,
                "collaborators": 0,
                "two_factor_authentication": True,
                "plan": {
                    "name": "pro",
                    "space": 976562499,
                    "private_repos": 9999,
                    "collaborators": 0,
                },
            }
        )
        return user

    def _repo_urls(self, repo: _Repo) -> dict[str, Any]:
        base = f"{self._api}/repos/{repo.full_name}"
        return {
            "url": base,
            "html_url": f"{HTML_BASE}/{repo.full_name}",
            "archive_url": base + "/{archive_format}{/ref}",
            "assignees_url": base + "/assignees{/user}",
            "blobs_url": base + "/git/blobs{/sha}",
            "branches_url": base + "/branches{/branch}",
            "collaborators_url": base + "/collaborators{/collaborator}",
            "comments_url": base + "/comments{/number}",
            "commits_url": base + "/commits{/sha}",
            "compare_url": base + "/compare/{base}...{head}",
            "contents_url": base + "/contents/{+path}",
            "contributors_url": base + "/contributors",
            "deployments_url": base + "/deployments",
            "downloads_url": base + "/downloads",
            "events_url": base + "/events",
            "forks_url": base + "/forks",
            "git_commits_url": base + "/git/commits{/sha}",
            "git_refs_url": base + "/git/refs{/sha}",
            "git_tags_url": base + "/git/tags{/sha}",
            "hooks_url": base + "/hooks",
            "issue_comment_url": base + "/issues/comments{/number}",
            "issue_events_url": base + "/issues/events{/number}",
            "issues_url": base + "/issues{/number}",
            "keys_url": base + "/keys{/key_id}",
            "labels_url": base + "/labels{/name}",
            "languages_url": base + "/languages",
            "merges_url": base + "/merges",
            "milestones_url": base + "/milestones{/number}",
            "notifications_url": base + "/notifications{?since,all,participating}",
            "pulls_url": base + "/pulls{/number}",
            "releases_url": base + "/releases{/id}",
            "stargazers_url": base + "/stargazers",
            "statuses_url": base + "/statuses/{sha}",
            "subscribers_url": base + "/subscribers",
            "subscription_url": base + "/subscription",
            "tags_url": base + "/tags",
            "teams_url": base + "/teams",
            "trees_url": base + "/git/trees{/sha}",
        }

    def _minimal_repo(self, repo: _Repo) -> dict[str, Any]:
        # What GitHub embeds in a workflow run or package: the required fields.
        data = {
            "id": repo.id,
            "node_id": _node_id("R", repo.id),
            "name": repo.name,
            "full_name": repo.full_name,
            "private": True,
            "owner": self._simple_user(self._accounts[repo.owner.lower()]),
            "description": "Tim's Stack application",
            "fork": False,
        }
        data.update(self._repo_urls(repo))
        return data

    def _full_repo(self, repo: _Repo, now: float) -> dict[str, Any]:
        data = self._minimal_repo(repo)
        data.update(
            {
                "clone_url": f"{HTML_BASE}/{repo.full_name}.git",
                "git_url": f"git://github.com/{repo.full_name}.git",
                "ssh_url": f"git@github.com:{repo.full_name}.git",
                "svn_url": f"{HTML_BASE}/{repo.full_name}",
                "mirror_url": None,
                "homepage": None,
                "language": "Python",
                "forks_count": 0,
                "forks": 0,
                "stargazers_count": 2,
                "watchers_count": 2,
                "watchers": 2,
                "subscribers_count": 1,
                "network_count": 0,
                "size": 1_024,
                "default_branch": repo.default_branch,
                "open_issues_count": 0,
                "open_issues": 0,
                "is_template": False,
                "topics": [],
                "has_issues": True,
                "has_projects": False,
                "has_wiki": False,
                "has_pages": False,
                "has_downloads": True,
                "has_discussions": False,
                "archived": False,
                "disabled": False,
                "visibility": "private",
                "license": None,
                "allow_forking": False,
                "web_commit_signoff_required": False,
                "pushed_at": iso(max(c.timestamp for c in repo.commits.values())),
                "created_at": iso(repo.created_at),
                "updated_at": iso(now - 3_600),
                "permissions": {
                    "admin": True,
                    "maintain": True,
                    "push": True,
                    "triage": True,
                    "pull": True,
                },
            }
        )
        return data

    def _commit_json(self, repo: _Repo, commit: _Commit) -> dict[str, Any]:
        base = f"{self._api}/repos/{repo.full_name}"
        author = self._accounts[repo.owner.lower()]
        person = {
            "name": author.login.capitalize(),
            "email": f"{author.login}@users.noreply.github.com",
            "date": iso(commit.timestamp),
        }
        tree = _fake_sha(commit.sha, "tree")
        parents = []
        if commit.parent:
            parents.append(
                {
                    "sha": commit.parent,
                    "url": f"{base}/commits/{commit.parent}",
                    "html_url": f"{HTML_BASE}/{repo.full_name}/commit/{commit.parent}",
                }
            )
        return {
            "sha": commit.sha,
            "node_id": _node_id("C", int(commit.sha[:8], 16)),
            "url": f"{base}/commits/{commit.sha}",
            "html_url": f"{HTML_BASE}/{repo.full_name}/commit/{commit.sha}",
            "comments_url": f"{base}/commits/{commit.sha}/comments",
            "commit": {
                "url": f"{base}/git/commits/{commit.sha}",
                "author": person,
                "committer": person,
                "message": commit.message,
                "tree": {"sha": tree, "url": f"{base}/git/trees/{tree}"},
                "comment_count": 0,
                "verification": {
                    "verified": False,
                    "reason": "unsigned",
                    "signature": None,
                    "payload": None,
                    "verified_at": None,
                },
            },
            "author": self._simple_user(author),
            "committer": self._simple_user(author),
            "parents": parents,
        }

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

    def _package_urls(self, package: _Package) -> tuple[str, str]:
        """(API url, html url) of a package."""
        owner = package.owner
        kind = "orgs" if owner.type == "Organization" else "users"
        api = f"{self._api}/{kind}/{owner.login}/packages/container/{package.name}"
        html = f"{HTML_BASE}/{kind}/{owner.login}/packages/container/package/{package.name}"
        return api, html

    def _package_json(self, package: _Package) -> dict[str, Any]:
        api, html = self._package_urls(package)
        data: dict[str, Any] = {
            "id": package.id,
            "name": package.name,
            "package_type": "container",
            "owner": self._simple_user(package.owner),
            "version_count": len(package.active()),
            "visibility": "private",
            "url": api,
            "html_url": html,
            "created_at": iso(package.created_at),
            "updated_at": iso(package.updated_at),
        }
        if package.repository is not None:
            data["repository"] = self._minimal_repo(package.repository)
        return data

    def _version_json(self, package: _Package, version: _Version) -> dict[str, Any]:
        api, html = self._package_urls(package)
        data: dict[str, Any] = {
            "id": version.id,
            "name": version.name,
            "url": f"{api}/versions/{version.id}",
            "package_html_url": html,
            "html_url": html.replace("/package/", "/") + f"/{version.id}",
            "created_at": iso(version.created_at),
            "updated_at": iso(version.updated_at),
            "metadata": {"package_type": "container", "container": {"tags": list(version.tags)}},
        }
        if version.deleted_at is not None:
            data["deleted_at"] = iso(version.deleted_at)
        return data

    # --------------------------------------------------------------- handlers

    def _paginate(self, ctx: _Ctx, items: list[Any]) -> tuple[list[Any], dict[str, str]]:
        """One page of `items` and the Link header GitHub would send."""
        per_page = min(max(_int(ctx.q("per_page"), 30), 1), 100)
        page = max(_int(ctx.q("page"), 1), 1)
        last = max((len(items) + per_page - 1) // per_page, 1)
        chunk = items[(page - 1) * per_page : page * per_page]

        def link(number: int) -> str:
            query = {k: v[-1] for k, v in ctx.query.items() if k != "page"}
            query["page"] = str(number)
            return f"{self._api}{ctx.path}?{urlencode(query)}"

        rels = []
        if page > 1:
            rels.append(f'<{link(min(page - 1, last))}>; rel="prev"')
        if page < last:
            rels += [f'<{link(page + 1)}>; rel="next"', f'<{link(last)}>; rel="last"']
        if page > 1:
            rels.append(f'<{link(1)}>; rel="first"')
        return chunk, ({"link": ", ".join(rels)} if rels else {})

    def _get_authenticated_user(self, ctx: _Ctx) -> _Answer:
        account = self._accounts.get((self.authenticated_login or "").lower())
        if account is None:
            raise _HttpError(401, "Bad credentials")
        return _Answer(200, self._private_user(account))

    def _get_rate_limit(self, ctx: _Ctx) -> _Answer:
        used = self._rate_used
        reset = int(self._rate_reset or ctx.now + 3_600)
        core = {
            "limit": self.rate_limit_total,
            "used": used,
            "remaining": max(0, self.rate_limit_total - used),
            "reset": reset,
        }

        def fresh(limit: int) -> dict[str, int]:
            return {"limit": limit, "used": 0, "remaining": limit, "reset": int(ctx.now + 60)}

        resources = {
            "core": core,
            "search": fresh(30),
            "graphql": fresh(5000),
            "integration_manifest": fresh(5000),
            "code_search": fresh(10),
        }
        return _Answer(
            200,
            {"resources": resources, "rate": core},
            {
                "X-RateLimit-Limit": str(core["limit"]),
                "X-RateLimit-Remaining": str(core["remaining"]),
                "X-RateLimit-Reset": str(reset),
            },
        )

    def _get_user(self, ctx: _Ctx, username: str) -> _Answer:
        account = self._accounts.get(username.lower())
        if account is None:
            raise _not_found()
        return _Answer(200, self._public_user(account))

    def _get_org(self, ctx: _Ctx, org: str) -> _Answer:
        account = self._accounts.get(org.lower())
        if account is None or account.type != "Organization":
            raise _not_found()
        api, login = self._api, account.login
        return _Answer(
            200,
            {
                "login": login,
                "id": account.id,
                "node_id": _node_id("O", account.id),
                "url": f"{api}/orgs/{login}",
                "repos_url": f"{api}/orgs/{login}/repos",
                "events_url": f"{api}/orgs/{login}/events",
                "hooks_url": f"{api}/orgs/{login}/hooks",
                "issues_url": f"{api}/orgs/{login}/issues",
                "members_url": f"{api}/orgs/{login}/members{{/member}}",
                "public_members_url": f"{api}/orgs/{login}/public_members{{/member}}",
                "avatar_url": f"https://avatars.githubusercontent.com/u/{account.id}?v=4",
                "description": None,
                "name": login,
                "html_url": f"{HTML_BASE}/{login}",
                "has_organization_projects": True,
                "has_repository_projects": True,
                "public_repos": sum(1 for r in self._repos.values() if r.owner == login),
                "public_gists": 0,
                "followers": 0,
                "following": 0,
                "is_verified": False,
                "type": "Organization",
                "created_at": iso(account.created_at),
                "updated_at": iso(account.created_at + 86_400),
                "archived_at": None,
            },
        )

    def _get_repo(self, ctx: _Ctx, owner: str, repo: str) -> _Answer:
        return _Answer(200, self._full_repo(self._repo(owner, repo), ctx.now))

    def _get_branch(self, ctx: _Ctx, owner: str, repo: str, branch: str) -> _Answer:
        found = self._repo(owner, repo)
        sha = found.branches.get(branch)
        if sha is None:
            raise _HttpError(404, "Branch not found")
        base = f"{self._api}/repos/{found.full_name}/branches/{branch}"
        return _Answer(
            200,
            {
                "name": branch,
                "commit": self._commit_json(found, found.commits[sha]),
                "_links": {"self": base, "html": f"{HTML_BASE}/{found.full_name}/tree/{branch}"},
                "protected": False,
                "protection": {
                    "enabled": False,
                    "required_status_checks": {
                        "enforcement_level": "off",
                        "contexts": [],
                        "checks": [],
                    },
                },
                "protection_url": f"{base}/protection",
            },
        )

    def _resolve_commit(self, repo: _Repo, ref: str) -> _Commit | None:
        for candidate in (ref, ref.removeprefix("refs/heads/"), ref.removeprefix("heads/")):
            if candidate in repo.branches:
                return repo.commits[repo.branches[candidate]]
        if re.fullmatch(r"[0-9a-f]{7,40}", ref):
            matches = [c for sha, c in repo.commits.items() if sha.startswith(ref)]
            if len(matches) == 1:
                return matches[0]
        return None

    def _get_commit(self, ctx: _Ctx, owner: str, repo: str, ref: str) -> _Answer:
        found = self._repo(owner, repo)
        commit = self._resolve_commit(found, ref)
        if commit is None:
            raise _HttpError(422, f"No commit found for SHA: {ref}")
        return _Answer(200, self._commit_json(found, commit))

    def _get_ref(self, ctx: _Ctx, owner: str, repo: str, ref: str) -> _Answer:
        found = self._repo(owner, repo)
        if not ref.startswith("heads/") or ref.removeprefix("heads/") not in found.branches:
            raise _not_found()
        sha = found.branches[ref.removeprefix("heads/")]
        base = f"{self._api}/repos/{found.full_name}/git"
        return _Answer(
            200,
            {
                "ref": f"refs/{ref}",
                "node_id": _node_id("REF", int(sha[:8], 16)),
                "url": f"{base}/refs/{ref}",
                "object": {"type": "commit", "sha": sha, "url": f"{base}/commits/{sha}"},
            },
        )

    def _get_workflow(self, ctx: _Ctx, owner: str, repo: str, workflow_id: str) -> _Answer:
        found = self._repo(owner, repo)
        workflow = self._workflow(found, workflow_id)
        base = f"{self._api}/repos/{found.full_name}/actions/workflows/{workflow.id}"
        path = f".github/workflows/{workflow.file_name}"
        return _Answer(
            200,
            {
                "id": workflow.id,
                "node_id": _node_id("W", workflow.id),
                "name": workflow.name,
                "path": path,
                "state": "active",
                "created_at": iso(workflow.created_at),
                "updated_at": iso(workflow.created_at),
                "url": base,
                "html_url": f"{HTML_BASE}/{found.full_name}/blob/{found.default_branch}/{path}",
                "badge_url": f"{HTML_BASE}/{found.full_name}/workflows/{workflow.name}/badge.svg",
            },
        )

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

    # Packages: the same handlers serve /user, /users/{username} and /orgs/{org}.

    def _owner_route(self, kind: str, handler: Callable[..., _Answer]) -> Handler:
        def route(ctx: _Ctx, **args: str) -> _Answer:
            if kind == "user":
                login, wanted = self.authenticated_login or "", "User"
            elif kind == "users":
                login, wanted = args.pop("username"), "User"
            else:
                login, wanted = args.pop("org"), "Organization"
            account = self._accounts.get(login.lower())
            if account is None or account.type != wanted:
                # GitHub keeps user and organisation packages apart: the wrong
                # endpoint for the owner finds nothing.
                raise _HttpError(404, "Package not found." if args else "Not Found")
            if not self._has_scope("read:packages", "write:packages"):
                # What makes a 404 ambiguous: a token that may not see packages.
                raise _HttpError(404, "Package not found.")
            if ctx.method == "DELETE" and not self._has_scope("delete:packages"):
                raise _HttpError(403, "You need the delete:packages scope to delete packages.")
            return handler(ctx, account, **args)

        return route

    def _has_scope(self, *accepted: str) -> bool:
        if self.oauth_scopes is None:
            return True
        granted = {scope.strip() for scope in self.oauth_scopes.split(",")}
        return bool(granted & set(accepted))

    def _registry_lookup(
        self, owner: str, name: str, reference: str
    ) -> tuple[str, list[str]] | None:
        """(digest, digests of the manifests it lists) of a tag or digest."""
        with self._lock:
            self._settle(self.clock.time())
            package = self._packages.get((owner.lower(), name))
            if package is None or package.deleted_at is not None:
                return None
            for version in package.active():
                if reference in version.tags or reference == version.name:
                    return version.name, list(version.children)
            return None

    def _handle_registry(
        self, method: str, path: str, query_text: str, headers: dict[str, str]
    ) -> _Answer | None:
        lowered = {k.lower(): v for k, v in headers.items()}
        query: dict[str, list[str]] = {}
        for key, value in parse_qsl(query_text, keep_blank_values=True):
            query.setdefault(key, []).append(value)
        record = RecordedRequest(method, path, query, _redacted(lowered), None, registry=True)
        with self._lock:
            self.requests.append(record)
            fault = self._take_fault(method, path)
        if fault is not None:
            record.fault = True
            if fault.reset_connection:
                return None
            answer = self._fault_answer(fault)
        else:
            with self._lock:
                found = self.registry.handle(method, path, query, lowered)
            answer = _Answer(found.status, found.body, dict(found.headers))
        record.status = answer.status
        if method == "HEAD":
            answer = _Answer(answer.status, None, answer.headers)
        return answer

    def _package(self, account: _Account, package_type: str, package_name: str) -> _Package:
        package = self._packages.get((account.login.lower(), package_name))
        if package_type != "container" or package is None or package.deleted_at is not None:
            raise _HttpError(404, "Package not found.")
        return package

    def _list_packages(self, ctx: _Ctx, account: _Account) -> _Answer:
        package_type = ctx.q("package_type")
        if not package_type:
            raise _HttpError(400, "package_type is required")
        visibility = ctx.q("visibility")
        packages = [
            p
            for (owner, _), p in sorted(self._packages.items())
            if owner == account.login.lower()
            and p.deleted_at is None
            and package_type == "container"
            and visibility in (None, "private")
        ]
        page, link = self._paginate(ctx, packages)
        return _Answer(200, [self._package_json(p) for p in page], link)

    def _get_package(
        self, ctx: _Ctx, account: _Account, package_type: str, package_name: str
    ) -> _Answer:
        return _Answer(200, self._package_json(self._package(account, package_type, package_name)))

    def _delete_package(
        self, ctx: _Ctx, account: _Account, package_type: str, package_name: str
    ) -> _Answer:
        package = self._package(account, package_type, package_name)
        package.deleted_at = ctx.now
        return _Answer(204)

    def _restore_package(
        self, ctx: _Ctx, account: _Account, package_type: str, package_name: str
    ) -> _Answer:
        package = self._packages.get((account.login.lower(), package_name))
        if package_type != "container" or package is None or package.deleted_at is None:
            raise _HttpError(404, "Package not found.")
        package.deleted_at = None
        return _Answer(204)

    def _list_versions(
        self, ctx: _Ctx, account: _Account, package_type: str, package_name: str
    ) -> _Answer:
        package = self._package(account, package_type, package_name)
        state = ctx.q("state", "active")
        chosen = [v for v in package.versions if (v.deleted_at is None) == (state == "active")]
        newest_first = sorted(chosen, key=lambda v: (v.created_at, v.id), reverse=True)
        page, link = self._paginate(ctx, newest_first)
        return _Answer(200, [self._version_json(package, v) for v in page], link)

    def _version(self, package: _Package, version_id: str, *, deleted: bool = False) -> _Version:
        for version in package.versions:
            if str(version.id) == version_id and (version.deleted_at is not None) == deleted:
                return version
        raise _not_found()

    def _get_version(
        self,
        ctx: _Ctx,
        account: _Account,
        package_type: str,
        package_name: str,
        version_id: str,
    ) -> _Answer:
        package = self._package(account, package_type, package_name)
        return _Answer(200, self._version_json(package, self._version(package, version_id)))

    def _delete_version(
        self,
        ctx: _Ctx,
        account: _Account,
        package_type: str,
        package_name: str,
        version_id: str,
    ) -> _Answer:
        package = self._package(account, package_type, package_name)
        version = self._version(package, version_id)
        tagged = [v for v in package.active() if v.tags]
        if version.tags and tagged == [version]:
            raise _HttpError(
                400, _LAST_TAGGED_VERSION, f"{DOCS}/packages/packages#delete-a-package-version"
            )
        version.deleted_at = ctx.now
        package.updated_at = ctx.now
        return _Answer(204)

    def _restore_version(
        self,
        ctx: _Ctx,
        account: _Account,
        package_type: str,
        package_name: str,
        version_id: str,
    ) -> _Answer:
        package = self._package(account, package_type, package_name)
        version = self._version(package, version_id, deleted=True)
        version.deleted_at = None
        return _Answer(204)


_FAULT_MESSAGES = {
    401: "Bad credentials",
    403: (
        "You have exceeded a secondary rate limit. Please wait a few minutes before you try "
        "again. If you reach out to GitHub Support for help, please include the request ID."
    ),
    404: "Not Found",
    409: "Conflict",
    422: "Validation Failed",
    429: "API rate limit exceeded.",
    500: "Server Error",
    502: "Server Error",
    503: "Service Unavailable",
    504: "We couldn't respond to your request in time.",
}


def _check_suite_id(run: _Run) -> int:
    return run.id + 7_000_000_000


def _error_body(status: int, message: str, documentation_url: str) -> dict[str, str]:
    body = {"message": message, "documentation_url": documentation_url}
    # GitHub's description gives 422 ("Validation Error") and 503 answers no
    # `status` field; every other error object has one.
    if status not in (422, 503):
        body["status"] = str(status)
    return body


def _int(text: str | None, default: int) -> int:
    try:
        return int(text) if text is not None else default
    except ValueError:
        return default


def _encode(answer: _Answer) -> bytes:
    if answer.raw is not None:
        return answer.raw
    if answer.body is None:
        return b""
    return json.dumps(answer.body, separators=(",", ":")).encode()


def _etag_matches(header: str, etag: str) -> bool:
    if not header:
        return False
    wanted = {tag.strip().removeprefix("W/") for tag in header.split(",")}
    return "*" in wanted or etag.removeprefix("W/") in wanted


def _redacted(headers: dict[str, str]) -> dict[str, str]:
    out = dict(headers)
    if "authorization" in out:
        scheme = out["authorization"].partition(" ")[0]
        out["authorization"] = f"{scheme} <redacted>"
    return out


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


class _EmulatorHandler(BaseHTTPRequestHandler):
    """HTTP/1.1 keep-alive handler that defers every request to the emulator."""

    owner: GitHubEmulator
    protocol_version = "HTTP/1.1"
    _reset = False

    def setup(self) -> None:
        super().setup()
        # Headers and body leave in separate writes; without this, Nagle's
        # algorithm and delayed ACKs add ~40 ms to every answer.
        self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        with self.owner._lock:
            self.owner._connections.add(self.connection)

    def _serve(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        answer = self.owner.handle(self.command, self.path, dict(self.headers.items()), body)
        if answer is None:
            self._reset = True
            self.close_connection = True
            return
        payload = _encode(answer)
        self.send_response(answer.status)
        for key, value in answer.headers.items():
            self.send_header(key, value)
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        if payload:
            self.wfile.write(payload)

    do_GET = do_HEAD = do_POST = do_PUT = do_PATCH = do_DELETE = _serve

    def finish(self) -> None:
        with self.owner._lock:
            self.owner._connections.discard(self.connection)
        if self._reset:
            # SO_LINGER 0 makes close() send RST: the client sees a reset
            # connection, not a clean end of stream.
            self.rfile.close()
            self.wfile.close()
            self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            self.connection.close()
            return
        with contextlib.suppress(OSError):
            super().finish()

    def log_message(self, format: str, *args: Any) -> None:
        pass  # the request log is `GitHubEmulator.requests`

    def date_time_string(self, timestamp: float | None = None) -> str:
        # The `Date` header tells GitHub's time: the emulator's clock, not the machine's.
        return super().date_time_string(self.owner.clock.time() if timestamp is None else timestamp)


def parse_link_header(value: str) -> dict[str, str]:
    """{rel: url} of a Link header."""
    links = {}
    for part in value.split(","):
        match = re.match(r'\s*<([^>]+)>;\s*rel="([^"]+)"', part)
        if match:
            links[match.group(2)] = match.group(1)
    return links
