"""check, diff and update: local decisions that never call GitHub."""

from __future__ import annotations

from typing import Any

import pytest
from pulumi.runtime.rpc import UNKNOWN

from components.images.imagebuild.provider import ImageBuildProvider
from tests.provider.conftest import MAIN_SHA, TAG, Harness, base_props


def created_outputs(harness: Harness, **overrides: Any) -> dict[str, Any]:
    """State outputs of a build (made without a run: the images already exist)."""
    harness.emulator.add_package("acme", "app-backend", [[overrides.get("tag", TAG)]])
    harness.emulator.add_package("acme", "app-frontend", [[overrides.get("tag", TAG)]])
    result = harness.create(**overrides)
    assert result.outs is not None
    harness.emulator.requests.clear()
    return result.outs


def checked(provider: ImageBuildProvider, **overrides: Any) -> dict[str, Any]:
    result = provider.check({}, base_props(**overrides))
    assert not result.failures, [f.reason for f in result.failures]
    return result.inputs


# --- check --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("prop", "value", "says"),
    [
        ("repository", "acme", "owner/name"),
        ("repository", "acme/app/extra", "owner/name"),
        ("workflow", "build images", "file name"),
        ("ref", "feature branch", "branch or tag"),
        ("ref", "", "non-empty"),
        ("commitSha", "abc123", "40 characters"),
        ("commitSha", MAIN_SHA.upper(), "lower-case"),
        ("commitSha", MAIN_SHA + "0" * 24, "40 characters"),
        ("tag", "-bad", "valid image tag"),
        ("tag", "a" * 129, "at most 128"),
        ("environment", "dev env", "environment id"),
        ("images", {}, "ghcr.io repositories"),
        ("images", {"backend": "docker.io/acme/app"}, "ghcr.io/<owner>/<name>"),
        ("images", {"backend": "ghcr.io/acme/app:v1"}, "without a tag"),
        ("images", {"backend": "ghcr.io/Acme/app"}, "lower case"),
        ("inputs", {"tag": "{tag}", "x": "{nope}"}, "unknown placeholder(s) {nope}"),
        ("inputs", {"tag": "{tag!r}"}, "plain placeholder"),
        ("inputs", {"tag": "{tag", "y": "z"}, "is invalid"),
        ("inputs", {"bad name": "{tag}"}, "not a valid workflow input name"),
        ("inputs", {"ref": "{ref}"}, "no input passes {tag}"),
        ("inputs", {}, "no input passes {tag}"),
        ("inputs", {f"i{n}": "{tag}" for n in range(26)}, "at most 25"),
        ("timeoutSeconds", 0.0, "from 1 to"),
        ("timeoutSeconds", 12.5, "whole number"),
        ("timeoutSeconds", 21601.0, "from 1 to 21600"),
        ("deleteImagesOnDestroy", "yes", "true or false"),
    ],
)
def test_check_rejects_a_bad_input_naming_the_property_and_what_is_allowed(
    prop: str, value: Any, says: str
) -> None:
    result = ImageBuildProvider().check({}, base_props(**{prop: value}))
    failing = {f.property for f in result.failures}
    assert failing == {prop}, f"{prop}={value!r} must fail on {prop} only, got {failing}"
    reason = result.failures[0].reason
    assert says in reason, f"reason for {prop}={value!r} should say {says!r}: {reason}"
    assert reason.startswith(f"{prop}: ")


def test_check_accepts_valid_inputs_and_fills_the_default_input_mapping() -> None:
    result = ImageBuildProvider().check({}, base_props(inputs=None))
    assert result.failures == []
    assert result.inputs["inputs"] == {
        "ref": "{ref}",
        "sha": "{sha}",
        "tag": "{tag}",
        "environment": "{environment}",
        "correlation_id": "{correlation_id}",
    }
    assert result.inputs["timeoutSeconds"] == 1800
    assert isinstance(result.inputs["timeoutSeconds"], int), "numbers arrive as floats"


