"""Fixtures of the GitHub API emulator tests (defined in tests/github/fixtures.py)."""

from tests.github.fixtures import (  # noqa: F401
    conformance_emulator,
    emulator,
    fake_clock,
    gh,
    github_openapi,
    real_emulator,
)
