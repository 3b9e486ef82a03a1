"""Constants and fake values the mocks answer with, and helpers that unwrap secrets."""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

from pulumi.runtime import rpc

REPO_ROOT = Path(__file__).resolve().parents[2]
PROGRAM = REPO_ROOT / "__main__.py"
PROJECT = "tims-stack"

SECRET_MARK = "MOCKSECRET"  # noqa: S105 - a marker inside fake values
"""Every fake secret value contains this, so tests can scan for leaks."""
FAKE_TOKEN = f"ghp_{SECRET_MARK}0000000000000000000000000000000"
"""Stands in for the GitHub token: tests and offline renders never use a real one."""

IMAGE_BUILD_TYPE = "pulumi-python:dynamic/tims-stack:ImageBuild"
GET_BRANCH = "github:index/getBranch:getBranch"
GET_REF = "github:index/getRef:getRef"
RANDOM_PASSWORD = "random:index/randomPassword:RandomPassword"  # noqa: S105 - a type token
FAKE_RUN_ID = 4242


def fake_secret(resource_name: str) -> str:
    """The value the mocks give a RandomPassword named `resource_name`."""
    digest = hashlib.sha256(resource_name.encode()).hexdigest()[:16]
    return f"{SECRET_MARK}-{digest}"


def fake_sha(repository: str, ref: str) -> str:
    """The sha the mocked getBranch (branch name) or getRef (`tags/<name>`) returns."""
    return hashlib.sha1(f"{repository}@{ref}".encode(), usedforsecurity=False).hexdigest()


def auto_name(urn: str, name: str) -> str:
    """`<name>-<7 hex>`: Pulumi's auto-naming shape, deterministic per resource URN."""
    return f"{name}-{hashlib.sha256(urn.encode()).hexdigest()[:7]}"


def is_secret(value: Any) -> bool:
    return rpc.is_rpc_secret(value)


def reveal(value: Any) -> Any:
    """`value` with every secret wrapper removed (what the object holds once deployed)."""
    if is_secret(value):
        return reveal(value["value"])
    if isinstance(value, dict):
        return {k: reveal(v) for k, v in value.items()}
    if isinstance(value, list):
        return [reveal(v) for v in value]
    return value


def integral(value: Any) -> Any:
    """`value` with integral floats as ints: the mocks' protobuf numbers are all doubles."""
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, dict):
        return {k: integral(v) for k, v in value.items()}
    if isinstance(value, list):
        return [integral(v) for v in value]
    return value


def plaintext(value: Any) -> Any:
    """`value` with every secret wrapper dropped: what state would hold unencrypted."""
    if is_secret(value):
        return None
    if isinstance(value, dict):
        return {k: plaintext(v) for k, v in value.items()}
    if isinstance(value, list):
        return [plaintext(v) for v in value]
    return value
