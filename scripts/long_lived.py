"""The long-lived stacks (staging, production, ...): the one list the workflows read.

    python -m scripts.long_lived [--file .github/long-lived-stacks.yml]

Writes `stacks=<JSON list>` to GITHUB_OUTPUT (or prints it), each entry
`{"stack": ..., "environment": ...}` in the file's order, which is the deploy
order. The workflows use it as `strategy.matrix.include`. A bad file fails
naming the entry and what is allowed.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import sys
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

import yaml

from scripts.stack_names import check_environment, pr_number_of

DEFAULT_FILE = Path(".github/long-lived-stacks.yml")
# GitHub environment names: letters, digits, '-', '_', '.' (no '/', which would also
# break the concurrency group names built from them), at most 255 characters.
_GITHUB_ENVIRONMENT_RE = re.compile(r"^[A-Za-z0-9._-]{1,255}$")


class LongLivedError(ValueError):
    pass


@dataclass(frozen=True)
class LongLivedStack:
    stack: str
    """The Pulumi stack, also the environment name in tims-stack:environment."""
    environment: str
    """The GitHub environment holding its secrets (and, for production, its reviewers)."""


def parse(document: object, where: str) -> list[LongLivedStack]:
    """The stacks of a loaded file; raises LongLivedError naming the bad entry."""
    if not isinstance(document, dict) or not isinstance(document.get("stacks"), list):
        raise LongLivedError(f"{where}: expected a mapping with a list `stacks`")
    stacks: list[LongLivedStack] = []
    for index, entry in enumerate(document["stacks"]):
        label = f"{where}: stacks[{index}]"
        if not isinstance(entry, dict) or set(entry) != {"stack", "environment"}:
            raise LongLivedError(f"{label} must have exactly the keys `stack` and `environment`")
        stack, environment = entry["stack"], entry["environment"]
        if not isinstance(stack, str) or not isinstance(environment, str):
            raise LongLivedError(f"{label}: `stack` and `environment` must be strings")
        try:
            check_environment(stack)
        except ValueError as exc:
            raise LongLivedError(f"{label}: {exc}") from None
        if pr_number_of(stack) is not None:
            raise LongLivedError(
                f"{label}: {stack!r} is a PR stack name (pr-<n>); those belong to "
                "pr-environment.yml and the sweep, which destroys them"
            )
        if not _GITHUB_ENVIRONMENT_RE.fullmatch(environment):
            raise LongLivedError(
                f"{label}: GitHub environment {environment!r} may use only letters, digits, "
                "'.', '_' and '-'"
            )
        stacks.append(LongLivedStack(stack, environment))
    if not stacks:
        raise LongLivedError(f"{where}: `stacks` is empty")
    names = [s.stack for s in stacks]
    duplicates = sorted({n for n in names if names.count(n) > 1})
    if duplicates:
        raise LongLivedError(f"{where}: stacks listed twice: {', '.join(duplicates)}")
    return stacks


def load(path: Path = DEFAULT_FILE) -> list[LongLivedStack]:
    """Plain YAML and the standard library only: the deciding job runs without `make setup`."""
    try:
        document = yaml.safe_load(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise LongLivedError(f"{path}: no such file") from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}" if mark is not None else ""
        raise LongLivedError(f"{path}: not valid YAML{where}") from None
    return parse(document, str(path))


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--file", type=Path, default=DEFAULT_FILE)
    args = parser.parse_args(argv)
    try:
        stacks = load(args.file)
    except (LongLivedError, OSError) as exc:
        print(f"::error title=Long-lived stacks::{exc}", file=sys.stderr)
        return 1
    line = "stacks=" + json.dumps([asdict(s) for s in stacks], separators=(",", ":"))
    output = os.environ.get("GITHUB_OUTPUT")
    if output:
        with open(output, "a", encoding="utf-8") as handle:
            handle.write(line + "\n")
    print(line)
    return 0


if __name__ == "__main__":
    sys.exit(main())
