"""Config test fixtures: raw configs as Pulumi's runtime holds them, and a mocked runtime."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Any

import pulumi
import pytest

from stack.config import ConfigError, StackConfig, parse_config
from tests.conftest import REPO_ROOT

FAKE_TOKEN = "ghp_FAKE0TOKEN0FOR0TESTS0ONLY0000000000"
"""A token-shaped string; tests assert it never shows up in any error text."""

Raw = dict[str, str]


def raw_config(values: Mapping[str, Any]) -> Raw:
    """Raw config as Pulumi's runtime holds it: objects as compact JSON, booleans as "true"."""
    raw: Raw = {}
    for key, value in values.items():
        if value is None:
            continue
        if isinstance(value, str):
            raw[key] = value
        elif isinstance(value, bool):
            raw[key] = "true" if value else "false"
        else:
            raw[key] = json.dumps(value, separators=(",", ":"))
    return raw


PREBUILT: dict[str, Any] = {
    "github:owner": "acme",
    "tims-stack:images": {"tag": "v1.2.3"},
}
"""The smallest valid config: prebuilt images, no domain, no token needed."""

BUILD: dict[str, Any] = {
    "tims-stack:build": {"repository": "acme/tims-stack-anystack"},
}
"""The smallest valid build-mode config (needs a token: see `parse`)."""


def with_overrides(base: Mapping[str, Any], overrides: Mapping[str, Any]) -> dict[str, Any]:
    """`base` with `overrides` applied; an override of None removes the key."""
    merged = dict(base)
    for key, value in overrides.items():
        if value is None:
            merged.pop(key, None)
        else:
            merged[key] = value
    return merged


def issue_message(error: ConfigError, key: str, case_id: str) -> str:
    """The message of `error`'s issue for `key`; fails naming the table case when there is none."""
    keys = [issue.key for issue in error.issues]
    assert key in keys, f"{case_id}: no issue for {key}; issues: {error.issues}"
    return next(str(issue) for issue in error.issues if issue.key == key)


ParseFn = Callable[..., StackConfig]
ErrorFn = Callable[..., ConfigError]


@pytest.fixture
def parse() -> ParseFn:
    """parse_config over a dict of Python values; stack 'dev', no token unless given."""

    def _parse(
        values: Mapping[str, Any],
        *,
        stack: str = "dev",
        env: Mapping[str, str] | None = None,
        secret_keys: tuple[str, ...] = (),
        warn: Callable[[str], None] | None = None,
    ) -> StackConfig:
        return parse_config(
            raw_config(values), stack=stack, env=env or {}, secret_keys=secret_keys, warn=warn
        )

    return _parse


@pytest.fixture
def config_error(parse: ParseFn) -> ErrorFn:
    """The ConfigError parse raises for `values` (fails the test when none is raised)."""

    def _error(values: Mapping[str, Any], **kwargs: Any) -> ConfigError:
        with pytest.raises(ConfigError) as caught:
            parse(values, **kwargs)
        return caught.value

    return _error


WriteFn = Callable[..., Path]


@pytest.fixture
def write(tmp_path: Path) -> WriteFn:
    """Write a stack (default Pulumi.dev.yaml) or project file into a temporary directory."""

    def _write(text: str, name: str = "Pulumi.dev.yaml") -> Path:
        path = tmp_path / name
        path.write_text(text, encoding="utf-8")
        return path

    return _write


@pytest.fixture
def repo_file() -> Callable[[str], Path]:
    """A file of this repository (Pulumi.yaml, Pulumi.example.yaml)."""

    def _path(name: str) -> Path:
        return REPO_ROOT / name

    return _path


class _NoResources(pulumi.runtime.Mocks):
    def new_resource(self, args: pulumi.runtime.MockResourceArgs) -> tuple[str, dict[str, Any]]:
        return f"{args.name}_id", dict(args.inputs)

    def call(
        self, args: pulumi.runtime.MockCallArgs
    ) -> tuple[dict[str, Any], list[tuple[str, str]] | None]:
        return {}, None


def _current_event_loop() -> asyncio.AbstractEventLoop:
    """The thread's event loop, made on demand, as pulumi.runtime.sync_await does it."""
    try:
        return asyncio.get_event_loop()
    except RuntimeError:
        loop = asyncio.new_event_loop()
        asyncio.set_event_loop(loop)
        return loop


@pytest.fixture
def mocked_runtime(monkeypatch: pytest.MonkeyPatch) -> Iterator[asyncio.AbstractEventLoop]:
    """Pulumi runtime under mocks, project tims-stack, stack 'dev', with clean config.

    Yields the event loop Outputs resolve on. The loop stays open for other
    tests (Pulumi keeps using it); work left pending on it is drained and the
    config the test set is wiped so nothing leaks into other tests.
    """
    for name in ("PULUMI_CONFIG", "PULUMI_CONFIG_SECRET_KEYS", "GITHUB_TOKEN"):
        monkeypatch.delenv(name, raising=False)
    loop = _current_event_loop()
    pulumi.runtime.set_mocks(_NoResources(), project="tims-stack", stack="dev", preview=False)
    pulumi.runtime.set_all_config({}, [])
    try:
        yield loop
    finally:
        pulumi.runtime.set_all_config({}, [])
        pending = asyncio.all_tasks(loop)
        if pending:
            loop.run_until_complete(asyncio.gather(*pending, return_exceptions=True))
