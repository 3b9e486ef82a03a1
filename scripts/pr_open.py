"""Is the pull request still open? Asked right before `pulumi up` or `pulumi destroy`.

    python -m scripts.pr_open --repo owner/name --pr 123 [--before up|destroy]

The `up` job of pr-environment.yml can wait in its concurrency group behind a
preview for a long time, while the close's `destroy` job runs in a group of
its own. Without this check, an `up` queued before the close could start
after the destroy and bring the environment back for a closed PR.

The `destroy` job waits (up to 120 minutes) for runs still working on the
stack. A PR reopened meanwhile has a new `up` of its own, which may already
have deployed: with `--before destroy`, an open PR means "keep the stack".

`--decide` (a pull request of the application repository, whose workflow
only says "PR <n> changed"): the PR's state, head and labels are read from
GitHub, never taken from the dispatch, and decide as the label rules do for
this repository's PRs (scripts/labels.py): an open PR deploys its head
branch, a closed one is destroyed, a fork's PR gets a notice and nothing.
Writes `deploy`, `destroy`, `head-ref` and `head-sha`.

Otherwise writes `open=true` or `open=false` to the step outputs file named by
GITHUB_OUTPUT (when set) and prints what it found; a closed or missing pull
request also gets a visible `::notice`. Any API error exits 1 without writing
an output: neither deploying nor silently skipping is right when GitHub's
answer is unknown. The token comes from GITHUB_TOKEN.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import TextIO

from scripts.github_api import GitHubApi, GitHubApiError, token_from_env
from scripts.labels import decide
from scripts.orphans import GitHubPrLookup, PrLookup, PrState, PullRequest
from scripts.stack_names import stack_name_for_pr


def check_pr_open(
    lookup: PrLookup, number: int, output: Path | None, out: TextIO, *, before: str = "up"
) -> bool:
    """Look PR `number` up now; record `open=<bool>` in `output` and say what happens.

    `before` is the command that follows: `up` runs only for an open PR,
    `destroy` only for one that is not open.
    """
    stack = stack_name_for_pr(number)
    state = lookup(number)
    is_open = state is PrState.OPEN
    if before == "destroy":
        _say_before_destroy(number, stack, state, out)
    elif is_open:
        print(f"PR #{number} is open: deploying {stack}", file=out)
    else:
        print(
            f"::notice title=PR environment skipped::PR #{number} is {state.value} now, "
            f"so {stack} is not deployed. Its destroy job (or sweep.yml) removes the stack.",
            file=out,
        )
    if output is not None:
        with output.open("a", encoding="utf-8") as handle:
            handle.write(f"open={'true' if is_open else 'false'}\n")
    return is_open


def _say_before_destroy(number: int, stack: str, state: PrState, out: TextIO) -> None:
    if state is PrState.OPEN:
        print(
            f"::notice title=PR environment kept::PR #{number} was reopened while this "
            f"destroy waited, so {stack} is not destroyed: the reopen's own run deploys it.",
            file=out,
        )
    else:
        print(f"PR #{number} is {state.value}: destroying {stack}", file=out)


def decide_app_pr(
    pull: PullRequest | None, number: int, repo: str, mode: str, out: TextIO
) -> dict[str, str]:
    """What a dispatch for PR `number` of the application repository `repo` does."""
    stack = stack_name_for_pr(number, app=True)
    outputs = {"deploy": "false", "destroy": "false", "head-ref": "", "head-sha": ""}
    if pull is None:
        print(f"::notice title=No PR environment::{repo}#{number} does not exist.", file=out)
        return outputs
    same_repo = pull.head_repo == repo
    if not same_repo:
        print(
            f"::notice title=No PR environment (fork)::{repo}#{number} comes from the fork "
            f"{pull.head_repo or '(deleted)'}: fork PRs get no environment, since building and "
            "deploying them would run the fork's code with this repository's secrets.",
            file=out,
        )
        return outputs
    action = "synchronize" if pull.state is PrState.OPEN else "closed"
    decision = decide(mode=mode, action=action, label=None, labels=pull.labels, same_repo=True)
    print(f"{repo}#{number} is {pull.state.value}, {stack}: {decision.reason}", file=out)
    outputs.update(
        deploy=str(decision.deploy).lower(),
        destroy=str(decision.destroy).lower(),
        **{"head-ref": pull.head_ref, "head-sha": pull.head_sha},
    )
    return outputs


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--repo", required=True, help="owner/name of the pull request")
    parser.add_argument("--pr", required=True, type=int, help="pull request number")
    parser.add_argument(
        "--before",
        choices=("up", "destroy"),
        default="up",
        help="the command that follows (only the message differs)",
    )
    parser.add_argument("--decide", action="store_true", help="(app PR) deploy or destroy?")
    parser.add_argument("--mode", default="", help="(with --decide) PR_ENVIRONMENTS")
    args = parser.parse_args(argv)
    output_file = os.environ.get("GITHUB_OUTPUT", "")
    try:
        token = token_from_env("GITHUB_TOKEN")
        with GitHubApi(token) as api:
            if args.decide:
                pull = GitHubPrLookup(api, args.repo).pull(args.pr)
                outputs = decide_app_pr(pull, args.pr, args.repo, args.mode, sys.stdout)
                if output_file:
                    with Path(output_file).open("a", encoding="utf-8") as handle:
                        handle.writelines(f"{k}={v}\n" for k, v in outputs.items())
                return 0
            check_pr_open(
                GitHubPrLookup(api, args.repo),
                args.pr,
                Path(output_file) if output_file else None,
                sys.stdout,
                before=args.before,
            )
    except (GitHubApiError, ValueError) as exc:
        print(
            f"::error title=Cannot tell whether PR #{args.pr} is open::{exc}. "
            f"Nothing was {'destroyed' if args.before == 'destroy' else 'deployed'}.",
            file=sys.stderr,
        )
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
