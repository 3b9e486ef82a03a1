"""The mocks machinery itself: isolation between runs and provider-like answers."""

from __future__ import annotations

from scripts.mockrun import (
    IMAGE_BUILD_TYPE,
    SECRET_MARK,
    auto_name,
    fake_secret,
    integral,
    plaintext,
    reveal,
    run_program,
)
from tests.program.conftest import SCENARIOS


def _shape(raw: dict[str, object]) -> list[tuple[str, str, str]]:
    run = run_program(raw)
    return sorted((r.type, r.name, repr(r.inputs)) for r in run.resources)


def test_runs_in_one_process_do_not_leak_state() -> None:
    first = _shape(SCENARIOS["prebuilt"])
    other = _shape(SCENARIOS["default"])
    again = _shape(SCENARIOS["prebuilt"])
    assert first == again, "a run must not see resources or config from an earlier run"
    assert any(t == IMAGE_BUILD_TYPE for t, _, _ in other)
    assert not any(t == IMAGE_BUILD_TYPE for t, _, _ in again)


def test_auto_names_are_deterministic_and_look_like_pulumis() -> None:
    name = auto_name("urn:pulumi:dev::tims-stack::x::backend", "backend")
    assert name == auto_name("urn:pulumi:dev::tims-stack::x::backend", "backend")
    prefix, suffix = name.rsplit("-", 1)
    assert prefix == "backend"
    assert len(suffix) == 7
    assert int(suffix, 16) >= 0


def test_fake_secrets_are_marked_and_distinct() -> None:
    assert SECRET_MARK in fake_secret("a")
    assert fake_secret("a") != fake_secret("b")


def test_secret_helpers_reveal_and_drop_wrapped_values() -> None:
    wrapped = {
        "4dabf18193072939515e22adb298388d": "1b47061264138c4ac30d75fd1eb44270",
        "value": "s3cret",
    }
    value = {"a": wrapped, "b": [1.0, "x"]}
    assert reveal(value) == {"a": "s3cret", "b": [1.0, "x"]}
    assert plaintext(value) == {"a": None, "b": [1.0, "x"]}
    assert integral(reveal(value)) == {"a": "s3cret", "b": [1, "x"]}
