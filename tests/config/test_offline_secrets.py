"""Stack files read offline (`make render`) are judged as `pulumi up` judges them.

Render never decrypts: a `secure:` value reaches the program as SECRET_PLACEHOLDER
and a fake token replaces `github:token`. These tests run the real render on
stack files the Pulumi CLI would write.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml

from scripts.render import render
from stack.config import ConfigError
from stack.contract import SECRET_PLACEHOLDER
from stack.stackfile import raw_config_from_stack_file
from tests.config.conftest import FAKE_TOKEN, PREBUILT, ParseFn, WriteFn

SECURE = {"secure": "v1:AAAAAAAAAAAAAAAAAAAAAAAA:c2VjcmV0LWNpcGhlcnRleHQ="}
"""A value as `pulumi config set --secret` stores it (ciphertext never decrypted here)."""

StackFileFn = Callable[[dict[str, Any]], Path]


@pytest.fixture
def example_with(write: WriteFn, repo_file: Callable[[str], Path]) -> StackFileFn:
    """Pulumi.example.yaml with some keys replaced, written as Pulumi.dev.yaml."""

    def _stack_file(overrides: dict[str, Any]) -> Path:
        document = yaml.safe_load(repo_file("Pulumi.example.yaml").read_text(encoding="utf-8"))
        document["config"].update(overrides)
        return write(yaml.safe_dump(document))

    return _stack_file


def _render_error(stack_file: Path, out: Path) -> ConfigError:
    with pytest.raises(ConfigError) as caught:
        render("dev", stack_file, out)
    return caught.value


def test_render_refuses_a_plain_text_token(example_with: StackFileFn, tmp_path: Path) -> None:
    error = _render_error(example_with({"github:token": FAKE_TOKEN}), tmp_path / "out")
    messages = [issue.message for issue in error.issues if issue.key == "github:token"]
    assert messages, f"render accepted a plain-text github:token: {error.issues}"
    assert "--secret github:token" in messages[0], f"github:token: {messages[0]!r}"
    assert FAKE_TOKEN not in str(error), "github:token: the plain token is shown"


def test_reading_a_plain_text_token_names_the_stack(write: WriteFn) -> None:
    with pytest.raises(ConfigError, match="stack 'dev'") as caught:
        raw_config_from_stack_file(write(f"config:\n  github:token: {FAKE_TOKEN}\n"))
    assert FAKE_TOKEN not in str(caught.value), "the plain token is shown"


@pytest.mark.parametrize("app", ["backend", "frontend"])
def test_render_accepts_a_whole_object_secret_app(
    example_with: StackFileFn, tmp_path: Path, app: str
) -> None:
    """`pulumi config set --secret tims-stack:<app> '<json>'`, which the README allows."""
    result = render("dev", example_with({f"tims-stack:{app}": SECURE}), tmp_path / "out")
    assert result.problems == [], f"secret tims-stack:{app}: {result.problems}"
    kinds = {(obj["kind"], obj["metadata"]["name"]) for obj in result.objects}
    assert ("Deployment", app) in kinds or any(
        kind == "Deployment" and app in name for kind, name in kinds
    ), f"secret tims-stack:{app}: no {app} Deployment rendered: {sorted(kinds)}"


def test_render_refuses_a_secure_domain_for_being_secret_only(
    example_with: StackFileFn, tmp_path: Path
) -> None:
    """`pulumi up` would decrypt the domain and refuse it for being secret, nothing else."""
    error = _render_error(example_with({"tims-stack:domain": SECURE}), tmp_path / "out")
    assert [issue.key for issue in error.issues] == ["tims-stack:domain"], (
        f"secure tims-stack:domain: expected one issue about the key, got {error.issues}"
    )
    assert "reads this key as plain text" in error.issues[0].message, (
        f"tims-stack:domain: {error.issues[0].message!r}"
    )


def test_messages_about_secure_values_keep_the_word_secret(
    example_with: StackFileFn, tmp_path: Path
) -> None:
    error = _render_error(example_with({"tims-stack:domain": SECURE}), tmp_path / "out")
    text = str(error)
    assert "without --secret" in text, f"the fix is garbled: {text}"
    assert "<secret>" not in text, f"the word 'secret' was scrubbed: {text}"


def test_a_secure_env_value_elsewhere_does_not_garble_the_word_secret(
    example_with: StackFileFn, tmp_path: Path
) -> None:
    """A secure leaf reaches the program as SECRET_PLACEHOLDER inside its object's JSON text;
    neither that nor the object's keys are secret words to scrub."""
    frontend = {"env": {"API_KEY": SECURE, "MEMORY_HINT": "low"}}
    overrides = {"tims-stack:domain": SECURE, "tims-stack:frontend": frontend}
    text = str(_render_error(example_with(overrides), tmp_path / "out"))
    assert "without --secret" in text, f"the fix is garbled: {text}"
    assert "<secret>" not in text, f"an ordinary word was scrubbed: {text}"


def _offline_notes(parse: ParseFn, values: dict[str, Any], secret: tuple[str, ...]) -> list[str]:
    notes: list[str] = []
    parse(values, secret_keys=secret, warn=notes.append)
    return notes


def test_a_whole_object_secret_app_is_noted_as_not_checked(parse: ParseFn) -> None:
    values = {**PREBUILT, "tims-stack:backend": SECRET_PLACEHOLDER}
    notes = _offline_notes(parse, values, ("tims-stack:backend",))
    assert any("tims-stack:backend is encrypted as a whole" in n for n in notes), notes


def test_a_secure_password_draws_no_note_about_fields(parse: ParseFn) -> None:
    """A string has no fields to check; an encrypted password is simply set."""
    values = {
        **PREBUILT,
        "tims-stack:postgres": {
            "mode": "external",
            "external": {"host": "db.example.com", "database": "tims", "user": "tims"},
        },
        "tims-stack:postgresPassword": SECRET_PLACEHOLDER,
    }
    notes = _offline_notes(parse, values, ("tims-stack:postgresPassword",))
    assert notes == [], f"secure tims-stack:postgresPassword: {notes}"


def test_render_names_its_environment_when_refusing_a_plain_token(
    write: WriteFn, tmp_path: Path
) -> None:
    """STACK_CONFIG may be any file (Pulumi.example.yaml): the error names --env's stack."""
    stack_file = write(f"config:\n  github:token: {FAKE_TOKEN}\n", name="Pulumi.example.yaml")
    with pytest.raises(ConfigError, match="stack 'dev'"):
        render("dev", stack_file, tmp_path / "out")
