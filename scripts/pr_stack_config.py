"""Write the stack config file of a pull request's environment.

    python -m scripts.pr_stack_config --base Pulumi.example.yaml \\
        --environment pr-12 --build-ref my-branch

writes `Pulumi.pr-12.yaml`: the base file's config with
`tims-stack:environment` set to the environment and `tims-stack:build.ref` to
the branch the images are built from. If `Pulumi.<env>.yaml` already exists
(committed by hand), it is the base and is updated in place. Everything else
in the base, including `encryptionsalt` and secure values, is kept as is. A
shared base may not set `tims-stack:namespace` or `tims-stack:host`: those
default per environment, and one value would put every PR in one place.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import yaml

from scripts.stack_names import check_environment
from stack.config import build_ref_problem
from stack.stackfile import StackFileError, load_yaml

ENVIRONMENT_KEY = "tims-stack:environment"
BUILD_KEY = "tims-stack:build"
# Derived from the environment when unset. Set in a shared base they would put every PR
# environment into one namespace or behind one host, each `up` taking over the last.
PER_ENVIRONMENT_KEYS = ("tims-stack:namespace", "tims-stack:host")


class StackConfigError(ValueError):
    pass


def check_ref(ref: str) -> str:
    # The same rule the program applies to tims-stack:build.ref, so a PR stack
    # never gets a ref that `pulumi up` would then refuse.
    if (problem := build_ref_problem(ref)) is not None:
        raise StackConfigError(f"build ref {ref!r} {problem}")
    return ref


def pr_stack_config(base: dict[str, Any], environment: str, build_ref: str) -> dict[str, Any]:
    """A copy of `base` (a parsed stack file) with the environment and build ref set."""
    check_environment(environment)
    check_ref(build_ref)
    config = base.get("config") or {}
    if not isinstance(config, dict):
        raise StackConfigError(f"'config' in the base stack file is a {type(config).__name__}")
    build = config.get(BUILD_KEY) or {}
    if not isinstance(build, dict):
        raise StackConfigError(f"'{BUILD_KEY}' in the base stack file is not a mapping")
    result = dict(base)
    result["config"] = {
        **config,
        ENVIRONMENT_KEY: environment,
        BUILD_KEY: {**build, "ref": build_ref},
    }
    return result


def write_pr_stack_config(
    base_path: Path, environment: str, build_ref: str, directory: Path
) -> Path:
    """Write `<directory>/Pulumi.<environment>.yaml` and return its path."""
    out = directory / f"Pulumi.{check_environment(environment)}.yaml"
    source = out if out.is_file() else base_path
    if not source.is_file():
        raise StackConfigError(
            f"base stack config {str(base_path)!r} does not exist: set the repository "
            "variable PR_BASE_CONFIG to a committed stack file, e.g. Pulumi.example.yaml"
        )
    try:
        base = load_yaml(source) or {}
    except StackFileError as exc:
        raise StackConfigError(str(exc)) from exc
    if not isinstance(base, dict):
        raise StackConfigError(f"{source} must hold a mapping, not a {type(base).__name__}")
    if source != out:
        shared = [k for k in PER_ENVIRONMENT_KEYS if (base.get("config") or {}).get(k)]
        if shared:
            raise StackConfigError(
                f"base stack config {str(source)!r} sets {', '.join(shared)}: every PR "
                "environment would share it. Remove it from the base; it defaults per "
                "environment (tims-stack-<env>, backend-<env>.<domain>)"
            )
    updated = pr_stack_config(base, environment, build_ref)
    out.write_text(yaml.safe_dump(updated, sort_keys=False), encoding="utf-8")
    return out


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Write Pulumi.<env>.yaml for a PR environment.")
    parser.add_argument("--base", required=True, help="stack file to start from")
    parser.add_argument("--environment", required=True, help="environment name, e.g. pr-12")
    parser.add_argument("--build-ref", required=True, help="branch the images are built from")
    parser.add_argument("--dir", default=".", help="project directory (default: .)")
    args = parser.parse_args(argv)
    try:
        if not args.base:
            raise StackConfigError(
                "no base stack config given: set the repository variable PR_BASE_CONFIG "
                "to a committed stack file, e.g. Pulumi.example.yaml"
            )
        out = write_pr_stack_config(
            Path(args.base), args.environment, args.build_ref, Path(args.dir)
        )
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(f"wrote {out}: {ENVIRONMENT_KEY}={args.environment}, {BUILD_KEY}.ref={args.build_ref}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
