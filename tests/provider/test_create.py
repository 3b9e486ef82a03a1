"""ImageBuild create against the GitHub API emulator, on virtual time."""

from __future__ import annotations

import re
from typing import Any

import pytest

from components.images.imagebuild.base import ImageBuildError
from components.images.imagebuild.provider import PollPolicy
from tests.github.emulator import GitHubEmulator, RunPlan
from tests.provider.conftest import (
    APP_REPO,
    IMAGES,
    MAIN_SHA,
    PUSH,
    TAG,
    WORKFLOW_FILE,
    Harness,
    base_props,
    configure,
    make_provider,
)

RUN_URL_RE = re.compile(r"https://github\.com/acme/app/actions/runs/(\d+)")


def only_run(harness: Harness) -> dict[str, Any]:
    runs = harness.emulator.runs(APP_REPO)
    assert len(runs) == 1, f"expected exactly one run of {APP_REPO}, found {len(runs)}"
    return runs[0]


def test_success_outputs_the_run_the_built_sha_and_full_image_references(harness: Harness) -> None:
    harness.plan(duration=600)
    result = harness.create()
    run = only_run(harness)
    assert result.outs is not None
    assert result.outs["runId"] == run["id"], "runId must be the dispatched run's id"
    assert result.outs["runUrl"] == run["html_url"]
    assert result.outs["commitSha"] == MAIN_SHA
    assert result.outs["skipped"] is False
    assert result.outs["images"] == {name: f"{repo}:{TAG}" for name, repo in IMAGES.items()}
    assert run["conclusion"] == "success", "the run of acme/app must have completed"


def test_progress_shows_the_run_url_first_then_each_status_change(harness: Harness) -> None:
    harness.plan(duration=120, queued_for=20)
    harness.create()
    url = only_run(harness)["html_url"]
    started = [i for i, line in enumerate(harness.lines) if url in line and "started" in line]
    assert started, f"no progress line names the run URL {url}: {harness.lines}"
    statuses = [line for line in harness.lines if url in line and " is " in line]
    assert [s.split(" is ")[1] for s in statuses] == ["in_progress", "completed (success)"], (
        f"each status change of {url} must be printed once: {harness.lines}"
    )
    assert started[0] < harness.lines.index(statuses[0])


def test_completion_of_a_ten_minute_build_is_noticed_within_15_seconds(harness: Harness) -> None:
    harness.plan(duration=600)
    start = harness.clock.time()
    harness.create()
    noticed_after = harness.clock.time() - start - 600
    assert 0 <= noticed_after <= 15, f"create returned {noticed_after:.1f} s after completion"
    assert max(harness.clock.sleeps) <= 15, "no poll interval may exceed 15 s"


def test_waiting_uses_conditional_requests_that_cost_no_rate_limit(harness: Harness) -> None:
    harness.plan(duration=600)
    harness.create()
    polls = [
        r for r in harness.calls("GET", "/actions/runs/") if r.path.endswith(tuple("0123456789"))
    ]
    assert len(polls) > 20, "a 10-minute build is polled regularly"
    assert all("if-none-match" in r.headers for r in polls[1:]), "polls after the first send ETags"
    counted = [r for r in polls if r.rate_limited]
    assert len(counted) <= 4, f"only status changes should cost rate limit, {len(counted)} did"


def test_failure_names_the_failed_job_its_failed_step_and_the_run_url(harness: Harness) -> None:
    harness.plan(
        duration=90, conclusion="failure", failed_jobs={"build (frontend)": ["Build and push"]}
    )
    with pytest.raises(ImageBuildError) as error:
        harness.create()
    message = str(error.value)
    assert "build (frontend)" in message, message
    assert "'Build and push'" in message, message
    assert only_run(harness)["html_url"] in message, message
    assert "build (backend)" not in message, "a job that succeeded must not be blamed"


def test_run_cancelled_by_someone_else_fails_saying_so(harness: Harness) -> None:
    harness.plan(duration=60, conclusion="cancelled")
    with pytest.raises(ImageBuildError, match="was cancelled") as error:
        harness.create()
    assert only_run(harness)["html_url"] in str(error.value)


