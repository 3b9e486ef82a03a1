"""Drift: telling drift from failure, and the one issue per stack, against the emulator."""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping, Sequence

import pytest

from scripts.drift import Check, Drift, DriftError, checks, classify, main, marker, reconcile
from scripts.github_api import GitHubApi
from tests.ci.long_lived.conftest import BOT, REPO, STACK_TYPE, digest, refreshed, step
from tests.github.emulator import GitHubEmulator

DEPLOYMENT = "tims-stack:k8s:Backend$kubernetes:apps/v1:Deployment"
REFRESH = checks("production")[0]


@pytest.fixture
def api(repo_emulator: GitHubEmulator) -> Iterator[GitHubApi]:
    with GitHubApi(repo_emulator.token, repo_emulator.base_url) as client:
        yield client


def found() -> list[tuple[Check, list[str]]]:
    return [(REFRESH, ["| update | x | y | z |"])]


def test_exit_status_0_is_no_drift() -> None:
    assert classify(REFRESH, 0, "") == (Drift.NONE, [])


def test_exit_status_7_is_drift_with_its_changes() -> None:
    document = json.dumps(digest(step("update", STACK_TYPE, "postgres", diffReasons=["spec"])))
    drift, table = classify(REFRESH, 7, document)
    assert drift is Drift.FOUND
    assert "`postgres`" in "\n".join(table)


def test_a_refresh_drift_lists_only_the_changed_resources() -> None:
    drifted = step("update", STACK_TYPE, "postgres", diffReasons=["spec.replicas"])
    document = json.dumps(digest(refreshed("backend", DEPLOYMENT), drifted))
    drift, table = classify(REFRESH, 7, document)
    assert drift is Drift.FOUND
    assert "`postgres`" in "\n".join(table)
    assert "`backend`" not in "\n".join(table), "an unchanged resource is listed as drift"


def test_any_other_failure_is_an_error_not_drift() -> None:
    with pytest.raises(DriftError, match="exit status 255"):
        classify(REFRESH, 255, json.dumps(digest(step("update", STACK_TYPE, "postgres"))))


def test_both_checks_are_read_only_and_expect_no_changes() -> None:
    refresh, preview = checks("staging")
    assert refresh.command[:3] == ("pulumi", "refresh", "--preview-only")
    assert preview.command[:2] == ("pulumi", "preview")
    assert all("--expect-no-changes" in c.command for c in (refresh, preview))


def test_drift_opens_one_issue_labelled_drift(
    api: GitHubApi, repo_emulator: GitHubEmulator
) -> None:
    assert reconcile(api, REPO, "production", found()).startswith("opened issue #")
    issues = repo_emulator.issues(REPO)
    assert [(i["title"], i["labels"]) for i in issues] == [("Drift on production", ["drift"])]


def test_drift_again_edits_the_open_issue(api: GitHubApi, repo_emulator: GitHubEmulator) -> None:
    reconcile(api, REPO, "production", found())
    assert reconcile(api, REPO, "production", found(), run_url="https://run/2").startswith(
        "updated"
    )
    issues = repo_emulator.issues(REPO)
    assert len(issues) == 1
    assert "https://run/2" in issues[0]["body"]


def test_no_drift_closes_the_issue_as_completed(
    api: GitHubApi, repo_emulator: GitHubEmulator
) -> None:
    reconcile(api, REPO, "production", found())
    assert reconcile(api, REPO, "production", []).startswith("closed issue #")
    assert [(i["state"], i["state_reason"]) for i in repo_emulator.issues(REPO)] == [
        ("closed", "completed")
    ]


def test_no_drift_and_no_issue_changes_nothing(
    api: GitHubApi, repo_emulator: GitHubEmulator
) -> None:
    assert reconcile(api, REPO, "production", []) == "no drift, no open issue"
    assert repo_emulator.issues(REPO) == []


def test_each_stack_has_its_own_issue(api: GitHubApi, repo_emulator: GitHubEmulator) -> None:
    reconcile(api, REPO, "staging", found())
    reconcile(api, REPO, "production", found())
    reconcile(api, REPO, "staging", [])
    states = {i["title"]: i["state"] for i in repo_emulator.issues(REPO)}
    assert states == {"Drift on staging": "closed", "Drift on production": "open"}


def test_an_issue_someone_else_wrote_with_the_marker_is_left_alone(
    api: GitHubApi, repo_emulator: GitHubEmulator
) -> None:
    repo_emulator.add_account("mallory")
    repo_emulator.add_issue(REPO, "copied", marker("production"), author="mallory")
    reconcile(api, REPO, "production", [])
    assert [i["state"] for i in repo_emulator.issues(REPO)] == ["open"]
    assert BOT != "mallory"


def test_drift_after_a_closed_issue_opens_a_new_one(
    api: GitHubApi, repo_emulator: GitHubEmulator
) -> None:
    reconcile(api, REPO, "production", found())
    reconcile(api, REPO, "production", [])
    assert reconcile(api, REPO, "production", found()).startswith("opened issue #")
    assert [i["state"] for i in repo_emulator.issues(REPO)] == ["closed", "open"]


def test_a_failed_check_fails_the_run_and_leaves_the_issue_open(
    api: GitHubApi, repo_emulator: GitHubEmulator, capsys: pytest.CaptureFixture[str]
) -> None:
    reconcile(api, REPO, "production", found())

    def failing(command: Sequence[str], env: Mapping[str, str]) -> tuple[int, str]:
        return 255, ""

    assert main(["--repo", REPO, "--stack", "production"], runner=failing, api=api) == 1
    assert "::error title=Drift check of production::" in capsys.readouterr().err
    assert [i["state"] for i in repo_emulator.issues(REPO)] == ["open"]