def test_check_accepts_the_six_hour_timeout_the_config_allows() -> None:
    result = ImageBuildProvider().check({}, base_props(timeoutSeconds=21600.0))
    assert result.failures == [], [f.reason for f in result.failures]
    assert result.inputs["timeoutSeconds"] == 21600


def test_check_accepts_the_seed_workflow_mapping_and_nested_package_names() -> None:
    seed = {"branch": "{ref}", "git_user": "{owner}", "unique_id": "{tag}"}
    images = {"backend": "ghcr.io/acme/tims/backend", "frontend": "ghcr.io/acme-org/f.e_1"}
    assert ImageBuildProvider().check({}, base_props(inputs=seed, images=images)).failures == []


def test_check_skips_values_unknown_during_preview() -> None:
    result = ImageBuildProvider().check({}, base_props(commitSha=UNKNOWN, tag=UNKNOWN))
    assert result.failures == []


def test_check_refuses_credentials_or_any_unknown_input() -> None:
    result = ImageBuildProvider().check({}, base_props(token="ghp_x", apiUrl="https://x"))
    assert sorted(f.property for f in result.failures) == ["apiUrl", "token"]
    assert "token" not in result.inputs, "a refused input must not travel on towards state"
    assert "github:token" in result.failures[0].reason


def test_check_drops_the_output_placeholders_the_resource_declares() -> None:
    props = base_props(runId=None, runUrl=None, skipped=None, missingImages=None)
    result = ImageBuildProvider().check({}, props)
    assert result.failures == []
    assert not {"runId", "runUrl", "skipped", "missingImages"} & set(result.inputs)


# --- diff ---------------------------------------------------------------------------------


def test_nothing_changed_is_no_change(harness: Harness) -> None:
    olds = created_outputs(harness)
    diff = harness.provider.diff("id", olds, checked(harness.provider))
    assert diff.changes is False
    assert not diff.replaces


@pytest.mark.parametrize(
    ("prop", "value"),
    [
        ("repository", "acme/other"),
        ("workflow", "other.yml"),
        ("commitSha", "f" * 40),
        ("tag", "dev-ffffffffffff"),
        ("inputs", {"tag": "{tag}", "ref": "{ref}"}),
        ("images", {"backend": "ghcr.io/acme/app-backend"}),
    ],
)
def test_a_change_that_affects_the_images_is_a_replacement(
    harness: Harness, prop: str, value: Any
) -> None:
    olds = created_outputs(harness)
    diff = harness.provider.diff("id", olds, checked(harness.provider, **{prop: value}))
    assert diff.changes is True
    assert diff.replaces == [prop], f"changing {prop} must replace on {prop} only"


@pytest.mark.parametrize(
    ("prop", "value"),
    [
        ("providerVersion", "999"),
        ("timeoutSeconds", 60.0),
        ("deleteImagesOnDestroy", False),
        ("ref", "release"),
    ],
)
def test_a_change_that_leaves_the_images_alone_is_an_in_place_update(
    harness: Harness, prop: str, value: Any
) -> None:
    olds = created_outputs(harness)
    diff = harness.provider.diff("id", olds, checked(harness.provider, **{prop: value}))
    assert diff.changes is True
    assert diff.replaces == [], f"changing {prop} must not rebuild"


def test_commit_sha_compares_with_the_requested_sha_not_the_built_one(harness: Harness) -> None:
    olds = created_outputs(harness)
    olds["commitSha"] = "e" * 40  # the branch moved: the run built another sha
    diff = harness.provider.diff("id", olds, checked(harness.provider))
    assert diff.changes is False, "the same requested sha must not rebuild forever"


def test_an_unknown_sha_during_preview_shows_as_a_replacement(harness: Harness) -> None:
    olds = created_outputs(harness)
    diff = harness.provider.diff("id", olds, checked(harness.provider, commitSha=UNKNOWN))
    assert diff.replaces == ["commitSha"]


