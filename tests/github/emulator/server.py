"""`GitHubEmulator`: the HTTP server, request dispatch, authentication, the rate limit and
ETags, the route table, and the registry served at the root."""

from __future__ import annotations

import contextlib
import hashlib
import itertools
import json
import re
import socket
import threading
from http.server import ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qsl, unquote, urlsplit

from openapi_core import OpenAPI

from tests.github.clock import RealClock
from tests.github.emulator.model import (
    DEFAULT_TOKEN,
    Clock,
    Handler,
    RecordedRequest,
    ReturnRunDetails,
    _Account,
    _Answer,
    _Ctx,
    _Fault,
    _HttpError,
    _not_found,
    _Package,
    _Repo,
    _Run,
)
from tests.github.emulator.pulls import _Pulls
from tests.github.emulator.registry import RegistryEmulation
from tests.github.emulator.wire import _EmulatorHandler, _encode, _etag_matches, _redacted
from tests.github.openapi_check import Exchange, SpecChecker, checker_for


class GitHubEmulator(_Pulls):
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
            now=lambda: self.clock.time(),
        )
        """The container registry, served at the server's root (`/v2/`, `/token`)."""

        self._lock = threading.RLock()
        self._ids = itertools.count(1)
        self._accounts: dict[str, _Account] = {}
        self._repos: dict[str, _Repo] = {}
        self._runs: list[_Run] = []
        self._packages: dict[tuple[str, str], _Package] = {}
        self._issues = {}
        self._pull_heads = {}
        self._faults: list[_Fault] = []
        self._cancelled: list[int] = []
        self._rate_used = 0
        self._rate_reset: float | None = None
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None
        self._connections: set[socket.socket] = set()
        self._routes = self._build_routes()

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
            ("GET", rf"{repo}/issues", self._list_issues),
            ("POST", rf"{repo}/issues", self._create_issue),
            ("PATCH", rf"{repo}/issues/(?P<issue_number>{seg})", self._update_issue),
            ("GET", rf"{repo}/issues/(?P<issue_number>{seg})/comments", self._list_comments),
            ("POST", rf"{repo}/issues/(?P<issue_number>{seg})/comments", self._create_comment),
            ("PATCH", rf"{repo}/issues/comments/(?P<comment_id>{seg})", self._update_comment),
            ("GET", rf"{repo}/pulls", self._list_pulls),
            ("GET", rf"{repo}/pulls/(?P<pull_number>{seg})", self._get_pull),
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
