"""The long-lived stacks (staging, production, ...): the one list the workflows read.

    python -m scripts.long_lived [--file .github/long-lived-stacks.yml] \
        [--deploy-jobs .github/workflows/long-lived.yml]

Writes `stacks=<JSON list>` to GITHUB_OUTPUT (or prints it), each entry
`{"stack": ..., "environment": ..., "previewEnvironment": ...}` in the file's
order, which is the deploy order. The preview and drift jobs use it as
`strategy.matrix.include`. A bad file fails naming the entry and what is allowed.

The deploy cannot be a matrix: GitHub does not promise that `max-parallel: 1`
starts matrix jobs in order. So it is one job `deploy-<stack>` per entry, each
`needs:` the one before; `--deploy-jobs` fails when those jobs do not follow
the list (`deploy_job_problems`).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from scripts.stack_names import check_environment, pr_number_of

DEFAULT_FILE = Path(".github/long-lived-stacks.yml")
# GitHub environment names: letters, digits, '-', '_', '.' (no '/', which would also
# break the concurrency group names built from them), at most 255 characters.
_GITHUB_ENVIRONMENT_RE = re.compile(r"^[A-Za-z0-9._-]{1,255}$")


_KEYS = frozenset({"stack", "environment", "previewEnvironment"})


class LongLivedError(ValueError):
    pass


@dataclass(frozen=True)
class LongLivedStack:
    stack: str
    """The Pulumi stack, also the environment name in tims-stack:environment."""
    environment: str
    """The GitHub environment of its deploys (and, for production, its reviewers)."""
    preview_environment: str = ""
    """Where its PR previews and drift checks run; `environment` when not set. A PR runs its
    own copy of the workflows, so it can read every secret of the environment it runs in."""

    def __post_init__(self) -> None:
        if not self.preview_environment:
            object.__setattr__(self, "preview_environment", self.environment)

    def matrix_entry(self) -> dict[str, str]:
        return {
            "stack": self.stack,
            "environment": self.environment,
            "previewEnvironment": self.preview_environment,
        }


def parse(document: object, where: str) -> list[LongLivedStack]:
    """The stacks of a loaded file; raises LongLivedError naming the bad entry."""
    if not isinstance(document, dict) or not isinstance(document.get("stacks"), list):
        raise LongLivedError(f"{where}: expected a mapping with a list `stacks`")
    stacks: list[LongLivedStack] = []
    for index, entry in enumerate(document["stacks"]):
        label = f"{where}: stacks[{index}]"
        keys = set(entry) if isinstance(entry, dict) else set()
        if not isinstance(entry, dict) or not {"stack", "environment"} <= keys <= _KEYS:
            raise LongLivedError(
                f"{label} must have the keys `stack` and `environment`, and may have "
                "`previewEnvironment`"
            )
        stack, environment = entry["stack"], entry["environment"]
        preview = entry.get("previewEnvironment", environment)
        if not (
            isinstance(stack, str) and isinstance(environment, str) and isinstance(preview, str)
        ):
            raise LongLivedError(f"{label}: `stack` and the environments must be strings")
        try:
            check_environment(stack)
        except ValueError as exc:
            raise LongLivedError(f"{label}: {exc}") from None
        if pr_number_of(stack) is not None or pr_number_of(stack, app=True) is not None:
            raise LongLivedError(
                f"{label}: {stack!r} is a PR stack name (pr-<n>, app-pr-<n>); those belong "
                "to pr-environment.yml and the sweep, which destroys them"
            )
        for name in (environment, preview):
            if not _GITHUB_ENVIRONMENT_RE.fullmatch(name):
                raise LongLivedError(
                    f"{label}: GitHub environment {name!r} may use only letters, digits, "
                    "'.', '_' and '-'"
                )
        stacks.append(LongLivedStack(stack, environment, preview))
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


DEPLOY_PREFIX = "deploy-"


def _needs(job: Mapping[str, Any]) -> list[str]:
    needs = job.get("needs", [])
    return [needs] if isinstance(needs, str) else list(needs)


def _environment(job: Mapping[str, Any]) -> object:
    environment = job.get("environment")
    return environment.get("name") if isinstance(environment, dict) else environment


def deploy_job_problems(stacks: Sequence[LongLivedStack], workflow: object) -> list[str]:
    """What keeps the workflow's `deploy-<stack>` jobs from deploying `stacks` in order."""
    jobs = workflow.get("jobs") if isinstance(workflow, dict) else None
    if not isinstance(jobs, dict):
        return ["the workflow has no `jobs`"]
    expected = [DEPLOY_PREFIX + s.stack for s in stacks]
    found = [job_id for job_id in jobs if str(job_id).startswith(DEPLOY_PREFIX)]
    problems = [
        f"no job {job_id} for the listed stack" for job_id in expected if job_id not in jobs
    ]
    problems += [
        f"job {job_id} deploys no listed stack" for job_id in found if job_id not in expected
    ]
    previous = "stacks"
    for entry, job_id in zip(stacks, expected, strict=True):
        job = jobs.get(job_id)
        if not isinstance(job, dict):
            previous = job_id
            continue
        wanted: list[tuple[str, object, object]] = [
            ("needs", _needs(job), [previous]),
            ("environment", _environment(job), entry.environment),
            ("env.STACK", (job.get("env") or {}).get("STACK"), entry.stack),
            (
                "concurrency",
                job.get("concurrency"),
                {"group": f"tims-stack-deploy-{entry.stack}", "cancel-in-progress": False},
            ),
            ("steps", job.get("steps"), jobs.get(expected[0], {}).get("steps")),
        ]
        problems += [
            f"{job_id}: {what} is {got!r}, expected {want!r}"
            for what, got, want in wanted
            if got != want
        ]
        previous = job_id
    return problems


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--file", type=Path, default=DEFAULT_FILE)
    parser.add_argument("--deploy-jobs", type=Path, help="the workflow with the deploy jobs")
    args = parser.parse_args(argv)
    try:
        stacks = load(args.file)
        problems = (
            deploy_job_problems(stacks, yaml.safe_load(args.deploy_jobs.read_text("utf-8")))
            if args.deploy_jobs
            else []
        )
    except (LongLivedError, OSError, yaml.YAMLError) as exc:
        print(f"::error title=Long-lived stacks::{exc}", file=sys.stderr)
        return 1
    for problem in problems:
        print(
            f"::error title=Deploy jobs of {args.deploy_jobs}::{problem} "
            f"(one job {DEPLOY_PREFIX}<stack> per entry of {args.file}, in its order)",
            file=sys.stderr,
        )
    if problems:
        return 1
    line = "stacks=" + json.dumps([s.matrix_entry() for s in stacks], separators=(",", ":"))
    output = os.environ.get("GITHUB_OUTPUT")
    if output:
        with open(output, "a", encoding="utf-8") as handle:
            handle.write(line + "\n")
    print(line)
    return 0


if __name__ == "__main__":
    sys.exit(main())
