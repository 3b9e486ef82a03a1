"""Run a body, or the program, under the mocks in a fresh context."""

from __future__ import annotations

import contextlib
import contextvars
import logging
import os
import runpy
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Any

import pulumi
import pulumi.runtime
from pulumi.runtime.stack import run_pulumi_func
from pulumi.runtime.sync_await import _sync_await

from scripts.mockrun.providers import _ProviderMocks, _RecordingMonitor
from scripts.mockrun.records import ProgramRun
from scripts.mockrun.secret_inputs import _SECRET_INPUTS, _readable_entries, _record_secret_inputs
from scripts.mockrun.values import PROGRAM, PROJECT
from stack.config import runtime_string

_HIDDEN_ENV_PREFIXES = ("PULUMI_CONFIG", "GITHUB_TOKEN")


@contextlib.contextmanager
def _hidden_environment() -> Iterator[None]:
    """Hide variables a developer's shell may set, so only the given config counts."""
    saved = {k: v for k, v in os.environ.items() if k.startswith(_HIDDEN_ENV_PREFIXES)}
    for key in saved:
        del os.environ[key]
    try:
        yield
    finally:
        os.environ.update(saved)


class _LogCollector:
    """Keeps the warnings and errors the program logs (e.g. config notes)."""

    def __init__(self) -> None:
        self.lines: list[str] = []

    def logger(self) -> logging.Logger:
        lines = self.lines

        class _Handler(logging.Handler):
            def emit(self, record: logging.LogRecord) -> None:
                lines.append(f"{record.levelname.lower()}: {record.getMessage()}")

        logger = logging.getLogger(f"tims-stack.mockrun.{id(self)}")
        logger.propagate = False
        logger.setLevel(logging.WARNING)
        logger.addHandler(_Handler())
        return logger


def _run_in_fresh_context(
    raw: Mapping[str, str], secret_keys: frozenset[str], stack: str, body: Callable[[], object]
) -> ProgramRun:
    mocks = _ProviderMocks()
    monitor = _RecordingMonitor(mocks)
    logs = _LogCollector()
    pulumi.runtime.set_mocks(
        monitor.mocks,
        project=PROJECT,
        stack=stack,
        preview=False,
        monitor=monitor,
        logger=logs.logger(),
    )
    pulumi.runtime.set_all_config(dict(raw), sorted(secret_keys))
    recorded: list[tuple[pulumi.Resource, dict[str, Any]]] = []
    _SECRET_INPUTS.set(recorded)

    def program() -> None:
        body()

    error: BaseException | None = None
    try:
        _sync_await(run_pulumi_func(program))
    except Exception as exc:  # handed back to the caller with what was registered
        error = exc

    root = pulumi.runtime.get_root_resource()
    exported: dict[str, Any] = dict(getattr(root, "outputs", {}) or {})
    values: dict[str, Any] = {}
    secret: set[str] = set()
    readable = _readable_entries(recorded) if error is None else {}
    if error is None:
        for key, value in exported.items():
            output = pulumi.Output.from_input(value)
            values[key] = _sync_await(output.future())
            if _sync_await(output.is_secret()):
                secret.add(key)
    return ProgramRun(
        resources=list(monitor.records),
        outputs=values,
        secret_outputs=frozenset(secret),
        invokes=list(mocks.calls),
        logs=logs.lines,
        error=error,
        readable_entries=readable,
    )


def run_function(
    body: Callable[[], object],
    raw_config: Mapping[str, Any] | None = None,
    *,
    stack: str = "dev",
    secret_keys: frozenset[str] | set[str] = frozenset({"github:token"}),
) -> ProgramRun:
    """Run `body` (which registers resources) under the mocks, as `run_program` runs the program.

    An exception from `body` is returned in `ProgramRun.error`, not raised.
    """
    raw = {key: runtime_string(value) for key, value in (raw_config or {}).items()}
    keys = frozenset(k for k in secret_keys if k in raw)
    _record_secret_inputs()
    with _hidden_environment():
        context = contextvars.Context()
        return context.run(_run_in_fresh_context, raw, keys, stack, body)


def run_program(
    raw_config: Mapping[str, Any],
    *,
    stack: str = "dev",
    secret_keys: frozenset[str] | set[str] = frozenset({"github:token"}),
    program: Path = PROGRAM,
) -> ProgramRun:
    """Run `program` with `raw_config` under mocks and return what it registered.

    `raw_config` maps full keys (`tims-stack:domain`, `github:token`) to runtime
    strings; Python objects are converted as Pulumi would (JSON, "true").
    Exceptions from the program (e.g. ConfigError) propagate.
    """
    run = try_program(raw_config, stack=stack, secret_keys=secret_keys, program=program)
    if run.error is not None:
        raise run.error
    return run


def try_program(
    raw_config: Mapping[str, Any],
    *,
    stack: str = "dev",
    secret_keys: frozenset[str] | set[str] = frozenset({"github:token"}),
    program: Path = PROGRAM,
) -> ProgramRun:
    """Like `run_program`, but an exception is returned in `.error` with what was registered."""

    def body() -> None:
        runpy.run_path(str(program), run_name="__main__")

    return run_function(body, raw_config, stack=stack, secret_keys=secret_keys)
