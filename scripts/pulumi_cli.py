"""Running pulumi commands for the scheduled workflows: runner, environment, stack listing."""

from __future__ import annotations

import json
import subprocess
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from stack.naming import PROJECT

STACK_LS = ("pulumi", "stack", "ls", "--json", "--project", PROJECT)
"""This project's stacks, named explicitly rather than taken from the nearest Pulumi.yaml."""

Runner = Callable[[Sequence[str]], str]
"""Runs a command and returns its stdout; raises CommandError when it fails."""


class CommandError(RuntimeError):
    pass


class SweepError(RuntimeError):
    pass


def subprocess_runner(env: Mapping[str, str] | None = None) -> Runner:
    def run(command: Sequence[str]) -> str:
        try:
            done = subprocess.run(
                list(command),
                env=None if env is None else dict(env),
                check=False,
                stdout=subprocess.PIPE,
                text=True,
            )
        except FileNotFoundError as exc:
            raise CommandError(f"{command[0]} is not installed or not on PATH") from exc
        if done.returncode != 0:
            raise CommandError(f"`{' '.join(command)}` exited with status {done.returncode}")
        return done.stdout

    return run


def pulumi_env(environ: Mapping[str, str]) -> dict[str, str]:
    """The environment for pulumi commands: IMAGE_BUILD_TOKEN, if set, is their GITHUB_TOKEN."""
    env = dict(environ)
    image_token = env.get("IMAGE_BUILD_TOKEN", "")
    if image_token:
        env["GITHUB_TOKEN"] = image_token
    return env


def parse_stack_listing(output: str, error: type[Exception]) -> list[Any]:
    """The entries `pulumi stack ls --json` printed; anything but a JSON list raises `error`."""
    shown = " ".join(STACK_LS)
    try:
        listed = json.loads(output)
    except ValueError as exc:
        raise error(f"`{shown}` did not print JSON: {exc}") from exc
    if not isinstance(listed, list):
        raise error(f"`{shown}` printed {type(listed).__name__}, not a list")
    return listed


def list_stacks(run: Runner) -> list[str]:
    """Stack names from `pulumi stack ls --json`; anything unexpected raises."""
    command = list(STACK_LS)
    names: list[str] = []
    for entry in parse_stack_listing(run(command), SweepError):
        name = entry.get("name") if isinstance(entry, dict) else None
        if not isinstance(name, str) or not name:
            raise SweepError(f"`{' '.join(command)}` listed an entry without a name: {entry!r}")
        names.append(name)
    return names


def destroy_commands(stack: str) -> list[list[str]]:
    return [
        ["pulumi", "destroy", "--stack", stack, "--yes", "--non-interactive", "--skip-preview"],
        ["pulumi", "stack", "rm", stack, "--yes", "--non-interactive"],
    ]
