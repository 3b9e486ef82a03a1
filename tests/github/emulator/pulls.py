"""Pull requests of a repository: set-up, list and get.

As GitHub answers (`pulls/list`, `pulls/get` in its description,
tests/github/openapi/issues.subset.json):
- a pull request is an issue too: it shares the issue numbers, labels and
  comments (`issues/list-comments` on its number lists its conversation);
- `head` names the branch, its commit and the repository it lives in, a fork
  for a fork's PR (`fork: true`); `base` the branch it merges into;
- the list is newest first and filtered by `state` (default `open`, or `all`);
- a number that is an issue, not a pull request, answers 404.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from tests.github.emulator.issues import _Issue, _Issues
from tests.github.emulator.model import HTML_BASE, _Answer, _Ctx, _node_id, _not_found, _Repo, iso

# Fields of a full repository (repos/get) that the `repository` embedded in a PR's
# head and base does not have.
_NOT_IN_PR_REPOSITORY = ("subscribers_count", "network_count")


@dataclass
class _PullHead:
    ref: str
    sha: str
    repo: str
    """owner/name of the head branch's repository: a fork's for a fork's PR."""
    base: str


class _Pulls(_Issues):
    _pull_heads: dict[int, _PullHead]
    """Head and base of each pull request, by its issue id."""

    def add_pull(
        self,
        full_name: str,
        head_ref: str,
        head_sha: str,
        *,
        head_repo: str | None = None,
        labels: list[str] | None = None,
        author: str | None = None,
    ) -> int:
        """An open pull request of `full_name` from `head_ref` at `head_sha`; its number.

        `head_repo` (a repository added before) is where the branch lives, for a fork's PR."""
        with self._lock:
            repo = self._repo_or_error(full_name)
            head = self._repo_or_error(head_repo or full_name)
            number = self.add_issue(
                full_name,
                f"Update {head_ref}",
                "",
                author=author,
                labels=labels,
                pull_request=True,
            )
            _, issue = self._issue(repo.owner, repo.name, str(number))
            self._pull_heads[issue.id] = _PullHead(
                head_ref, head_sha, head.full_name, repo.default_branch
            )
            return number

    def push_pull(self, full_name: str, number: int, sha: str) -> None:
        """A push to the pull request's branch: its head commit becomes `sha`."""
        with self._lock:
            issue = self._pull_or_error(full_name, number)
            self._pull_heads[issue.id].sha = sha
            issue.updated_at = self.clock.time()

    def set_pull_state(self, full_name: str, number: int, state: str) -> None:
        """Close ("closed") or reopen ("open") a pull request."""
        if state not in ("open", "closed"):
            raise ValueError(f"pull request state {state!r}; allowed: open, closed")
        with self._lock:
            issue = self._pull_or_error(full_name, number)
            now = self.clock.time()
            issue.state, issue.updated_at = state, now
            issue.closed_at = now if state == "closed" else None

    def _pull_or_error(self, full_name: str, number: int) -> _Issue:
        repo = self._repo_or_error(full_name)
        _, issue = self._issue(repo.owner, repo.name, str(number))
        if not issue.pull_request:
            raise ValueError(f"{full_name}#{number} is an issue, not a pull request")
        return issue

    def _pr_repository(self, repo: _Repo, now: float, fork: bool) -> dict[str, Any]:
        data = self._full_repo(repo, now)
        for key in _NOT_IN_PR_REPOSITORY:
            data.pop(key)
        data["fork"] = fork
        return data

    def _branch_json(
        self, repo: _Repo, ref: str, sha: str, now: float, fork: bool
    ) -> dict[str, Any]:
        return {
            "label": f"{repo.owner}:{ref}",
            "ref": ref,
            "sha": sha,
            "user": self._simple_user(self._accounts[repo.owner.lower()]),
            "repo": self._pr_repository(repo, now, fork),
        }

    def _pull_json(self, repo: _Repo, issue: _Issue, now: float, full: bool) -> dict[str, Any]:
        head = self._pull_heads[issue.id]
        head_repo = self._repo_or_error(head.repo)
        base = repo.branches[head.base]
        api = f"{self._api}/repos/{repo.full_name}"
        html = f"{HTML_BASE}/{repo.full_name}/pull/{issue.number}"
        issue_json = self._issue_json(repo.full_name, issue)
        links = {
            "self": f"{api}/pulls/{issue.number}",
            "html": html,
            "issue": f"{api}/issues/{issue.number}",
            "comments": f"{api}/issues/{issue.number}/comments",
            "review_comments": f"{api}/pulls/{issue.number}/comments",
            "review_comment": f"{api}/pulls/comments{{/number}}",
            "commits": f"{api}/pulls/{issue.number}/commits",
            "statuses": f"{api}/statuses/{head.sha}",
        }
        body: dict[str, Any] = {
            "url": links["self"],
            "id": issue.id,
            "node_id": _node_id("PR", issue.id),
            "html_url": html,
            "diff_url": f"{html}.diff",
            "patch_url": f"{html}.patch",
            "issue_url": links["issue"],
            "commits_url": links["commits"],
            "review_comments_url": links["review_comments"],
            "review_comment_url": links["review_comment"],
            "comments_url": links["comments"],
            "statuses_url": links["statuses"],
            "number": issue.number,
            "state": issue.state,
            "locked": False,
            "title": issue.title,
            "user": issue_json["user"],
            "body": issue.body,
            # pulls/list describes a label's description as a string, never null.
            "labels": [{**label, "description": ""} for label in issue_json["labels"]],
            "milestone": None,
            "assignee": None,
            "created_at": iso(issue.created_at),
            "updated_at": iso(issue.updated_at),
            "closed_at": issue_json["closed_at"],
            "merged_at": None,
            "merge_commit_sha": None,
            "head": self._branch_json(
                head_repo, head.ref, head.sha, now, fork=head_repo is not repo
            ),
            "base": self._branch_json(repo, head.base, base, now, fork=False),
            "_links": {key: {"href": href} for key, href in links.items()},
            "author_association": "OWNER",
            "auto_merge": None,
            "draft": False,
        }
        if full:
            body.update(
                {
                    "merged": False,
                    "mergeable": True,
                    "mergeable_state": "clean",
                    "merged_by": None,
                    "comments": len(issue.comments),
                    "review_comments": 0,
                    "maintainer_can_modify": False,
                    "commits": 1,
                    "additions": 1,
                    "deletions": 0,
                    "changed_files": 1,
                }
            )
        return body

    def _list_pulls(self, ctx: _Ctx, owner: str, repo: str) -> _Answer:
        found = self._repo(owner, repo)
        state = ctx.q("state", "open")
        matching = [
            issue
            for issue in reversed(self._issues.get(found.full_name.lower(), []))
            if issue.pull_request and state in ("all", issue.state)
        ]
        page, link = self._paginate(ctx, matching)
        return _Answer(200, [self._pull_json(found, i, ctx.now, full=False) for i in page], link)

    def _get_pull(self, ctx: _Ctx, owner: str, repo: str, pull_number: str) -> _Answer:
        found = self._repo(owner, repo)
        _, issue = self._issue(owner, repo, pull_number)
        if not issue.pull_request:
            raise _not_found()
        return _Answer(200, self._pull_json(found, issue, ctx.now, full=True))
