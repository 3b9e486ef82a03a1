"""What every part of the emulator shares: its state, lookups, pagination and scopes.

The emulator is one class built in layers, one module each (`views` -> `repos` ->
`run_views` -> `runs` -> `packages` -> `faults` -> `issues` -> `pulls` -> `server`);
each layer uses only what this base and the layers below it define.
"""

from __future__ import annotations

import itertools
import socket
import threading
from http.server import ThreadingHTTPServer
from typing import Any
from urllib.parse import urlencode

from tests.github.emulator.model import (
    Clock,
    Handler,
    RecordedRequest,
    ReturnRunDetails,
    _Account,
    _Ctx,
    _Fault,
    _not_found,
    _Package,
    _Repo,
    _Run,
    _Workflow,
)
from tests.github.emulator.registry import RegistryEmulation
from tests.github.emulator.wire import _int
from tests.github.openapi_check import SpecChecker


class EmulatorState:
    """Attributes set by `GitHubEmulator.__init__`, and the helpers every layer uses."""

    clock: Clock
    token: str
    path_prefix: str
    base_url: str
    registry_url: str
    return_run_details: ReturnRunDetails
    rate_limit_total: int
    cancel_latency: float
    requests: list[RecordedRequest]
    spec_violations: list[str]
    unvalidated: list[str]
    validated_operations: set[str]
    authenticated_login: str | None
    oauth_scopes: str | None
    registry: RegistryEmulation
    _checker: SpecChecker | None
    _lock: threading.RLock
    _ids: itertools.count[int]
    _accounts: dict[str, _Account]
    _repos: dict[str, _Repo]
    _runs: list[_Run]
    _packages: dict[tuple[str, str], _Package]
    _faults: list[_Fault]
    _cancelled: list[int]
    _rate_used: int
    _rate_reset: float | None
    _server: ThreadingHTTPServer | None
    _thread: threading.Thread | None
    _connections: set[socket.socket]
    _routes: list[tuple[str, Any, Handler]]

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

    def _next_id(self, base: int) -> int:
        return base + next(self._ids)

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

    def _has_scope(self, *accepted: str) -> bool:
        if self.oauth_scopes is None:
            return True
        granted = {scope.strip() for scope in self.oauth_scopes.split(",")}
        return bool(granted & set(accepted))

    def _settle(self, now: float) -> None:
        """Apply the effects of runs that completed by `now` (see `runs`)."""
        raise NotImplementedError
