"""Refuse, before any Pulumi command, a CI state backend or secrets set-up that would lose data.

    python -m scripts.backend_check [--stack-file Pulumi.pr-12.yaml]

Reads PULUMI_BACKEND_URL, PULUMI_CONFIG_PASSPHRASE, PULUMI_CONFIG_PASSPHRASE_FILE
and PULUMI_ACCESS_TOKEN from the environment; prints only which are set, never
a value. Fails (exit 1, an `::error` annotation) when:

- the backend is `file://`: a runner's disk is gone when its job ends, so the
  stack `up` made on open would not exist for the destroy on close;
- the stack's secrets use the passphrase provider (the default on a
  self-managed backend, or `secretsprovider: passphrase`) and the passphrase is
  empty. An unset Actions secret arrives as "", which Pulumi accepts: every
  secret would be encrypted with the empty passphrase, and setting the real one
  later breaks every up, destroy and sweep of those stacks;
- the backend is Pulumi Cloud and PULUMI_ACCESS_TOKEN is empty.
"""

from __future__ import annotations

import argparse
import enum
import os
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import yaml

from stack.stackfile import yaml_problem


class Backend(enum.Enum):
    CLOUD = "Pulumi Cloud"
    SELF_MANAGED = "self-managed"
    LOCAL = "local file"


class BackendCheckError(ValueError):
    pass


def backend_kind(url: str) -> Backend:
    """What kind of backend PULUMI_BACKEND_URL names; empty means Pulumi Cloud."""
    value = url.strip()
    if not value or value.startswith(("https://", "http://")):
        return Backend.CLOUD
    if value.startswith("file:"):
        return Backend.LOCAL
    return Backend.SELF_MANAGED


def uses_passphrase(backend: Backend, stack_file: Mapping[str, Any] | None) -> bool:
    """Whether the stack's secrets are encrypted with PULUMI_CONFIG_PASSPHRASE.

    An explicit `secretsprovider` decides; a stack file with an
    `encryptionsalt` was made with a passphrase; otherwise Pulumi Cloud uses
    its own service and a self-managed backend the passphrase.
    """
    stack_file = stack_file or {}
    provider = stack_file.get("secretsprovider")
    if isinstance(provider, str) and provider:
        return provider == "passphrase"
    if stack_file.get("encryptionsalt"):
        return True
    return backend is not Backend.CLOUD


def check(
    env: Mapping[str, str], stack_file: Mapping[str, Any] | None, *, allow_local: bool = False
) -> list[str]:
    """What is set up, as lines to print; raises BackendCheckError naming what to fix.

    `allow_local`: the stacks live no longer than the runner (the kind end-to-end run,
    whose cluster dies with the job), so a file:// backend on its disk is the right one.
    """
    url = env.get("PULUMI_BACKEND_URL", "")
    backend = backend_kind(url)
    if backend is Backend.LOCAL and not allow_local:
        raise BackendCheckError(
            "the repository variable PULUMI_BACKEND_URL is a file:// backend. A runner's disk "
            "is discarded when its job ends, so the stack made when the PR opened would be "
            "gone when it closes and nothing could destroy it. Use a bucket (s3://, gs://, "
            "azblob://) or leave it unset for Pulumi Cloud."
        )
    lines = [f"state backend: {backend.value}"]
    if backend is Backend.CLOUD and not env.get("PULUMI_ACCESS_TOKEN", "").strip():
        raise BackendCheckError(
            "PULUMI_BACKEND_URL is unset or https://, so the backend is Pulumi Cloud, but the "
            "secret PULUMI_ACCESS_TOKEN is empty or unset. Set it, or set PULUMI_BACKEND_URL "
            "to your bucket."
        )
    if uses_passphrase(backend, stack_file):
        passphrase = env.get("PULUMI_CONFIG_PASSPHRASE", "")
        passphrase_file = env.get("PULUMI_CONFIG_PASSPHRASE_FILE", "").strip()
        if not passphrase and not passphrase_file:
            raise BackendCheckError(
                "the stacks' secrets use the passphrase provider, but the secret "
                "PULUMI_CONFIG_PASSPHRASE is empty or unset. Pulumi would encrypt every "
                "secret with an empty passphrase, and setting the real one later would break "
                "every up, destroy and sweep of these stacks. Set the repository (or "
                "pr-environments environment) secret PULUMI_CONFIG_PASSPHRASE."
            )
        lines.append("secrets provider: passphrase (PULUMI_CONFIG_PASSPHRASE is set)")
    else:
        lines.append("secrets provider: not the passphrase")
    return lines


def _stack_file(path: str) -> dict[str, Any] | None:
    if not path:
        return None
    file = Path(path)
    if not file.is_file():
        raise BackendCheckError(f"stack file {path!r} does not exist")
    try:
        loaded = yaml.safe_load(file.read_text(encoding="utf-8")) or {}
    except yaml.YAMLError as exc:
        # Not the exception's text: it quotes the offending line, which may hold a secret.
        message = f"stack file {path!r} is not valid YAML: {yaml_problem(exc)}"
        raise BackendCheckError(message) from None
    if not isinstance(loaded, dict):
        raise BackendCheckError(f"stack file {path!r} does not hold a mapping")
    return loaded


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--stack-file", default="", help="the stack's Pulumi.<stack>.yaml")
    parser.add_argument(
        "--allow-local-state",
        action="store_true",
        help="accept file:// for stacks that die with the runner (the kind end-to-end run)",
    )
    args = parser.parse_args(argv)
    try:
        lines = check(os.environ, _stack_file(args.stack_file), allow_local=args.allow_local_state)
    except BackendCheckError as exc:
        print(f"::error title=Pulumi backend set-up::{exc}", file=sys.stderr)
        return 1
    for line in lines:
        print(line)
    return 0


if __name__ == "__main__":
    sys.exit(main())