def test_timeout_cancels_the_run_and_says_why(harness: Harness) -> None:
    harness.plan(duration=3600)
    with pytest.raises(ImageBuildError, match=r"timeoutSeconds=300.*was cancelled") as error:
        harness.create(timeoutSeconds=300.0)
    run = only_run(harness)
    assert harness.emulator.cancelled_run_ids() == [run["id"]], "the timed-out run is cancelled"
    assert run["conclusion"] == "cancelled", "create waits until GitHub confirms the cancellation"
    assert run["html_url"] in str(error.value)
    assert "raise tims-stack:build.timeout (seconds)" in str(error.value), (
        "the advice names the config key users set"
    )


@pytest.mark.parametrize("run_details", ["supported", "ignore_204", "reject_400"])
def test_runs_started_by_others_just_before_and_after_ours_are_not_taken(
    harness: Harness, run_details: str
) -> None:
    emulator = harness.emulator
    emulator.return_run_details = run_details  # type: ignore[assignment]
    foreign = {"ref": "main", "sha": MAIN_SHA, "tag": "other", "environment": "staging"}
    before = emulator.start_foreign_run(
        APP_REPO,
        WORKFLOW_FILE,
        RunPlan(duration=30),
        {**foreign, "correlation_id": "x1"},
        offset=-1,
    )
    after = emulator.start_foreign_run(
        APP_REPO,
        WORKFLOW_FILE,
        RunPlan(duration=30),
        {**foreign, "correlation_id": "x2"},
        offset=0.5,
    )
    harness.plan(duration=300)
    result = harness.create()
    assert result.outs is not None
    assert result.outs["runId"] not in (before, after), (
        f"create took a foreign run of {APP_REPO} ({run_details}) instead of its own"
    )
    ours = [r for r in emulator.runs(APP_REPO) if r["id"] == result.outs["runId"]]
    assert ours
    assert ours[0]["conclusion"] == "success"
    assert emulator.cancelled_run_ids() == [], "no run is cancelled on success"


def test_without_run_details_the_run_is_found_by_its_correlation_id(harness: Harness) -> None:
    harness.emulator.return_run_details = "ignore_204"
    harness.plan(duration=120)
    result = harness.create()
    assert result.outs is not None
    run = only_run(harness)
    assert result.outs["runId"] == run["id"]
    sent = harness.dispatches()[0].json["inputs"]["correlation_id"]
    assert sent in run["display_title"], "the run is matched on the correlation id it echoes"
    listing = harness.calls("GET", f"/actions/workflows/{WORKFLOW_FILE}/runs")
    assert listing
    assert listing[0].query["event"] == ["workflow_dispatch"]
    assert listing[0].query["created"][0].startswith(">="), "the list is narrowed by time"


def test_ghes_rejecting_run_details_gets_a_second_dispatch_without_them(harness: Harness) -> None:
    harness.emulator.return_run_details = "reject_400"
    harness.plan(duration=120)
    result = harness.create()
    bodies = [r.json for r in harness.dispatches()]
    assert [("return_run_details" in b) for b in bodies] == [True, False], bodies
    assert result.outs is not None
    assert result.outs["runId"] == only_run(harness)["id"]


def test_no_run_details_and_no_correlation_input_fails_saying_what_to_add(harness: Harness) -> None:
    harness.emulator.return_run_details = "ignore_204"
    harness.plan(duration=60)
    inputs = {"ref": "{ref}", "tag": "{tag}"}
    with pytest.raises(ImageBuildError) as error:
        harness.create(inputs=inputs)
    message = str(error.value)
    assert "correlation_id" in message, message
    assert "run-name" in message, message
    assert f"actions/workflows/{WORKFLOW_FILE}" in message, "says where to find the run"


def test_a_400_on_dispatch_without_correlation_input_quotes_githubs_message(
    harness: Harness,
) -> None:
    reason = "Workflow does not have 'workflow_dispatch' trigger"
    harness.emulator.inject(
        "POST",
        r"/dispatches$",
        status=400,
        body={"message": reason, "documentation_url": "https://docs.github.com/rest"},
    )
    with pytest.raises(ImageBuildError) as error:
        harness.create(inputs={"ref": "{ref}", "tag": "{tag}"})
    assert reason in str(error.value), (
        f"a 400 from {APP_REPO} may not be about run details: GitHub's message must be shown"
    )


