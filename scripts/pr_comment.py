"""Post, or edit in place, the one PR comment that describes a PR's environment.

    pulumi stack output --stack pr-12 --json > outputs.json
    python -m scripts.pr_comment --repo owner/name --pr 12 --environment pr-12 \\
        --outputs-json outputs.json [--run-url URL]
    python -m scripts.pr_comment ... --url URL --backend-image REF --frontend-image REF
    python -m scripts.pr_comment ... --building --commit SHA
    python -m scripts.pr_comment ... --failed --commit SHA   # names the failed job and step
    python -m scripts.pr_comment --repo owner/name --pr 12 --environment pr-12 --destroyed
    python -m scripts.pr_comment --repo owner/name --pr 12 --environment pr-12 --not-found

The comment carries a hidden marker; the first comment by the bot that has it
is edited, so a PR gets one comment however many times it is updated. It is
looked for on every page of the PR's comments: pulumi/actions' own
`edit-pr-comment` looks only at the first page (src/libs/pr.ts, one
`issues.listComments` call), so a busy PR got a new comment on every push.
Stack outputs used: `url`, `backendImage`, `frontendImage` (missing ones are
shown as such). The token (GITHUB_TOKEN) needs `pull-requests: write` on the
PR's repository; `--bot-login token-user` means the token's own user wrote
the comment (a personal token, on the application repository). `--failed`
reads this run's jobs (GITHUB_REPOSITORY, GITHUB_RUN_ID) with RUN_TOKEN, or
GITHUB_TOKEN when that is unset.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from scripts.github_api import GitHubApi, GitHubApiError, check_repository, token_from_env
from scripts.stack_names import check_environment

MARKER = "<!-- tims-stack:pr-environment -->"
DEFAULT_BOT_LOGIN = "github-actions[bot]"
TOKEN_USER = "token-user"  # noqa: S105 (a --bot-login value, not a secret)


@dataclass(frozen=True)
class EnvironmentOutputs:
    url: str | None
    backend_image: str | None
    frontend_image: str | None

    @classmethod
    def from_stack_outputs(cls, outputs: Mapping[str, Any]) -> EnvironmentOutputs:
        """From `pulumi stack output --json`; a present output must be a string."""
        values: dict[str, str | None] = {}
        for key in ("url", "backendImage", "frontendImage"):
            value = outputs.get(key)
            if value is not None and not isinstance(value, str):
                raise ValueError(
                    f"stack output {key!r} is a {type(value).__name__}, expected a string"
                )
            values[key] = value or None
        return cls(values["url"], values["backendImage"], values["frontendImage"])


def _code(value: str | None) -> str:
    if value is None:
        return "_not set_"
    # A value must not break out of its code span or its table row.
    cleaned = value.replace("`", "'").replace("|", "\\|").replace("\n", " ")
    return f"`{cleaned}`"


def _link(url: str | None) -> str:
    if url and url.startswith(("https://", "http://")) and not any(c in url for c in " |<>`\n"):
        return url
    return _code(url)


def render_body(
    environment: str,
    outputs: EnvironmentOutputs | None,
    *,
    run_url: str | None = None,
    destroyed: bool = False,
    not_found: bool = False,
    building: bool = False,
    failed: Sequence[str] | None = None,
    commit: str | None = None,
    stopped: bool = False,
) -> str:
    """The comment text; `outputs` is ignored unless the environment is up.

    `building`: a deploy of `commit` started. `failed`: it failed, in these
    `job > step`s (empty when GitHub named none). `stopped`: the nightly stop
    scaled it to zero (the outputs are still shown).
    """
    check_environment(environment)
    lines = [MARKER, f"### Environment `{environment}`", ""]
    at = f" of commit {_code(commit[:12])}" if commit else ""
    if building:
        lines.append(f"**Deploying**{at}: building the images, then updating the environment.")
    elif failed is not None:
        where = ", ".join(_code(step) for step in failed) or "a step GitHub did not name"
        lines.append(f"**The deploy{at} failed** in {where}. See the workflow run for its log.")
    elif not_found:
        lines.append(
            f"The PR was closed, but the state backend has no stack `{environment}`, so "
            "nothing was destroyed. If this PR had an environment, the backend URL or Pulumi "
            "organisation differ from the ones its deploy used, and it may still be running: "
            "see the workflow run."
        )
    elif destroyed or outputs is None:
        lines.append("This environment was destroyed and its stack removed: the PR was closed.")
    else:
        if stopped:
            lines += [
                "**Stopped** outside working hours: every workload is scaled to zero, the "
                "data is kept. It starts again when working hours begin, or on the next push.",
                "",
            ]
        lines += [
            "| | |",
            "|---|---|",
            f"| URL | {_link(outputs.url)} |",
            f"| Backend image | {_code(outputs.backend_image)} |",
            f"| Frontend image | {_code(outputs.frontend_image)} |",
        ]
    if run_url:
        lines += ["", f"Updated by [this workflow run]({run_url})."]
    return "\n".join(lines) + "\n"


def edit_existing(api: GitHubApi, repo: str, pr: int, body: str, *, bot_login: str) -> bool:
    """Edit the PR's environment comment if it has one (never post a new one)."""
    found = find_comment(api, check_repository(repo), pr, bot_login)
    if found is None:
        return False
    api.request("PATCH", f"/repos/{repo}/issues/comments/{found}", json={"body": body})
    return True


def failed_steps(api: GitHubApi, repo: str, run_id: int) -> list[str]:
    """`job > step` of every failed step of a workflow run (the running job's too)."""
    found: list[str] = []
    for job in api.paginate(f"/repos/{repo}/actions/runs/{run_id}/jobs", key="jobs"):
        for step in job.get("steps") or []:
            if step.get("conclusion") == "failure":
                found.append(f"{job.get('name')} > {step.get('name')}")
    return found


