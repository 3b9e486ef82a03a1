"""A malformed configuration stops the program before it registers any resource."""

from __future__ import annotations

from typing import Any

import pytest

from scripts.mockrun import FAKE_TOKEN, SECRET_MARK, try_program
from stack.config import ConfigError
from tests.program.conftest import SCENARIOS

PREBUILT = SCENARIOS["prebuilt"]
BUILD = SCENARIOS["default"]

MALFORMED: list[tuple[str, dict[str, Any], str]] = [
    ("negative replicas", {**PREBUILT, "tims-stack:backend": {"replicas": -1}}, "backend.replicas"),
    ("bad domain", {**PREBUILT, "tims-stack:domain": "not_a_domain"}, "tims-stack:domain"),
    ("unknown key", {**PREBUILT, "tims-stack:postgres": {"storrage": "1Gi"}}, "storrage"),
    ("bad storage", {**PREBUILT, "tims-stack:postgres": {"storage": "lots"}}, "postgres.storage"),
    (
        "build without token",
        {k: v for k, v in BUILD.items() if k != "github:token"},
        "github:token",
    ),
    (
        "private without token",
        {**PREBUILT, "tims-stack:images": {**PREBUILT["tims-stack:images"], "private": True}},
        "github:token",
    ),
    (
        "bad repository",
        {**BUILD, "tims-stack:build": {"repository": "no-slash"}},
        "build.repository",
    ),
    (
        "crontab backup schedule",
        {
            **PREBUILT,
            "tims-stack:postgres": {
                "mode": "cloudnativepg",
                "cloudnativepg": {
                    "backup": {
                        "destinationPath": "s3://b/p",
                        "secret": "s3",
                        "schedule": "0 3 * * *",
                    }
                },
            },
        },
        "postgres.cloudnativepg.backup.schedule",
    ),
    (
        "unpinned postgres",
        {**PREBUILT, "tims-stack:postgres": {"image": "postgres:latest"}},
        "postgres.image",
    ),
]


@pytest.mark.parametrize(("case", "raw", "key"), MALFORMED, ids=[m[0] for m in MALFORMED])
def test_malformed_config_raises_before_any_resource(
    case: str, raw: dict[str, Any], key: str
) -> None:
    run = try_program(raw)
    assert isinstance(run.error, ConfigError), f"{case}: expected ConfigError, got {run.error!r}"
    assert key in str(run.error), f"{case}: the message should name {key}"
    assert run.resources == [], f"{case}: registered {[r.name for r in run.resources]}"


def test_error_about_a_plain_text_token_never_shows_the_token() -> None:
    """github:token stored without --secret: the error is about the token, never quotes it."""
    run = try_program(BUILD, secret_keys=frozenset())
    assert isinstance(run.error, ConfigError), f"plain-text github:token accepted: {run.error!r}"
    messages = [issue.message for issue in run.error.issues if issue.key == "github:token"]
    assert messages, f"no github:token issue: {run.error.issues}"
    assert "--secret" in messages[0], f"github:token: how to fix is missing: {messages[0]!r}"
    assert FAKE_TOKEN not in str(run.error), "github:token: the token is shown in the error"
    assert SECRET_MARK not in str(run.error), "github:token: part of the token is shown"


def test_token_from_the_developers_shell_is_not_used(monkeypatch: pytest.MonkeyPatch) -> None:
    """The mocks only see the given config: GITHUB_TOKEN in the environment is hidden."""
    monkeypatch.setenv("GITHUB_TOKEN", "ghp_from_the_shell")
    run = try_program({k: v for k, v in BUILD.items() if k != "github:token"})
    assert isinstance(run.error, ConfigError)
    assert "github:token" in str(run.error)
