"""Workflow dispatch, runs and jobs as the emulator serves them, seen through plain httpx."""

from __future__ import annotations

from typing import Any

import httpx

from tests.github.clock import FakeClock
from tests.github.emulator import GitHubEmulator, RunPlan, parse_link_header
from tests.github.fixtures import APP_REPO, SAMPLE_INPUTS, WORKFLOW_FILE, dispatch

RUNS = f"/repos/{APP_REPO}/actions/runs"


def _new_run_id(gh: httpx.Client, **inputs: str) -> int:
    answer = dispatch(gh, {**SAMPLE_INPUTS, **inputs}, return_run_details=True)
    assert answer.status_code == 200, f"dispatch of {WORKFLOW_FILE}: {answer.text}"
    return int(answer.json()["workflow_run_id"])


def _run(gh: httpx.Client, run_id: int) -> dict[str, Any]:
    answer = gh.get(f"{RUNS}/{run_id}")
    assert answer.status_code == 200, f"GET run {run_id}: {answer.text}"
    result: dict[str, Any] = answer.json()
    return result


def _jobs(gh: httpx.Client, run_id: int) -> dict[str, dict[str, Any]]:
    answer = gh.get(f"{RUNS}/{run_id}/jobs")
    assert answer.status_code == 200, f"GET jobs of run {run_id}: {answer.text}"
    return {job["name"]: job for job in answer.json()["jobs"]}


def test_dispatch_with_run_details_returns_the_new_runs_id_and_urls(
    emulator: GitHubEmulator, gh: httpx.Client
) -> None:
    answer = dispatch(gh, SAMPLE_INPUTS, return_run_details=True)

    assert answer.status_code == 200, answer.text
    details = answer.json()
    (run,) = emulator.runs(APP_REPO)
    assert details["workflow_run_id"] == run["id"], "dispatch answer names another run"
    assert details["run_url"] == f"{emulator.base_url}{RUNS}/{run['id']}"
    assert details["html_url"] == f"https://github.com/{APP_REPO}/actions/runs/{run['id']}"


def test_run_display_title_renders_the_workflows_run_name_with_the_inputs(
    gh: httpx.Client,
) -> None:
    run_id = _new_run_id(gh, tag="dev-abc", correlation_id="c-42")

    assert _run(gh, run_id)["display_title"] == "Build dev-abc [c-42]"


def test_run_goes_queued_in_progress_completed_as_the_clock_advances(
    emulator: GitHubEmulator, fake_clock: FakeClock, gh: httpx.Client
) -> None:
    emulator.plan_next_run(APP_REPO, WORKFLOW_FILE, RunPlan(queued_for=5, duration=600))
    run_id = _new_run_id(gh)
    seen = []
    for advance in (0, 5, 590, 5):
        fake_clock.advance(advance)
        run = _run(gh, run_id)
        seen.append((run["status"], run["conclusion"]))

    assert seen == [
        ("queued", None),
        ("in_progress", None),
        ("in_progress", None),
        ("completed", "success"),
    ], f"status of run {run_id} over a 600 s build"


def test_a_test_playing_the_runner_starts_and_completes_a_run(
    emulator: GitHubEmulator, fake_clock: FakeClock, gh: httpx.Client
) -> None:
    emulator.plan_next_run(APP_REPO, WORKFLOW_FILE, RunPlan(queued_for=10**7, duration=2 * 10**7))
    run_id = _new_run_id(gh)
    seen = [_run(gh, run_id)["status"]]
    fake_clock.advance(30)
    emulator.set_run_status(APP_REPO, run_id, "in_progress")
    seen.append(_run(gh, run_id)["status"])
    fake_clock.advance(30)
    emulator.set_run_status(APP_REPO, run_id, "completed", "failure")
    run = _run(gh, run_id)
    assert [*seen, run["status"], run["conclusion"]] == [
        "queued",
        "in_progress",
        "completed",
        "failure",
    ], f"run {run_id}"


