"""The test runner's reading of GitHub's expressions (tests/ci/workflow_runner.py)."""

from __future__ import annotations

from typing import Any

from tests.ci.workflow_runner import condition, substitute

DISPATCH = {"github": {"event_name": "workflow_dispatch", "token": "run"}, "secrets": {"PAT": "p"}}


def _with(status: str) -> dict[str, Any]:
    return {**DISPATCH, "job": {"status": status}}


def test_and_or_return_an_operand_as_github_does() -> None:
    text = "${{ github.event_name == 'workflow_dispatch' && secrets.PAT || github.token }}"
    assert substitute(text, DISPATCH) == "p"
    assert substitute(text, {**DISPATCH, "secrets": {}}) == "run", "an unset secret is ''"


def test_string_comparison_ignores_case() -> None:
    assert condition("github.event_name == 'WORKFLOW_DISPATCH'", _with("success"))


def test_a_condition_without_a_status_function_needs_success() -> None:
    assert not condition("github.event_name == 'workflow_dispatch'", _with("failure"))
    assert condition("failure() && github.event_name == 'workflow_dispatch'", _with("failure"))


def test_format_fills_its_placeholders() -> None:
    assert substitute("${{ format('app-pr-{0}', inputs.pr) }}", {"inputs": {"pr": "12"}}) == (
        "app-pr-12"
    )