def test_ghes_400_without_correlation_input_fails_before_starting_any_run(harness: Harness) -> None:
    harness.emulator.return_run_details = "reject_400"
    with pytest.raises(ImageBuildError, match="correlation_id"):
        harness.create(inputs={"ref": "{ref}", "tag": "{tag}"})
    assert harness.emulator.runs(APP_REPO) == [], "no run may be started that cannot be tracked"


def test_images_already_tagged_skip_the_build_without_any_dispatch(harness: Harness) -> None:
    harness.emulator.add_package("acme", "app-backend", [["old"], [TAG]])
    harness.emulator.add_package("acme", "app-frontend", [[TAG, "latest"]])
    result = harness.create()
    assert result.outs is not None
    assert result.outs["skipped"] is True
    assert result.outs["images"] == {name: f"{repo}:{TAG}" for name, repo in IMAGES.items()}
    assert harness.dispatches() == [], "a skipped build must not dispatch the workflow"
    assert len(harness.emulator.requests) <= 4, "the skip path costs a handful of calls"


def test_one_image_missing_its_tag_still_builds(harness: Harness) -> None:
    harness.emulator.add_package("acme", "app-backend", [[TAG]])
    harness.plan(duration=60)
    result = harness.create()
    assert result.outs is not None
    assert result.outs["skipped"] is False
    assert len(harness.dispatches()) == 1


def test_branch_moved_with_sha_passed_reports_the_requested_sha_as_built(
    harness: Harness,
) -> None:
    # The default mapping passes {sha}: the workflow checks out the requested commit, and
    # only its workflow file comes from the moved head of main.
    moved = "f" * 40
    harness.emulator.set_branch(APP_REPO, "main", moved)
    harness.plan(duration=60)
    result = harness.create()
    assert result.outs is not None
    assert result.outs["commitSha"] == MAIN_SHA, (
        f"acme/app run was told to build {MAIN_SHA}: commitSha must be that sha, not the head"
    )
    assert result.outs["requestedSha"] == MAIN_SHA


def test_branch_moved_with_sha_passed_says_only_the_workflow_file_came_from_the_head(
    harness: Harness,
) -> None:
    moved = "f" * 40
    harness.emulator.set_branch(APP_REPO, "main", moved)
    harness.plan(duration=60)
    harness.create()
    notes = [line for line in harness.lines if moved in line]
    assert notes, f"the moved head {moved} of acme/app main is mentioned: {harness.lines}"
    assert all("WARNING" not in line for line in notes), (
        f"the run builds the requested sha, so no warning about other content: {notes}"
    )
    assert any("workflow file" in line and MAIN_SHA in line for line in notes), notes


def test_branch_moved_without_sha_input_reports_the_head_the_run_built_and_warns(
    harness: Harness,
) -> None:
    # The seed's mapping passes no {sha}: the run builds whatever main points to.
    moved = "f" * 40
    harness.emulator.set_branch(APP_REPO, "main", moved)
    harness.plan(duration=60)
    result = harness.create(
        inputs={"ref": "{ref}", "tag": "{tag}", "correlation_id": "{correlation_id}"}
    )
    assert result.outs is not None
    assert result.outs["commitSha"] == moved, "commitSha is the sha the acme/app run built"
    assert result.outs["requestedSha"] == MAIN_SHA
    warnings = [line for line in harness.lines if "WARNING" in line]
    assert warnings, f"a build of another commit than requested is a warning: {harness.lines}"
    assert moved in warnings[0]
    assert MAIN_SHA in warnings[0]


def test_bad_token_fails_naming_the_scopes_needed(harness: Harness) -> None:
    configure(harness.provider, "ghp_wrongtoken", harness.emulator.base_url)
    with pytest.raises(ImageBuildError, match="401") as error:
        harness.create()
    message = str(error.value)
    assert "read:packages" in message
    assert "delete:packages" in message
    assert "`repo`" in message, f"dispatching in {APP_REPO} needs the classic `repo` scope"


def test_bad_token_help_does_not_ask_for_the_workflow_scope(harness: Harness) -> None:
    # `workflow` lets a token edit workflow files; dispatching needs only `repo`.
    configure(harness.provider, "ghp_wrongtoken", harness.emulator.base_url)
    with pytest.raises(ImageBuildError, match="401") as error:
        harness.create()
    assert "`workflow`" not in str(error.value), str(error.value)