def test_failed_run_reports_the_failed_job_and_step(
    emulator: GitHubEmulator, fake_clock: FakeClock, gh: httpx.Client
) -> None:
    plan = RunPlan(conclusion="failure", failed_jobs={"build (backend)": ["Build and push"]})
    emulator.plan_next_run(APP_REPO, WORKFLOW_FILE, plan)
    run_id = _new_run_id(gh)
    fake_clock.advance(plan.duration)

    assert _run(gh, run_id)["conclusion"] == "failure"
    jobs = _jobs(gh, run_id)
    backend, frontend = jobs["build (backend)"], jobs["build (frontend)"]
    assert backend["conclusion"] == "failure", "the planned failing job"
    failed_steps = [s["name"] for s in backend["steps"] if s["conclusion"] == "failure"]
    assert failed_steps == ["Build and push"], f"failed steps of {backend['name']}"
    assert frontend["conclusion"] == "success", "a job the plan did not fail"


def test_failed_run_without_named_jobs_still_has_a_failed_job(
    emulator: GitHubEmulator, fake_clock: FakeClock, gh: httpx.Client
) -> None:
    emulator.plan_next_run(APP_REPO, WORKFLOW_FILE, RunPlan(conclusion="failure"))
    run_id = _new_run_id(gh)
    fake_clock.advance(60)

    failed = [name for name, job in _jobs(gh, run_id).items() if job["conclusion"] == "failure"]
    assert failed, f"run {run_id} failed but none of its jobs did"


def test_jobs_are_queued_until_the_run_starts(gh: httpx.Client) -> None:
    run_id = _new_run_id(gh)

    for name, job in _jobs(gh, run_id).items():
        assert (job["status"], job["runner_name"]) == ("queued", None), f"job {name}"
        assert all(step["status"] == "queued" for step in job["steps"]), f"steps of {name}"


def test_cancel_makes_the_run_complete_as_cancelled(
    emulator: GitHubEmulator, fake_clock: FakeClock, gh: httpx.Client
) -> None:
    run_id = _new_run_id(gh)
    fake_clock.advance(20)

    answer = gh.post(f"{RUNS}/{run_id}/cancel")
    fake_clock.advance(emulator.cancel_latency)

    assert answer.status_code == 202, answer.text
    run = _run(gh, run_id)
    assert (run["status"], run["conclusion"]) == ("completed", "cancelled"), f"run {run_id}"
    assert emulator.cancelled_run_ids() == [run_id]
    assert {job["conclusion"] for job in _jobs(gh, run_id).values()} == {"cancelled"}


def test_cancelled_run_stays_in_progress_until_the_runner_stops(
    emulator: GitHubEmulator, fake_clock: FakeClock, gh: httpx.Client
) -> None:
    run_id = _new_run_id(gh)
    fake_clock.advance(20)
    gh.post(f"{RUNS}/{run_id}/cancel")

    assert _run(gh, run_id)["status"] == "in_progress", f"run {run_id} right after cancel"


def test_cancel_of_a_completed_run_is_409(
    emulator: GitHubEmulator, fake_clock: FakeClock, gh: httpx.Client
) -> None:
    run_id = _new_run_id(gh)
    fake_clock.advance(61)

    answer = gh.post(f"{RUNS}/{run_id}/cancel")

    assert answer.status_code == 409, answer.text
    assert answer.json()["message"] == "Cannot cancel a workflow run that is completed."
    assert emulator.cancelled_run_ids() == []


def test_dispatch_with_an_undeclared_input_is_422_and_starts_nothing(
    emulator: GitHubEmulator, gh: httpx.Client
) -> None:
    answer = dispatch(gh, {"tag": "t", "git_user": "someone"})

    assert answer.status_code == 422, answer.text
    assert answer.json()["message"] == 'Unexpected inputs provided: ["git_user"]'
    assert emulator.runs(APP_REPO) == []


def test_dispatch_of_an_unknown_ref_is_422(emulator: GitHubEmulator, gh: httpx.Client) -> None:
    answer = dispatch(gh, SAMPLE_INPUTS, ref="no-such-branch")

    assert answer.status_code == 422, answer.text
    assert answer.json()["message"] == "No ref found for: no-such-branch"


def test_dispatch_of_an_unknown_workflow_is_404(gh: httpx.Client) -> None:
    answer = gh.post(
        f"/repos/{APP_REPO}/actions/workflows/nope.yml/dispatches", json={"ref": "main"}
    )

    assert answer.status_code == 404, answer.text
    assert answer.json()["message"] == "Not Found"


