"""The emulator's pull requests: get, list by state, a fork's head, as GitHub answers."""

from __future__ import annotations

import httpx

from tests.github.emulator import GitHubEmulator
from tests.github.fixtures import APP_REPO

PULLS = f"/repos/{APP_REPO}/pulls"
SHA = "b" * 40


def test_a_pull_request_shows_its_head_branch_commit_and_labels(
    emulator: GitHubEmulator, gh: httpx.Client
) -> None:
    number = emulator.add_pull(APP_REPO, "feat/login", SHA, labels=["preview"])
    pull = gh.get(f"{PULLS}/{number}").json()
    assert (pull["state"], pull["head"]["ref"], pull["head"]["sha"]) == ("open", "feat/login", SHA)
    assert pull["head"]["repo"]["full_name"] == APP_REPO
    assert [label["name"] for label in pull["labels"]] == ["preview"]


def test_a_push_moves_the_head_and_closing_changes_the_state(
    emulator: GitHubEmulator, gh: httpx.Client
) -> None:
    number = emulator.add_pull(APP_REPO, "feat/login", SHA)
    emulator.push_pull(APP_REPO, number, "c" * 40)
    emulator.set_pull_state(APP_REPO, number, "closed")
    pull = gh.get(f"{PULLS}/{number}").json()
    assert (pull["state"], pull["head"]["sha"]) == ("closed", "c" * 40)
    assert pull["closed_at"] is not None


def test_a_fork_pr_names_the_fork_as_its_head_repository(
    emulator: GitHubEmulator, gh: httpx.Client
) -> None:
    emulator.add_account("mallory")
    emulator.add_repo("mallory/app")
    number = emulator.add_pull(APP_REPO, "patch-1", SHA, head_repo="mallory/app")
    head = gh.get(f"{PULLS}/{number}").json()["head"]
    assert (head["repo"]["full_name"], head["repo"]["fork"]) == ("mallory/app", True)


def test_the_list_is_newest_first_and_filtered_by_state(
    emulator: GitHubEmulator, gh: httpx.Client
) -> None:
    first = emulator.add_pull(APP_REPO, "a", SHA)
    second = emulator.add_pull(APP_REPO, "b", SHA)
    emulator.set_pull_state(APP_REPO, first, "closed")
    assert [p["number"] for p in gh.get(PULLS).json()] == [second]
    every = gh.get(PULLS, params={"state": "all", "per_page": 1})
    assert [p["number"] for p in every.json()] == [second]
    assert 'rel="next"' in every.headers["link"]


def test_an_issue_number_is_not_a_pull_request(emulator: GitHubEmulator, gh: httpx.Client) -> None:
    number = emulator.add_issue(APP_REPO, "Drift on staging")
    assert gh.get(f"{PULLS}/{number}").status_code == 404
