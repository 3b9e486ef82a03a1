"""Stack names for PRs and branches: valid labels, length limits, no collisions."""

from __future__ import annotations

import re

import pytest

from scripts.stack_names import (
    MAX_ENV_LENGTH,
    check_environment,
    main,
    pr_number_of,
    stack_name_for_branch,
    stack_name_for_pr,
)
from stack.naming import default_namespace

LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")


def assert_valid_environment(name: str, source: str) -> None:
    assert LABEL.fullmatch(name), f"{name!r} (from {source!r}) is not an RFC 1123 label"
    assert len(name) <= MAX_ENV_LENGTH, f"{name!r} (from {source!r}) is longer than 52"
    # The program's own rule: an uncut namespace means no hash was needed to fit 63.
    namespace = default_namespace(name)
    assert namespace == f"tims-stack-{name}", (
        f"environment {name!r} (from {source!r}) gets the cut namespace {namespace!r}"
    )


def test_longest_allowed_environment_gets_the_programs_uncut_namespace() -> None:
    name = check_environment("e" * MAX_ENV_LENGTH)
    assert default_namespace(name) == f"tims-stack-{name}", (
        f"a {MAX_ENV_LENGTH}-character environment would get a hashed namespace"
    )


def test_pr_number_gives_pr_dash_number() -> None:
    assert stack_name_for_pr(123) == "pr-123"


@pytest.mark.parametrize("bad", [0, -4, True, "12", 1.5])
def test_pr_number_must_be_a_positive_integer(bad: object) -> None:
    with pytest.raises(ValueError, match="positive integer"):
        stack_name_for_pr(bad)  # type: ignore[arg-type]


def test_largest_pr_number_still_fits_the_namespace() -> None:
    name = stack_name_for_pr(10**40)
    assert_valid_environment(name, "10**40")


def test_valid_branch_name_is_kept_as_is() -> None:
    assert stack_name_for_branch("feature-login") == "feature-login"


def test_refs_heads_prefix_is_ignored() -> None:
    assert stack_name_for_branch("refs/heads/staging") == "staging"


@pytest.mark.parametrize(
    "branch",
    ["feature/Login", "fix_bug#12", "UPPER", "dots.and.more", "-leading", "trailing-", "a//b"],
)
def test_invalid_characters_are_mapped_to_a_valid_label(branch: str) -> None:
    assert_valid_environment(stack_name_for_branch(branch), branch)


def test_mapped_name_keeps_the_readable_part_and_adds_a_hash() -> None:
    name = stack_name_for_branch("feature/Login")
    assert re.fullmatch(r"feature-login-[0-9a-f]{8}", name), name


def test_branches_that_map_to_the_same_slug_get_different_names() -> None:
    names = {stack_name_for_branch(b) for b in ("feature/x", "feature_x", "Feature-X", "feature-x")}
    assert len(names) == 4, f"colliding stack names: {sorted(names)}"


def test_long_branch_name_is_truncated_to_52_characters() -> None:
    branch = "feature-" + "a" * 100
    name = stack_name_for_branch(branch)
    assert_valid_environment(name, branch)
    assert len(name) == MAX_ENV_LENGTH, f"{name!r} should use the whole 52 characters"


def test_long_branches_sharing_a_prefix_get_different_names() -> None:
    first = stack_name_for_branch("x" * 80 + "-one")
    second = stack_name_for_branch("x" * 80 + "-two")
    assert first != second, f"both long branches became {first!r}"


def test_branch_of_exactly_52_valid_characters_is_not_changed() -> None:
    branch = "b" * MAX_ENV_LENGTH
    assert stack_name_for_branch(branch) == branch


def test_truncation_never_leaves_a_hyphen_before_the_hash() -> None:
    branch = "a" * 42 + "/" + "b" * 30  # the cut falls right after the mapped '/'
    name = stack_name_for_branch(branch)
    assert "--" not in name, f"{name!r} has an empty segment"
    assert_valid_environment(name, branch)


def test_branch_of_only_invalid_characters_still_gets_a_name() -> None:
    name = stack_name_for_branch("___")
    assert re.fullmatch(r"branch-[0-9a-f]{8}", name), name


def test_branch_named_like_a_pr_stack_does_not_take_the_pr_name() -> None:
    name = stack_name_for_branch("pr-12")
    assert name != "pr-12"
    assert pr_number_of(name) is None, f"{name!r} would be swept as PR 12's stack"


@pytest.mark.parametrize("bad", ["", "   ", "refs/heads/"])
def test_empty_branch_name_is_refused(bad: str) -> None:
    with pytest.raises(ValueError, match="empty"):
        stack_name_for_branch(bad)


@pytest.mark.parametrize(
    ("stack", "number"),
    [
        ("pr-7", 7),
        ("acme/pr-42", 42),
        ("org/proj/pr-9", 9),
        ("pr-07", None),
        ("pr-", None),
        ("dev", None),
        ("pr-12-old", None),
        ("xpr-1", None),
    ],
)
def test_pr_number_is_read_only_from_exact_pr_stack_names(stack: str, number: int | None) -> None:
    assert pr_number_of(stack) == number


@pytest.mark.parametrize(
    ("bad", "reason"),
    [
        ("", "empty"),
        ("a" * 53, "at most 52"),
        ("Dev", "RFC 1123"),
        ("-dev", "RFC 1123"),
        ("dev_1", "RFC 1123"),
    ],
)
def test_invalid_environment_names_are_refused_with_the_reason(bad: str, reason: str) -> None:
    with pytest.raises(ValueError, match=reason):
        check_environment(bad)


def test_cli_prints_the_pr_stack_name(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--pr", "5"]) == 0
    assert capsys.readouterr().out == "pr-5\n"


def test_cli_reports_a_bad_pr_number_on_stderr(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--pr", "0"]) == 2
    assert "positive integer" in capsys.readouterr().err


def test_prs_number_12_of_both_repositories_get_distinct_readable_stacks() -> None:
    own, app = stack_name_for_pr(12), stack_name_for_pr(12, app=True)
    assert (own, app) == ("pr-12", "app-pr-12")
    assert_valid_environment(app, "app PR 12")


def test_each_kind_of_pr_stack_is_read_only_as_its_own_kind() -> None:
    assert (pr_number_of("app-pr-12"), pr_number_of("app-pr-12", app=True)) == (None, 12)
    assert pr_number_of("pr-12", app=True) is None


def test_branch_named_like_an_app_pr_stack_does_not_take_its_name() -> None:
    name = stack_name_for_branch("app-pr-12")
    assert pr_number_of(name, app=True) is None, f"{name!r} would be swept as app PR 12's"


def test_cli_prints_the_app_pr_stack_name(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--app-pr", "12"]) == 0
    assert capsys.readouterr().out == "app-pr-12\n"
