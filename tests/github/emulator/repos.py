"""Accounts, repositories, branches, commits and workflows: set-up and REST handlers."""

from __future__ import annotations

import re
from typing import Literal

from tests.github.emulator.model import (
    HTML_BASE,
    _Account,
    _Answer,
    _Commit,
    _Ctx,
    _fake_sha,
    _HttpError,
    _node_id,
    _not_found,
    _Repo,
    _Workflow,
    iso,
)
from tests.github.emulator.views import _Views


class _Repos(_Views):
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
