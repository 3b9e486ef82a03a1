"""The list of long-lived stacks."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from scripts.long_lived import (
    LongLivedError,
    LongLivedStack,
    deploy_job_problems,
    load,
    main,
    parse,
)
from tests.conftest import REPO_ROOT


def test_the_default_list_is_staging_then_production() -> None:
    assert load(REPO_ROOT / ".github/long-lived-stacks.yml") == [
        LongLivedStack("staging", "staging", "staging-preview"),
        LongLivedStack("production", "production"),
    ]


@pytest.mark.parametrize("stack", ["pr-12", "app-pr-12"])
def test_a_pr_stack_name_is_refused(stack: str) -> None:
    # The sweep and the TTL destroy such a stack once PR 12 (of this repository, or of the
    # application's) is closed.
    with pytest.raises(LongLivedError, match="PR stack"):
        parse({"stacks": [{"stack": stack, "environment": "x"}]}, "f")


def test_a_stack_listed_twice_is_refused() -> None:
    twice = [{"stack": "staging", "environment": "a"}, {"stack": "staging", "environment": "b"}]
    with pytest.raises(LongLivedError, match="listed twice: staging"):
        parse({"stacks": twice}, "f")


def test_an_environment_name_with_a_slash_is_refused() -> None:
    with pytest.raises(LongLivedError, match=r"stacks\[0\].*GitHub environment"):
        parse({"stacks": [{"stack": "staging", "environment": "a/b"}]}, "f")


def test_an_unknown_key_is_refused() -> None:
    with pytest.raises(LongLivedError, match="must have the keys"):
        parse({"stacks": [{"stack": "s", "environment": "e", "order": 1}]}, "f")


def test_the_matrix_is_written_to_the_step_output(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    output = tmp_path / "out"
    monkeypatch.setenv("GITHUB_OUTPUT", str(output))
    assert main(["--file", str(REPO_ROOT / ".github/long-lived-stacks.yml")]) == 0
    assert output.read_text().startswith(
        'stacks=[{"stack":"staging","environment":"staging","previewEnvironment":"staging-preview"}'
    )


def test_the_preview_environment_is_the_deploy_one_unless_given() -> None:
    (stack,) = parse({"stacks": [{"stack": "qa", "environment": "qa"}]}, "f")
    assert stack.preview_environment == "qa"


def test_a_preview_environment_name_with_a_slash_is_refused() -> None:
    entry = {"stack": "staging", "environment": "a", "previewEnvironment": "a/b"}
    with pytest.raises(LongLivedError, match=r"stacks\[0\].*GitHub environment 'a/b'"):
        parse({"stacks": [entry]}, "f")


def test_a_missing_file_fails_naming_it(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--file", str(tmp_path / "nope.yml")]) == 1
    assert "nope.yml: no such file" in capsys.readouterr().err


# --------------------------------------------------------------------------- deploy jobs

WORKFLOW = REPO_ROOT / ".github/workflows/long-lived.yml"
LIST = REPO_ROOT / ".github/long-lived-stacks.yml"


@pytest.fixture
def workflow() -> dict[str, Any]:
    document = yaml.safe_load(WORKFLOW.read_text(encoding="utf-8"))
    assert isinstance(document, dict)
    return document


def test_the_deploy_jobs_follow_the_list(workflow: dict[str, Any]) -> None:
    assert deploy_job_problems(load(LIST), workflow) == []


def test_a_listed_stack_without_its_job_is_a_problem(workflow: dict[str, Any]) -> None:
    stacks = [*load(LIST), LongLivedStack("eu-production", "eu-production")]
    assert deploy_job_problems(stacks, workflow) == [
        "no job deploy-eu-production for the listed stack"
    ]


def test_a_job_for_an_unlisted_stack_is_a_problem(workflow: dict[str, Any]) -> None:
    assert deploy_job_problems(load(LIST)[:1], workflow) == [
        "job deploy-production deploys no listed stack"
    ]


def test_jobs_chained_against_the_lists_order_are_a_problem(workflow: dict[str, Any]) -> None:
    reversed_list = list(reversed(load(LIST)))
    problems = deploy_job_problems(reversed_list, workflow)
    assert "deploy-production: needs is ['deploy-staging'], expected ['stacks']" in problems
    assert "deploy-staging: needs is ['stacks'], expected ['deploy-production']" in problems


@pytest.mark.parametrize(
    ("key", "value", "problem"),
    [
        ("environment", {"name": "staging"}, "environment is 'staging'"),
        ("env", {"STACK": "staging"}, "env.STACK is 'staging'"),
        ("concurrency", {"group": "x", "cancel-in-progress": True}, "concurrency is"),
        ("steps", [{"run": "pulumi up --yes"}], "steps is"),
    ],
)
def test_a_deploy_job_that_strays_from_its_entry_is_a_problem(
    workflow: dict[str, Any], key: str, value: object, problem: str
) -> None:
    workflow["jobs"]["deploy-production"][key] = value
    problems = deploy_job_problems(load(LIST), workflow)
    assert len(problems) == 1, problems
    assert problems[0].startswith(f"deploy-production: {problem}"), problems


def test_the_check_fails_the_run_naming_the_job(
    tmp_path: Path, workflow: dict[str, Any], capsys: pytest.CaptureFixture[str]
) -> None:
    del workflow["jobs"]["deploy-production"]
    broken = tmp_path / "long-lived.yml"
    broken.write_text(yaml.safe_dump(workflow), encoding="utf-8")
    assert main(["--file", str(LIST), "--deploy-jobs", str(broken)]) == 1
    assert "no job deploy-production for the listed stack" in capsys.readouterr().err