def test_unknown_workflow_names_the_workflow_and_repository(harness: Harness) -> None:
    with pytest.raises(ImageBuildError) as error:
        harness.create(workflow="missing.yml")
    message = str(error.value)
    assert "missing.yml" in message
    assert APP_REPO in message
    assert "workflow_dispatch" in message
    assert "Repository" not in message, "the repository exists: only the workflow is missing"


def test_unknown_repository_is_named_as_the_missing_thing(harness: Harness) -> None:
    with pytest.raises(ImageBuildError, match=r"Repository acme/nope was not found"):
        harness.create(repository="acme/nope")


def test_input_the_workflow_does_not_declare_is_reported_with_the_inputs_sent(
    harness: Harness,
) -> None:
    inputs = {"tag": "{tag}", "unique_id": "{tag}"}
    with pytest.raises(ImageBuildError, match="422") as error:
        harness.create(inputs=inputs)
    assert "unique_id" in str(error.value)


def test_only_the_mapped_inputs_are_sent_with_placeholders_expanded(harness: Harness) -> None:
    harness.plan(duration=60)
    harness.create(
        inputs={
            "ref": "{ref}",
            "tag": "{tag}",
            "environment": "{owner}/{environment}",
            "correlation_id": "{correlation_id}",
        }
    )
    sent = harness.dispatches()[0].json
    assert sent["ref"] == "main"
    assert set(sent["inputs"]) == {"ref", "tag", "environment", "correlation_id"}
    assert sent["inputs"]["tag"] == TAG
    assert sent["inputs"]["environment"] == "acme/dev"
    assert re.fullmatch(r"[0-9a-f]{32}", sent["inputs"]["correlation_id"])


def test_each_create_uses_a_fresh_correlation_id(harness: Harness) -> None:
    harness.plan(duration=60)
    harness.plan(duration=60)
    harness.create()
    harness.create(tag="dev-second")
    ids = [r.json["inputs"]["correlation_id"] for r in harness.dispatches()]
    assert len(set(ids)) == 2, ids


def test_successful_run_that_pushed_no_image_fails_naming_the_missing_images(
    harness: Harness,
) -> None:
    harness.plan(duration=60, push={})
    with pytest.raises(ImageBuildError, match="succeeded, but the registry has no") as error:
        harness.create()
    assert f"ghcr.io/acme/app-backend:{TAG}" in str(error.value)
    assert "tims-stack:images.backend" in str(error.value), "names the config key to check"


def test_error_after_the_dispatch_cancels_the_run(harness: Harness) -> None:
    harness.plan(duration=600)
    harness.emulator.inject("GET", r"/actions/runs/\d+$", status=500, times=50)
    with pytest.raises(ImageBuildError, match="was cancelled"):
        harness.create()
    assert harness.emulator.cancelled_run_ids() == [only_run(harness)["id"]], "no orphaned run"


def test_without_a_token_create_fails_saying_how_to_set_one(harness: Harness) -> None:
    provider = make_provider(harness.clock, [], registry=harness.emulator.registry_url)
    with pytest.raises(ImageBuildError, match="pulumi config set --secret github:token"):
        provider.create(base_props())