def test_images_found_missing_by_a_refresh_are_rebuilt(harness: Harness) -> None:
    olds = created_outputs(harness)
    olds["missingImages"] = ["backend"]
    diff = harness.provider.diff("id", olds, checked(harness.provider))
    assert diff.replaces == ["images"]
    assert diff.delete_before_replace is False, "the old images serve until the new exist"


def test_a_replacement_with_a_new_tag_creates_before_deleting(harness: Harness) -> None:
    olds = created_outputs(harness)
    diff = harness.provider.diff(
        "id", olds, checked(harness.provider, tag="dev-new", commitSha="f" * 40)
    )
    assert sorted(diff.replaces or []) == ["commitSha", "tag"]
    assert diff.delete_before_replace is False, "the old images serve until the new exist"


def test_a_replacement_keeping_the_tag_also_creates_before_deleting(harness: Harness) -> None:
    # The old resource's delete removes only the versions its run pushed, never the new ones.
    olds = created_outputs(harness)
    diff = harness.provider.diff("id", olds, checked(harness.provider, workflow="other.yml"))
    assert diff.replaces == ["workflow"]
    assert diff.delete_before_replace is False, "a failed rebuild must leave the old images"


def test_state_of_provider_1_or_2_keeping_the_tag_is_deleted_before_the_rebuild(
    harness: Harness,
) -> None:
    # Its delete runs its own code, which removes whatever carries the tag: after a create
    # keeping the tag, that would be the new build's images.
    olds = {k: v for k, v in created_outputs(harness).items() if k != "ownedImages"}
    diff = harness.provider.diff("id", olds, checked(harness.provider, workflow="other.yml"))
    assert diff.delete_before_replace is True
    diff = harness.provider.diff(
        "id", olds, checked(harness.provider, tag="dev-new", commitSha="f" * 40)
    )
    assert diff.delete_before_replace is False, "another tag: that delete leaves the new one"


def test_check_marks_a_replacement_keeping_the_tag_as_a_rebuild() -> None:
    provider = ImageBuildProvider()
    olds = provider.check({}, base_props()).inputs
    result = provider.check(olds, base_props(workflow="other.yml"))
    assert result.inputs.get("rebuild") is True, (
        "the new build must push its own images, not take the ones the old resource deletes"
    )


@pytest.mark.parametrize(
    "overrides",
    [{}, {"tag": "dev-new", "commitSha": "f" * 40}, {"timeoutSeconds": 60.0}],
    ids=["no change", "new tag", "in-place update"],
)
def test_check_does_not_mark_a_rebuild_otherwise(overrides: dict[str, Any]) -> None:
    provider = ImageBuildProvider()
    olds = provider.check({}, base_props()).inputs
    assert "rebuild" not in provider.check(olds, base_props(**overrides)).inputs


def test_the_rebuild_mark_alone_is_no_change(harness: Harness) -> None:
    olds = {**created_outputs(harness), "rebuild": True}
    assert harness.provider.diff("id", olds, checked(harness.provider)).changes is False


def test_diff_and_check_of_a_no_change_up_make_zero_github_calls(harness: Harness) -> None:
    olds = created_outputs(harness)
    news = checked(harness.provider)
    harness.provider.diff("id", olds, news)
    assert harness.emulator.requests == [], "a no-change `pulumi up` must not call GitHub"


# --- update -------------------------------------------------------------------------------


def test_update_records_the_new_values_without_calling_github(harness: Harness) -> None:
    olds = created_outputs(harness)
    news = checked(harness.provider, providerVersion="999", timeoutSeconds=60.0)
    outs = harness.provider.update("id", olds, news).outs
    assert outs is not None
    assert outs["providerVersion"] == "999"
    assert outs["timeoutSeconds"] == 60
    assert outs["images"] == olds["images"], "outputs of the build are kept"
    assert outs["runId"] == olds["runId"]
    assert harness.emulator.requests == []
