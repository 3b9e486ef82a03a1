"""The list of long-lived stacks."""

from __future__ import annotations

from pathlib import Path

import pytest

from scripts.long_lived import LongLivedError, LongLivedStack, load, main, parse
from tests.conftest import REPO_ROOT


def test_the_default_list_is_staging_then_production() -> None:
    assert load(REPO_ROOT / ".github/long-lived-stacks.yml") == [
        LongLivedStack("staging", "staging"),
        LongLivedStack("production", "production"),
    ]


def test_a_pr_stack_name_is_refused() -> None:
    with pytest.raises(LongLivedError, match="PR stack"):
        parse({"stacks": [{"stack": "pr-12", "environment": "x"}]}, "f")


def test_a_stack_listed_twice_is_refused() -> None:
    twice = [{"stack": "staging", "environment": "a"}, {"stack": "staging", "environment": "b"}]
    with pytest.raises(LongLivedError, match="listed twice: staging"):
        parse({"stacks": twice}, "f")


def test_an_environment_name_with_a_slash_is_refused() -> None:
    with pytest.raises(LongLivedError, match=r"stacks\[0\].*GitHub environment"):
        parse({"stacks": [{"stack": "staging", "environment": "a/b"}]}, "f")


def test_an_unknown_key_is_refused() -> None:
    with pytest.raises(LongLivedError, match="exactly the keys"):
        parse({"stacks": [{"stack": "s", "environment": "e", "order": 1}]}, "f")


def test_the_matrix_is_written_to_the_step_output(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    output = tmp_path / "out"
    monkeypatch.setenv("GITHUB_OUTPUT", str(output))
    assert main(["--file", str(REPO_ROOT / ".github/long-lived-stacks.yml")]) == 0
    assert output.read_text().startswith('stacks=[{"stack":"staging","environment":"staging"}')


def test_a_missing_file_fails_naming_it(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--file", str(tmp_path / "nope.yml")]) == 1
    assert "nope.yml: no such file" in capsys.readouterr().err
