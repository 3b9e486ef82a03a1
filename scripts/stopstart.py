"""Stop or start a PR environment through the program's own `tims-stack:stopped` switch.

Stopping scales every workload to zero and keeps the data volumes; starting
scales them back. The nightly schedule and the sweep's TTL both do it the way
`make stop` does: write the PR's stack file as its deploy would, set the key,
then `pulumi up`, with the PR's own program (scripts/pr_checkout.py). The next
deploy of the PR (a push) writes the stack file afresh from PR_BASE_CONFIG, so
a push starts a stopped environment again.
"""

from __future__ import annotations

from pathlib import Path

from scripts.pr_stack_config import write_pr_stack_config
from scripts.stack_names import check_environment

STOPPED_KEY = "tims-stack:stopped"


def set_stopped_commands(stack: str, stopped: bool, project: Path | None = None) -> list[list[str]]:
    """`pulumi config set` of the switch, then the `pulumi up` that applies it.

    `project`: the directory of the program to run (the PR's own checkout,
    scripts/pr_checkout.py); None runs the one in the current directory.
    """
    check_environment(stack)
    where = [] if project is None else ["--cwd", str(project)]
    return [
        [
            "pulumi",
            "config",
            "set",
            "--stack",
            stack,
            STOPPED_KEY,
            "true" if stopped else "false",
            *where,
        ],
        ["pulumi", "up", "--stack", stack, "--yes", "--non-interactive", "--skip-preview", *where],
    ]


def prepare_stack_file(base_config: str, stack: str, build_ref: str, directory: Path) -> Path:
    """Write `<directory>/Pulumi.<stack>.yaml` as the PR's deploy job does
    (scripts/pr_stack_config.py), from the base stack file of that same checkout."""
    base = Path(base_config)
    return write_pr_stack_config(
        base if base.is_absolute() else directory / base, stack, build_ref, directory
    )
