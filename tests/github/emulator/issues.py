"""Issues of a repository and their comments: list (paginated), create, update.

As GitHub answers (`issues/list-for-repo`, `issues/create`, `issues/update` in its
description, tests/github/openapi/issues.subset.json):
- the list holds pull requests too, each with a `pull_request` object;
- the author is the token's account; a label unknown to the repository is created;
- closing sets `closed_at` and, unless given, `state_reason` "completed"; reopening
  clears `closed_at` and sets "reopened";
- an issue in another repository, or a number that is not one, answers 404;
- comments are listed oldest first; a PR's comments are its issue's; the author
  of a comment is the token's account.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from tests.github.emulator.faults import _Faults
from tests.github.emulator.model import (
    HTML_BASE,
    _Answer,
    _Ctx,
    _HttpError,
    _node_id,
    _not_found,
    iso,
)

STATES = ("open", "closed")
STATE_REASONS = ("completed", "not_planned", "duplicate", "reopened")


@dataclass
class _Issue:
    id: int
    number: int
    title: str
    body: str | None
    author: str
    created_at: float
    updated_at: float
    labels: list[str] = field(default_factory=list)
    state: str = "open"
    state_reason: str | None = None
    closed_at: float | None = None
    pull_request: bool = False
    comments: list[_Comment] = field(default_factory=list)


@dataclass
class _Comment:
    id: int
    body: str
    author: str
    created_at: float
    updated_at: float


class _Issues(_Faults):
    _issues: dict[str, list[_Issue]]
    """Issues (and PRs, as the issues list shows them) by lower-cased repository name."""

    def add_issue(
        self,
        full_name: str,
        title: str,
        body: str = "",
        *,
        author: str | None = None,
        labels: list[str] | None = None,
        pull_request: bool = False,
    ) -> int:
        """An issue (or, with `pull_request`, a PR as the issues list shows it); its number."""
        with self._lock:
            repo = self._repo_or_error(full_name)
            login = author or self.authenticated_login
            if login is None or login.lower() not in self._accounts:
                raise ValueError(f"issue author {login!r} is unknown; call add_account first")
            issue = self._new_issue(
                repo.full_name, title, body, self._accounts[login.lower()].login, labels or []
            )
            issue.pull_request = pull_request
            return issue.number

    def issues(self, full_name: str) -> list[dict[str, Any]]:
        """Every issue of a repository as (state, title, body, labels), for assertions."""
        with self._lock:
            return [
                {
                    "number": i.number,
                    "state": i.state,
                    "title": i.title,
                    "body": i.body,
                    "labels": list(i.labels),
                    "state_reason": i.state_reason,
                }
                for i in self._issues.get(full_name.lower(), [])
                if not i.pull_request
            ]

    def _new_issue(
        self, full_name: str, title: str, body: str | None, author: str, labels: list[str]
    ) -> _Issue:
        now = self.clock.time()
        listed = self._issues.setdefault(full_name.lower(), [])
        issue = _Issue(
            self._next_id(3_000_000_000), len(listed) + 1, title, body, author, now, now, labels
        )
        listed.append(issue)
        return issue

    def _issue(self, owner: str, repo: str, number: str) -> tuple[str, _Issue]:
        found = self._repo(owner, repo)
        for issue in self._issues.get(found.full_name.lower(), []):
            if str(issue.number) == number:
                return found.full_name, issue
        raise _not_found()

    def _label_json(self, full_name: str, name: str) -> dict[str, Any]:
        number = sum(ord(c) for c in name) + 9_000_000
        return {
            "id": number,
            "node_id": _node_id("LA", number),
            "url": f"{self._api}/repos/{full_name}/labels/{name}",
            "name": name,
            "description": None,
            "color": "ededed",
            "default": False,
        }

    def _issue_json(self, full_name: str, issue: _Issue) -> dict[str, Any]:
        api = f"{self._api}/repos/{full_name}/issues/{issue.number}"
        kind = "pull" if issue.pull_request else "issues"
        author = self._accounts[issue.author.lower()]
        body: dict[str, Any] = {
            "id": issue.id,
            "node_id": _node_id("I", issue.id),
            "url": api,
            "repository_url": f"{self._api}/repos/{full_name}",
            "labels_url": f"{api}/labels{{/name}}",
            "comments_url": f"{api}/comments",
            "events_url": f"{api}/events",
            "html_url": f"{HTML_BASE}/{full_name}/{kind}/{issue.number}",
            "number": issue.number,
            "state": issue.state,
            "state_reason": issue.state_reason,
            "title": issue.title,
            "body": issue.body,
            "user": self._simple_user(author),
            "labels": [self._label_json(full_name, name) for name in issue.labels],
            "assignee": None,
            "assignees": [],
            "milestone": None,
            "locked": False,
            "comments": 0,
            "created_at": iso(issue.created_at),
            "updated_at": iso(issue.updated_at),
            "closed_at": iso(issue.closed_at) if issue.closed_at is not None else None,
            "author_association": "OWNER",
        }
        if issue.pull_request:
            pull = f"{self._api}/repos/{full_name}/pulls/{issue.number}"
            html = f"{HTML_BASE}/{full_name}/pull/{issue.number}"
            body["pull_request"] = {
                "url": pull,
                "html_url": html,
                "diff_url": f"{html}.diff",
                "patch_url": f"{html}.patch",
                "merged_at": None,
            }
        return body

    def _list_issues(self, ctx: _Ctx, owner: str, repo: str) -> _Answer:
        found = self._repo(owner, repo)
        state = ctx.q("state", "open")
        labels = [x for x in (ctx.q("labels") or "").split(",") if x]
        creator = ctx.q("creator")
        matching = [
            issue
            for issue in reversed(self._issues.get(found.full_name.lower(), []))
            if state in ("all", issue.state)
            and all(label in issue.labels for label in labels)
            and (creator is None or creator.lower() == issue.author.lower())
        ]
        page, link = self._paginate(ctx, matching)
        return _Answer(200, [self._issue_json(found.full_name, i) for i in page], link)

    def _create_issue(self, ctx: _Ctx, owner: str, repo: str) -> _Answer:
        found = self._repo(owner, repo)
        payload = ctx.body if isinstance(ctx.body, dict) else {}
        title = payload.get("title")
        if not isinstance(title, str) or not title:
            raise _HttpError(422, "Validation Failed")
        login = self.authenticated_login or ""
        labels = [str(x) for x in payload.get("labels") or []]
        issue = self._new_issue(found.full_name, title, payload.get("body"), login, labels)
        return _Answer(201, self._issue_json(found.full_name, issue))

    def _update_issue(self, ctx: _Ctx, owner: str, repo: str, issue_number: str) -> _Answer:
        full_name, issue = self._issue(owner, repo, issue_number)
        payload = ctx.body if isinstance(ctx.body, dict) else {}
        state = payload.get("state", issue.state)
        reason = payload.get("state_reason")
        if state not in STATES or (reason is not None and reason not in STATE_REASONS):
            raise _HttpError(422, "Validation Failed")
        if "title" in payload:
            issue.title = str(payload["title"])
        if "body" in payload:
            issue.body = payload["body"]
        if "labels" in payload:
            issue.labels = [str(x) for x in payload["labels"] or []]
        if state != issue.state:
            issue.state = state
            issue.closed_at = ctx.now if state == "closed" else None
            issue.state_reason = reason or ("completed" if state == "closed" else "reopened")
        elif reason is not None:
            issue.state_reason = reason
        issue.updated_at = ctx.now
        return _Answer(200, self._issue_json(full_name, issue))

    def add_comment(
        self, full_name: str, number: int, body: str, *, author: str | None = None
    ) -> int:
        """A comment on an issue or PR (see `add_issue`); its id."""
        with self._lock:
            repo = self._repo_or_error(full_name)
            owner, name = repo.full_name.split("/")
            _, issue = self._issue(owner, name, str(number))
            login = author or self.authenticated_login or ""
            if login.lower() not in self._accounts:
                raise ValueError(f"comment author {login!r} is unknown; call add_account first")
            now = self.clock.time()
            comment = _Comment(
                self._next_id(4_000_000_000), body, self._accounts[login.lower()].login, now, now
            )
            issue.comments.append(comment)
            return comment.id

    def comments(self, full_name: str, number: int) -> list[str]:
        """The bodies of an issue's comments, oldest first, for assertions."""
        with self._lock:
            for issue in self._issues.get(full_name.lower(), []):
                if issue.number == number:
                    return [c.body for c in issue.comments]
            return []

    def _comment_json(self, full_name: str, issue: _Issue, comment: _Comment) -> dict[str, Any]:
        kind = "pull" if issue.pull_request else "issues"
        return {
            "id": comment.id,
            "node_id": _node_id("IC", comment.id),
            "url": f"{self._api}/repos/{full_name}/issues/comments/{comment.id}",
            "html_url": f"{HTML_BASE}/{full_name}/{kind}/{issue.number}#issuecomment-{comment.id}",
            "issue_url": f"{self._api}/repos/{full_name}/issues/{issue.number}",
            "body": comment.body,
            "user": self._simple_user(self._accounts[comment.author.lower()]),
            "created_at": iso(comment.created_at),
            "updated_at": iso(comment.updated_at),
            "author_association": "OWNER",
        }

    def _list_comments(self, ctx: _Ctx, owner: str, repo: str, issue_number: str) -> _Answer:
        full_name, issue = self._issue(owner, repo, issue_number)
        page, link = self._paginate(ctx, issue.comments)
        return _Answer(200, [self._comment_json(full_name, issue, c) for c in page], link)

    def _create_comment(self, ctx: _Ctx, owner: str, repo: str, issue_number: str) -> _Answer:
        full_name, issue = self._issue(owner, repo, issue_number)
        body = ctx.body.get("body") if isinstance(ctx.body, dict) else None
        if not isinstance(body, str) or not body:
            raise _HttpError(422, "Validation Failed")
        comment = _Comment(
            self._next_id(4_000_000_000), body, self.authenticated_login or "", ctx.now, ctx.now
        )
        issue.comments.append(comment)
        return _Answer(201, self._comment_json(full_name, issue, comment))

    def _update_comment(self, ctx: _Ctx, owner: str, repo: str, comment_id: str) -> _Answer:
        found = self._repo(owner, repo)
        body = ctx.body.get("body") if isinstance(ctx.body, dict) else None
        if not isinstance(body, str):
            raise _HttpError(422, "Validation Failed")
        for issue in self._issues.get(found.full_name.lower(), []):
            for comment in issue.comments:
                if str(comment.id) == comment_id:
                    comment.body, comment.updated_at = body, ctx.now
                    return _Answer(200, self._comment_json(found.full_name, issue, comment))
        raise _not_found()
