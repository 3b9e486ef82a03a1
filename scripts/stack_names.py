"""Stack (environment) names for pull requests and branches.

One Pulumi stack is one environment, and the environment name ends up in the
Kubernetes namespace `tims-stack-<env>`, which must be an RFC 1123 label: at
most 63 characters of `a-z`, `0-9` and `-`, starting and ending alphanumeric.
So an environment name is itself such a label of at most 52 characters.

Branch names are mapped to that alphabet. Whenever the mapping loses
information (invalid characters, upper case, truncation), a short hash of the
original branch name is appended so two branches never share an environment.
Names of the form `pr-<number>` (pull requests of this repository) and
`app-pr-<number>` (pull requests of the application repository) are reserved,
because the sweep decides their fate from the pull request's state. The two
prefixes keep both PRs number 12 apart, and say where each comes from.

    python -m scripts.stack_names --pr 123          # pr-123
    python -m scripts.stack_names --app-pr 123      # app-pr-123
    python -m scripts.stack_names --branch feat/Foo # feat-foo-<hash>
"""

from __future__ import annotations

import argparse
import hashlib
import re
import sys
from collections.abc import Sequence

from stack.naming import MAX_LABEL, PROJECT

# The program names the namespace (stack.naming.default_namespace); these only
# size environment names so that namespace never needs its hashed cut.
NAMESPACE_PREFIX = f"{PROJECT}-"
MAX_LABEL_LENGTH = MAX_LABEL
MAX_ENV_LENGTH = MAX_LABEL_LENGTH - len(NAMESPACE_PREFIX)  # 52
HASH_LENGTH = 8
PR_PREFIX = "pr-"
APP_PR_PREFIX = "app-pr-"

_LABEL_RE = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
_PR_NAME_RE = re.compile(r"^pr-([1-9][0-9]*)$")
_APP_PR_NAME_RE = re.compile(r"^app-pr-([1-9][0-9]*)$")
_INVALID_RUN_RE = re.compile(r"[^a-z0-9]+")


def check_environment(name: str) -> str:
    """Return `name` if it can be an environment name, else raise ValueError saying why."""
    if not name:
        raise ValueError("environment name is empty; use 1 to 52 characters of a-z, 0-9 and '-'")
    if len(name) > MAX_ENV_LENGTH:
        raise ValueError(
            f"environment name {name!r} is {len(name)} characters; at most {MAX_ENV_LENGTH} "
            f"are allowed so the namespace {NAMESPACE_PREFIX}<env> stays within "
            f"{MAX_LABEL_LENGTH}"
        )
    if not _LABEL_RE.fullmatch(name):
        raise ValueError(
            f"environment name {name!r} is not an RFC 1123 label: use only a-z, 0-9 and '-', "
            "starting and ending with a letter or digit"
        )
    return name


def stack_name_for_pr(number: int, *, app: bool = False) -> str:
    """`pr-<number>` for a pull request of this repository, `app-pr-<number>` for one of
    the application repository (`app=True`)."""
    if isinstance(number, bool) or not isinstance(number, int) or number < 1:
        raise ValueError(f"pull request number must be a positive integer, got {number!r}")
    return check_environment(f"{APP_PR_PREFIX if app else PR_PREFIX}{number}")


def pr_number_of(stack_name: str, *, app: bool = False) -> int | None:
    """The PR number of a `pr-<number>` stack (`app-pr-<number>` with `app=True`; also
    `org/...`), else None."""
    pattern = _APP_PR_NAME_RE if app else _PR_NAME_RE
    match = pattern.fullmatch(stack_name.rsplit("/", 1)[-1])
    return int(match.group(1)) if match else None


def _short_hash(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:HASH_LENGTH]


def stack_name_for_branch(branch: str) -> str:
    """An environment name for a git branch: the branch itself when it already is one.

    Otherwise: lower-cased, every run of other characters turned into one '-',
    cut so `<slug>-<hash>` fits 52 characters, and suffixed with a hash of the
    full branch name. `refs/heads/` is ignored.
    """
    if not isinstance(branch, str):
        raise ValueError(f"branch name must be a string, got {type(branch).__name__}")
    name = branch.removeprefix("refs/heads/")
    if not name.strip():
        raise ValueError(f"branch name {branch!r} is empty")
    slug = _INVALID_RUN_RE.sub("-", name.lower()).strip("-")
    exact = (
        slug == name
        and len(slug) <= MAX_ENV_LENGTH
        # A branch may not take a pull request's name: the sweep would treat it as one.
        and pr_number_of(slug) is None
        and pr_number_of(slug, app=True) is None
    )
    if exact:
        return check_environment(slug)
    room = MAX_ENV_LENGTH - HASH_LENGTH - 1
    base = slug[:room].rstrip("-") or "branch"
    return check_environment(f"{base}-{_short_hash(name)}")


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Print the stack name for a PR or a branch.")
    which = parser.add_mutually_exclusive_group(required=True)
    which.add_argument("--pr", type=int, help="pull request number")
    which.add_argument("--app-pr", type=int, help="pull request number on the application repo")
    which.add_argument("--branch", help="git branch name")
    args = parser.parse_args(argv)
    try:
        if args.branch is not None:
            name = stack_name_for_branch(args.branch)
        else:
            app = args.app_pr is not None
            name = stack_name_for_pr(args.app_pr if app else args.pr, app=app)
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(name)
    return 0


if __name__ == "__main__":
    sys.exit(main())