def own_login(api: GitHubApi) -> str:
    """The login of the token's own user: the author of the comments a personal token writes
    (on the application repository, where the workflow's GITHUB_TOKEN cannot write)."""
    body = api.request("GET", "/user").json()
    login = body.get("login") if isinstance(body, dict) else None
    if not isinstance(login, str) or not login:
        raise GitHubApiError("GET /user: no login in the answer")
    return login


def find_marked(
    api: GitHubApi, repo: str, pr: int, bot_login: str, marker: str = MARKER
) -> tuple[int, str] | None:
    """Id and body of the first comment on the PR by `bot_login` that carries `marker`."""
    for comment in api.paginate(f"/repos/{repo}/issues/{pr}/comments"):
        author = (comment.get("user") or {}).get("login")
        body = comment.get("body") or ""
        if author == bot_login and marker in body:
            return int(comment["id"]), str(body)
    return None


def find_comment(
    api: GitHubApi, repo: str, pr: int, bot_login: str, marker: str = MARKER
) -> int | None:
    """Id of the first comment on the PR written by `bot_login` that carries the marker."""
    found = find_marked(api, repo, pr, bot_login, marker)
    return None if found is None else found[0]


def upsert_comment(
    api: GitHubApi,
    repo: str,
    pr: int,
    body: str,
    bot_login: str = DEFAULT_BOT_LOGIN,
    marker: str = MARKER,
) -> tuple[str, int]:
    """Edit the marked comment or post a new one; returns ("edited"|"created", comment id)."""
    check_repository(repo)
    existing = find_comment(api, repo, pr, bot_login, marker)
    if existing is not None:
        api.request("PATCH", f"/repos/{repo}/issues/comments/{existing}", json={"body": body})
        return "edited", existing
    response = api.request(
        "POST", f"/repos/{repo}/issues/{pr}/comments", json={"body": body}, expected=(201,)
    )
    return "created", int(response.json()["id"])


def _failed(failed: bool) -> list[str] | None:
    if not failed:
        return None
    token = os.environ.get("RUN_TOKEN") or token_from_env("GITHUB_TOKEN")
    repo = check_repository(os.environ.get("GITHUB_REPOSITORY", ""))
    with GitHubApi(token) as api:
        return failed_steps(api, repo, int(os.environ.get("GITHUB_RUN_ID") or 0))


def _outputs_from_args(args: argparse.Namespace) -> EnvironmentOutputs | None:
    if args.destroyed or args.not_found or args.building or args.failed:
        return None
    if args.outputs_json is not None:
        loaded = json.loads(args.outputs_json.read_text(encoding="utf-8"))
        if not isinstance(loaded, dict):
            raise ValueError(f"{args.outputs_json} does not hold a JSON object")
        return EnvironmentOutputs.from_stack_outputs(loaded)
    # Step outputs of pulumi/actions arrive as strings; an absent output is "".
    return EnvironmentOutputs.from_stack_outputs(
        {"url": args.url, "backendImage": args.backend_image, "frontendImage": args.frontend_image}
    )


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Post or edit the PR environment comment.")
    parser.add_argument("--repo", required=True, help="owner/name")
    parser.add_argument("--pr", required=True, type=int, help="pull request number")
    parser.add_argument("--environment", required=True, help="environment name, e.g. pr-12")
    parser.add_argument("--outputs-json", type=Path, help="output of `pulumi stack output --json`")
    parser.add_argument("--url", help="stack output url")
    parser.add_argument("--backend-image", help="stack output backendImage")
    parser.add_argument("--frontend-image", help="stack output frontendImage")
    parser.add_argument("--destroyed", action="store_true", help="say the environment is gone")
    parser.add_argument(
        "--not-found", action="store_true", help="say the closed PR's stack was not found"
    )
    parser.add_argument("--building", action="store_true", help="say a deploy started")
    parser.add_argument("--failed", action="store_true", help="say the deploy failed, and where")
    parser.add_argument("--commit", help="the commit being deployed")
    parser.add_argument("--run-url", help="link to the workflow run")
    parser.add_argument("--bot-login", default=DEFAULT_BOT_LOGIN, help="author of our comment")
    args = parser.parse_args(argv)
    given = [
        name
        for name, present in (
            ("--outputs-json", args.outputs_json is not None),
            (
                "--url/--backend-image/--frontend-image",
                any(v is not None for v in (args.url, args.backend_image, args.frontend_image)),
            ),
            ("--destroyed", args.destroyed),
            ("--not-found", args.not_found),
            ("--building", args.building),
            ("--failed", args.failed),
        )
        if present
    ]
    if len(given) != 1:
        parser.error(
            "give exactly one of --outputs-json, --url/--backend-image/--frontend-image, "
            f"--destroyed, --not-found, --building or --failed (got: {', '.join(given) or 'none'})"
        )
    try:
        failed = _failed(args.failed)
        body = render_body(
            args.environment,
            _outputs_from_args(args),
            run_url=args.run_url,
            destroyed=args.destroyed,
            not_found=args.not_found,
            building=args.building,
            failed=failed,
            commit=args.commit,
        )
        with GitHubApi(token_from_env("GITHUB_TOKEN")) as api:
            login = own_login(api) if args.bot_login == TOKEN_USER else args.bot_login
            action, comment_id = upsert_comment(api, args.repo, args.pr, body, login)
    except (GitHubApiError, ValueError, OSError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    print(f"{action} comment {comment_id} on {args.repo}#{args.pr}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
