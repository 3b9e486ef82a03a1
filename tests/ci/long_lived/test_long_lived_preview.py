"""The PR preview of one long-lived stack: the comment, the verdict, the program's env."""

from __future__ import annotations

import json

from scripts.long_lived_preview import INTENDED_LABEL, judge, marker, program_env
from tests.ci.long_lived.conftest import digest, postgres_replacement


def test_a_failed_preview_fails_and_says_so_in_the_comment() -> None:
    verdict = judge("staging", 255, "", [])
    assert not verdict.ok
    assert "failed (exit status 255)" in verdict.body


def test_a_digest_the_script_cannot_read_puts_no_value_into_the_comment() -> None:
    broken = {"steps": [{"op": "create", "newState": {"inputs": {"password": "s3cr3t-value"}}}]}
    verdict = judge("staging", 0, json.dumps(broken), [])
    assert not verdict.ok
    assert "s3cr3t" not in verdict.body, f"a value reached the comment: {verdict.body}"


def test_a_preview_without_changes_passes() -> None:
    verdict = judge("staging", 0, json.dumps(digest()), [])
    assert verdict.ok
    assert "No changes to `staging`." in verdict.body


def test_a_stateful_replacement_fails_without_the_label_and_names_it() -> None:
    verdict = judge("production", 0, json.dumps(digest(*postgres_replacement())), ["bug"])
    assert not verdict.ok
    assert INTENDED_LABEL in verdict.message
    assert "postgres" in verdict.message


def test_the_label_makes_a_flagged_replacement_pass_but_keeps_the_flag() -> None:
    verdict = judge("production", 0, json.dumps(digest(*postgres_replacement())), [INTENDED_LABEL])
    assert verdict.ok
    assert "[!CAUTION]" in verdict.body


def test_each_stack_has_its_own_marker() -> None:
    assert marker("staging") not in marker("production")
    assert marker("staging") not in marker("staging-eu")


def test_the_program_gets_the_preview_token_and_never_the_runs() -> None:
    env = program_env({"GITHUB_TOKEN": "run", "PREVIEW_GITHUB_TOKEN": "read", "HOME": "/h"})
    assert env == {"GITHUB_TOKEN": "read", "HOME": "/h"}


def test_without_a_preview_token_the_program_gets_no_github_token() -> None:
    assert "GITHUB_TOKEN" not in program_env({"GITHUB_TOKEN": "run"})