def test_dispatch_without_run_details_answers_204_without_body(
    emulator: GitHubEmulator, gh: httpx.Client
) -> None:
    answer = dispatch(gh, SAMPLE_INPUTS)

    assert (answer.status_code, answer.content) == (204, b"")
    assert len(emulator.runs(APP_REPO)) == 1, "the dispatch started no run"


def test_server_rejecting_return_run_details_answers_400_and_starts_nothing(
    emulator: GitHubEmulator, gh: httpx.Client
) -> None:
    emulator.return_run_details = "reject_400"

    answer = dispatch(gh, SAMPLE_INPUTS, return_run_details=True)

    assert answer.status_code == 400, answer.text
    assert "return_run_details" in answer.json()["message"]
    assert emulator.runs(APP_REPO) == []


def test_server_ignoring_return_run_details_answers_204_and_starts_the_run(
    emulator: GitHubEmulator, gh: httpx.Client
) -> None:
    emulator.return_run_details = "ignore_204"

    answer = dispatch(gh, SAMPLE_INPUTS, return_run_details=True)

    assert (answer.status_code, answer.content) == (204, b"")
    assert len(emulator.runs(APP_REPO)) == 1


def test_run_builds_the_branch_head_at_dispatch_time(
    emulator: GitHubEmulator, gh: httpx.Client
) -> None:
    moved = "a" * 40
    emulator.set_branch(APP_REPO, "main", moved)

    run_id = _new_run_id(gh)

    assert _run(gh, run_id)["head_sha"] == moved


def test_run_reports_the_planned_built_sha(emulator: GitHubEmulator, gh: httpx.Client) -> None:
    emulator.plan_next_run(APP_REPO, WORKFLOW_FILE, RunPlan(built_sha="b" * 40))

    run_id = _new_run_id(gh)

    assert _run(gh, run_id)["head_sha"] == "b" * 40


def test_runs_list_is_newest_first_with_runs_of_others(
    emulator: GitHubEmulator, fake_clock: FakeClock, gh: httpx.Client
) -> None:
    before = emulator.start_foreign_run(APP_REPO, WORKFLOW_FILE, RunPlan(), {}, offset=-2)
    ours = _new_run_id(gh)
    fake_clock.advance(1)
    after = emulator.start_foreign_run(APP_REPO, WORKFLOW_FILE, RunPlan(), {})

    listed = gh.get(f"/repos/{APP_REPO}/actions/workflows/{WORKFLOW_FILE}/runs").json()

    assert [r["id"] for r in listed["workflow_runs"]] == [after, ours, before]
    assert listed["total_count"] == 3
    actors = {r["id"]: r["actor"]["login"] for r in listed["workflow_runs"]}
    assert actors == {after: "someone-else", ours: "acme", before: "someone-else"}


def test_foreign_run_in_the_future_appears_when_the_clock_reaches_it(
    emulator: GitHubEmulator, fake_clock: FakeClock, gh: httpx.Client
) -> None:
    later = emulator.start_foreign_run(APP_REPO, WORKFLOW_FILE, RunPlan(), {}, offset=3)

    hidden = gh.get(f"{RUNS}/{later}")
    fake_clock.advance(3)
    shown = gh.get(f"{RUNS}/{later}")

    assert (hidden.status_code, shown.status_code) == (404, 200), f"run {later}"


def test_runs_list_filters_by_status(
    emulator: GitHubEmulator, fake_clock: FakeClock, gh: httpx.Client
) -> None:
    done = emulator.start_foreign_run(
        APP_REPO, WORKFLOW_FILE, RunPlan(duration=10, queued_for=1), {}, offset=-30
    )
    running = _new_run_id(gh)

    completed = gh.get(RUNS, params={"status": "completed"}).json()["workflow_runs"]
    queued = gh.get(RUNS, params={"status": "queued"}).json()["workflow_runs"]
    succeeded = gh.get(RUNS, params={"status": "success"}).json()["workflow_runs"]

    assert [r["id"] for r in completed] == [done]
    assert [r["id"] for r in queued] == [running]
    assert [r["id"] for r in succeeded] == [done], "status also filters on the conclusion"


