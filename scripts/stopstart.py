"""Stop or start a PR environment through the program's own `tims-stack:stopped` switch.

Stopping scales every workload to zero and keeps the data volumes; starting
scales them back. The nightly schedule and the sweep's TTL both do it the way
`make stop` does: write the PR's stack file as its deploy would, set the key,
then `pulumi up`. The next deploy of the PR (a push) writes the stack file
afresh from PR_BASE_CONFIG, so a push starts a stopped environment again.
"""

from __future__ import annotations

from pathlib import Path

from scripts.pr_stack_config import write_pr_stack_config
from scripts.stack_names import check_environment

STOPPED_KEY = "tims-stack:stopped"


def set_stopped_commands(stack: str, stopped: bool) -> list[list[str]]:
    """`pulumi config set` of the switch, then the `pulumi up` that applies it."""
    check_environment(stack)
    return [
        ["pulumi", "config", "set", "--stack", stack, STOPPED_KEY, "true" if stopped else "false"],
        ["pulumi", "up", "--stack", stack, "--yes", "--non-interactive", "--skip-preview"],
    ]


def prepare_stack_file(base_config: str, stack: str, build_ref: str, directory: Path) -> Path:
    """Write `Pulumi.<stack>.yaml` as the PR's deploy job does (scripts/pr_stack_config.py)."""
    return write_pr_stack_config(Path(base_config), stack, build_ref, directory)
