"""JSON shapes of accounts, repositories and commits, as GitHub's description gives them."""

from __future__ import annotations

from typing import Any

from tests.github.emulator.model import (
    HTML_BASE,
    _Account,
    _Commit,
    _fake_sha,
    _node_id,
    _Repo,
    iso,
)
from tests.github.emulator.state import EmulatorState


class _Views(EmulatorState):
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