def test_runs_list_filters_by_created_date_range(
    emulator: GitHubEmulator, fake_clock: FakeClock, gh: httpx.Client
) -> None:
    old = emulator.start_foreign_run(APP_REPO, WORKFLOW_FILE, RunPlan(), {}, offset=-7200)
    new = _new_run_id(gh)
    since = "2026-05-28T20:00:00Z"  # FakeClock starts at 2026-05-28T20:26:40Z

    recent = gh.get(RUNS, params={"created": f">={since}"}).json()["workflow_runs"]
    earlier = gh.get(RUNS, params={"created": f"*..{since}"}).json()["workflow_runs"]

    assert [r["id"] for r in recent] == [new]
    assert [r["id"] for r in earlier] == [old]


def test_runs_list_filters_by_branch_and_event(emulator: GitHubEmulator, gh: httpx.Client) -> None:
    emulator.set_branch(APP_REPO, "feature", "c" * 40)
    on_main = _new_run_id(gh)
    dispatch(gh, SAMPLE_INPUTS, ref="feature")

    main_runs = gh.get(RUNS, params={"branch": "main"}).json()["workflow_runs"]
    pushes = gh.get(RUNS, params={"event": "push"}).json()["workflow_runs"]

    assert [r["id"] for r in main_runs] == [on_main]
    assert pushes == [], "all emulated runs are workflow_dispatch runs"


def test_runs_list_pages_with_link_headers(emulator: GitHubEmulator, gh: httpx.Client) -> None:
    for index in range(5):
        emulator.start_foreign_run(APP_REPO, WORKFLOW_FILE, RunPlan(), {}, offset=-index)

    first = gh.get(RUNS, params={"per_page": 2})
    links = parse_link_header(first.headers["link"])
    last = gh.get(links["last"])
    last_links = parse_link_header(last.headers["link"])

    assert len(first.json()["workflow_runs"]) == 2
    assert set(links) == {"next", "last"}
    assert links["next"] == f"{emulator.base_url}{RUNS}?per_page=2&page=2"
    assert len(last.json()["workflow_runs"]) == 1, "5 runs at 2 a page leave 1 on page 3"
    assert set(last_links) == {"prev", "first"}


def test_successful_run_pushes_the_planned_image_tags(
    emulator: GitHubEmulator, fake_clock: FakeClock, gh: httpx.Client
) -> None:
    plan = RunPlan(push={"app-backend": "tag"})
    emulator.plan_next_run(APP_REPO, WORKFLOW_FILE, plan)
    _new_run_id(gh, tag="dev-1")

    before = emulator.package_versions("acme", "app-backend")
    fake_clock.advance(plan.duration)

    assert before is None, "the image exists before the build finished"
    assert emulator.package_versions("acme", "app-backend") == [["dev-1"]]


def test_failed_run_pushes_nothing(
    emulator: GitHubEmulator, fake_clock: FakeClock, gh: httpx.Client
) -> None:
    emulator.plan_next_run(
        APP_REPO, WORKFLOW_FILE, RunPlan(conclusion="failure", push={"app-backend": "tag"})
    )
    _new_run_id(gh, tag="dev-1")
    fake_clock.advance(60)

    assert emulator.package_versions("acme", "app-backend") is None


def test_pushing_an_existing_tag_moves_it_to_the_new_version(
    emulator: GitHubEmulator, fake_clock: FakeClock, gh: httpx.Client
) -> None:
    emulator.add_package("acme", "app-backend", [["dev-1", "latest"]])
    emulator.plan_next_run(APP_REPO, WORKFLOW_FILE, RunPlan(push={"app-backend": "tag"}))
    _new_run_id(gh, tag="latest")
    fake_clock.advance(60)

    assert emulator.package_versions("acme", "app-backend") == [["dev-1"], ["latest"]]


def test_real_clock_emulator_completes_runs_in_real_time(real_emulator: GitHubEmulator) -> None:
    real_emulator.plan_next_run(APP_REPO, WORKFLOW_FILE, RunPlan(queued_for=0.0, duration=0.2))
    with httpx.Client(
        base_url=real_emulator.base_url,
        headers={"Authorization": f"token {real_emulator.token}"},
    ) as client:
        run_id = _new_run_id(client)
        real_emulator.clock.sleep(0.25)
        run = _run(client, run_id)

    assert (run["status"], run["conclusion"]) == ("completed", "success"), f"run {run_id}"
