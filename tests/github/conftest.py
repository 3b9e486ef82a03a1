"""Fixtures of the GitHub API emulator tests (defined in tests/github/fixtures.py)."""

from tests.github.fixtures import (  # noqa: F401
    emulator,
    fake_clock,
    github_openapi,
    real_emulator,
)
