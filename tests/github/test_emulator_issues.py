"""The emulator's issues: filters, pagination, create, close and reopen, as GitHub answers."""

from __future__ import annotations

import httpx

from tests.github.emulator import GitHubEmulator
from tests.github.fixtures import APP_REPO

ISSUES = f"/repos/{APP_REPO}/issues"


def test_created_issue_is_listed_open_with_its_labels_and_author(
    emulator: GitHubEmulator, gh: httpx.Client
) -> None:
    created = gh.post(ISSUES, json={"title": "Drift on staging", "body": "b", "labels": ["drift"]})
    assert created.status_code == 201
    listed = gh.get(ISSUES, params={"labels": "drift"}).json()
    assert [(i["title"], i["user"]["login"]) for i in listed] == [("Drift on staging", "acme")]
    assert [label["name"] for label in listed[0]["labels"]] == ["drift"]


def test_closing_sets_closed_at_and_hides_it_from_the_open_list(
    emulator: GitHubEmulator, gh: httpx.Client
) -> None:
    number = emulator.add_issue(APP_REPO, "Drift on staging")
    closed = gh.patch(f"{ISSUES}/{number}", json={"state": "closed"}).json()
    assert (closed["state"], closed["state_reason"]) == ("closed", "completed")
    assert closed["closed_at"] is not None
    assert gh.get(ISSUES).json() == []
    assert [i["number"] for i in gh.get(ISSUES, params={"state": "closed"}).json()] == [number]


def test_reopening_clears_closed_at(emulator: GitHubEmulator, gh: httpx.Client) -> None:
    number = emulator.add_issue(APP_REPO, "x")
    gh.patch(f"{ISSUES}/{number}", json={"state": "closed"})
    reopened = gh.patch(f"{ISSUES}/{number}", json={"state": "open"}).json()
    assert (reopened["state_reason"], reopened["closed_at"]) == ("reopened", None)


def test_pull_requests_are_listed_as_issues_with_a_pull_request_object(
    emulator: GitHubEmulator, gh: httpx.Client
) -> None:
    emulator.add_issue(APP_REPO, "a PR", pull_request=True)
    listed = gh.get(ISSUES).json()
    assert listed[0]["pull_request"]["html_url"].endswith(f"/{APP_REPO}/pull/1")


def test_the_list_is_paginated_newest_first(emulator: GitHubEmulator, gh: httpx.Client) -> None:
    for n in range(3):
        emulator.add_issue(APP_REPO, f"issue {n}")
    first = gh.get(ISSUES, params={"per_page": 2})
    assert [i["title"] for i in first.json()] == ["issue 2", "issue 1"]
    assert 'rel="next"' in first.headers["link"]


def test_an_unknown_issue_number_is_not_found(emulator: GitHubEmulator, gh: httpx.Client) -> None:
    assert gh.patch(f"{ISSUES}/99", json={"state": "closed"}).status_code == 404


def test_a_title_is_required(emulator: GitHubEmulator, gh: httpx.Client) -> None:
    emulator.spec_violations.clear()
    answer = gh.post(ISSUES, json={"title": ""})
    assert answer.status_code == 422


def test_a_comment_is_listed_and_edited_in_place(
    emulator: GitHubEmulator, gh: httpx.Client
) -> None:
    number = emulator.add_issue(APP_REPO, "a PR", pull_request=True)
    posted = gh.post(f"{ISSUES}/{number}/comments", json={"body": "first"}).json()
    gh.patch(f"{ISSUES}/comments/{posted['id']}", json={"body": "second"})
    listed = gh.get(f"{ISSUES}/{number}/comments").json()
    assert [(c["body"], c["user"]["login"]) for c in listed] == [("second", "acme")]
    assert emulator.comments(APP_REPO, number) == ["second"]