def test_token_falls_back_to_the_github_token_environment_variable(
    harness: Harness, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("GITHUB_TOKEN", harness.emulator.token)
    provider = make_provider(
        harness.clock, [], registry=harness.emulator.registry_url, poll=PollPolicy()
    )
    configure(provider, "", harness.emulator.base_url)
    harness.plan(duration=60)
    result = provider.create(provider.check({}, base_props()).inputs)
    assert result.outs is not None
    assert result.outs["runId"] == only_run(harness)["id"]


def test_github_enterprise_server_below_api_v3_builds_and_cleans_up(ghes: Harness) -> None:
    ghes.plan(duration=90)
    result = ghes.create()
    assert result.outs is not None
    run = only_run(ghes)
    assert result.outs["runId"] == run["id"], "found by correlation id after the refusal"
    bodies = [r.json for r in ghes.dispatches()]
    assert [("return_run_details" in b) for b in bodies] == [True, False], bodies
    # The emulator records paths below its prefix; one outside it shows as "/-...".
    outside = [r.path for r in ghes.emulator.requests if r.path.startswith("/-")]
    assert outside == [], f"requests missed the /api/v3 prefix: {outside}"
    assert result.outs["images"]["backend"] == f"containers.ghe.example.com/acme/app-backend:{TAG}"
    checked = [r.headers["host"] for r in ghes.emulator.requests if r.registry]
    assert checked, "the images are checked in the registry"
    assert set(checked) == {"containers.ghe.example.com"}, (
        f"the images are checked on the instance's registry host: {checked}"
    )
    ghes.provider.delete(result.id, result.outs)
    assert ghes.emulator.package_versions("acme", "app-backend") is None, (
        "deleted through the instance's own Packages API"
    )
    assert ghes.calls("DELETE"), "the deletes went to the instance's API below /api/v3"


def test_the_run_details_refusal_is_remembered_per_api_base_url(
    ghes: Harness, emulator: GitHubEmulator
) -> None:
    # One provider (one host process) serving a GHES stack, then a github.com stack.
    routes = {
        "containers.ghe.example.com": ghes.emulator.registry_url,
        "ghcr.io": emulator.registry_url,
    }
    provider = make_provider(ghes.clock, ghes.lines, registry=routes)
    configure(provider, ghes.emulator.token, ghes.emulator.base_url)
    ghes.provider = provider
    ghes.plan(duration=60)
    ghes.create()
    ghes.plan(duration=60)
    ghes.create(tag="dev-second")
    assert [("return_run_details" in r.json) for r in ghes.dispatches()] == [True, False, False], (
        "GHES refused once: its later dispatches go without the key"
    )
    configure(provider, emulator.token, emulator.base_url)
    emulator.plan_next_run(APP_REPO, WORKFLOW_FILE, RunPlan(duration=60, push=dict(PUSH)))
    provider.create(provider.check({}, base_props()).inputs)
    sent = [r.json for r in emulator.requests if r.path.endswith("/dispatches")]
    assert [b.get("return_run_details") for b in sent] == [True], (
        "github.com still gets return_run_details: the GHES answer is not process-wide"
    )


def test_a_token_endpoint_answer_without_a_token_falls_back_to_the_packages_api(
    harness: Harness,
) -> None:
    # A 200 granting nothing is no pull token: the images' tags are still looked up (in the
    # Packages API), not taken for unreadable, which would rebuild existing images.
    harness.emulator.add_package("acme", "app-backend", [[TAG]])
    harness.emulator.add_package("acme", "app-frontend", [[TAG]])
    harness.emulator.inject("GET", r"^/token$", status=200, body={}, times=10)
    result = harness.create()
    assert result.outs is not None
    assert result.outs["skipped"] is True, harness.output
    assert harness.dispatches() == []


def test_the_github_token_never_goes_to_a_token_endpoint_on_another_host(
    harness: Harness,
) -> None:
    # The registry's challenge names a realm elsewhere (here: the same server under another
    # name, so a leak would show in its request log): the lookup falls back to the
    # Packages API instead of sending the GitHub token there.
    harness.emulator.add_package("acme", "app-backend", [[TAG]])
    harness.emulator.add_package("acme", "app-frontend", [[TAG]])
    port = harness.emulator.registry_url.rsplit(":", 1)[1]
    harness.emulator.registry.realm = f"http://localhost:{port}/token"
    harness.emulator.inject("GET", r"^/token$", status=404, times=1)
    result = harness.create()
    assert result.outs is not None
    assert result.outs["skipped"] is True, harness.output
    hosts = [r.headers.get("host", "") for r in harness.emulator.requests if r.registry]
    assert not [h for h in hosts if h.startswith("localhost")], f"token sent elsewhere: {hosts}"
    assert "refusing to send the GitHub token" in harness.output


def test_a_build_finishing_near_the_deadline_still_records_what_it_pushed(
    harness: Harness,
) -> None:
    # The run succeeded; the registry shows the images a little later. Failing the create
    # now would leave them owned by nobody (the next create skips and owns nothing).
    harness.plan(duration=50, queued_for=1)
    harness.emulator.inject("GET", r"^/v2/acme/app-backend/manifests/", status=404, times=2)
    result = harness.create(timeoutSeconds=60.0)
    assert result.outs is not None
    assert set(result.outs["ownedImages"]) == {"backend", "frontend"}, harness.output
