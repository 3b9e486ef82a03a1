"""Ownership: a resource deletes only the package versions its own run pushed.

Two stacks may compute the same tag (two people running `dev` from their own state
backends on the same commit); a create may find the images already there (skip); a
replacement may keep the tag. In each case destroy must leave everybody else's images.
"""

from __future__ import annotations

from typing import Any

import pytest

from components.images.imagebuild.base import ImageBuildError
from tests.github.emulator import RunPlan
from tests.provider.conftest import (
    APP_REPO,
    MAIN_SHA,
    PUSH,
    TAG,
    WORKFLOW_FILE,
    Harness,
    base_props,
)

BACKEND = ("acme", "app-backend")
FRONTEND = ("acme", "app-frontend")


def build(harness: Harness, **overrides: Any) -> dict[str, Any]:
    harness.plan(duration=60)
    result = harness.create(**overrides)
    assert result.outs is not None
    return result.outs


def another_stack_builds_the_same_tag(harness: Harness) -> None:
    """Another stack's build of the same commit pushes the same tag (its own versions)."""
    harness.emulator.start_foreign_run(
        APP_REPO,
        WORKFLOW_FILE,
        RunPlan(duration=30, queued_for=1, push=dict(PUSH)),
        {"ref": "main", "sha": MAIN_SHA, "tag": TAG, "environment": "dev", "correlation_id": "b"},
    )
    harness.clock.advance(31)


def test_a_build_records_the_digests_its_run_pushed(harness: Harness) -> None:
    outs = build(harness)
    pushed = harness.emulator.package_digests(*BACKEND)
    index = outs["ownedImages"]["backend"][0]
    assert pushed[index] == [TAG], f"{BACKEND}: {pushed}"
    assert set(outs["ownedImages"]) == {"backend", "frontend"}


def test_a_build_owns_the_untagged_manifests_its_image_index_lists(harness: Harness) -> None:
    # buildx pushes platform images and attestations: GHCR lists them as untagged versions.
    harness.plan(duration=60, platforms=2)
    outs = harness.create().outs
    assert outs is not None
    pushed = harness.emulator.package_digests(*BACKEND)
    assert sorted(outs["ownedImages"]["backend"]) == sorted(pushed), (
        f"the index and both manifests it lists belong to this build: {pushed}"
    )
    harness.provider.delete("id", outs)
    assert harness.emulator.package_versions(*BACKEND) is None, "all of it goes on destroy"


def test_destroy_leaves_the_same_tag_another_stack_pushed(harness: Harness) -> None:
    ours = build(harness)
    another_stack_builds_the_same_tag(harness)
    theirs = {d for d, tags in harness.emulator.package_digests(*BACKEND).items() if tags}
    harness.provider.delete("id", ours)
    left = harness.emulator.package_digests(*BACKEND)
    assert ours["ownedImages"]["backend"][0] not in left, "our own version is deleted"
    assert set(left) == theirs, f"the other stack's {TAG} must survive our destroy: {left}"
    assert left[next(iter(theirs))] == [TAG]


def test_destroying_the_other_of_two_same_tag_builds_leaves_ours(harness: Harness) -> None:
    first = build(harness)
    # The other stack built too (its check ran before our images existed): it pushed last.
    inputs = {**harness.provider.check({}, base_props()).inputs, "rebuild": True}
    harness.plan(duration=60)
    second = harness.provider.create(inputs).outs
    assert second is not None
    assert second["skipped"] is False
    assert second["ownedImages"]["backend"] != first["ownedImages"]["backend"]
    # The other stack's tagged version is GitHub's "last tagged version" of the package:
    # it goes only with the package, which would take our untagged version too.
    harness.provider.delete("id", second)
    left = harness.emulator.package_digests(*BACKEND)
    assert first["ownedImages"]["backend"][0] in left, (
        f"destroying one stack must not take the other's {BACKEND} version: {left}"
    )
    assert "leaving version" in harness.output, "the version left behind is reported"


def test_a_skipped_create_owns_nothing_and_its_destroy_keeps_the_images(
    harness: Harness,
) -> None:
    harness.emulator.add_package(*BACKEND, [[TAG]])
    harness.emulator.add_package(*FRONTEND, [[TAG]])
    result = harness.create()
    assert result.outs is not None
    assert result.outs["skipped"] is True
    assert result.outs["ownedImages"] == {}
    harness.emulator.requests.clear()
    harness.provider.delete("id", result.outs)
    assert harness.emulator.package_versions(*BACKEND) == [[TAG]]
    assert harness.emulator.package_versions(*FRONTEND) == [[TAG]]
    assert harness.emulator.requests == [], "a resource that pushed nothing calls nothing"


def test_state_from_a_skipped_create_of_an_older_version_keeps_the_images(
    harness: Harness,
) -> None:
    harness.emulator.add_package(*BACKEND, [[TAG]])
    state = {
        **harness.provider.check({}, base_props()).inputs,
        "imageRepositories": {"backend": "ghcr.io/acme/app-backend"},
        "skipped": True,
    }
    harness.provider.delete("id", state)
    assert harness.emulator.package_versions(*BACKEND) == [[TAG]]


def test_a_replacement_keeping_the_tag_builds_anew_then_the_old_delete_keeps_it(
    harness: Harness,
) -> None:
    old = build(harness)
    old_inputs = harness.provider.check({}, base_props()).inputs
    news = harness.provider.check(old_inputs, base_props(inputs={"tag": "{tag}", "sha": "{sha}"}))
    assert news.inputs["rebuild"] is True
    harness.plan(duration=60)
    new = harness.provider.create(news.inputs).outs
    assert new is not None
    assert new["skipped"] is False, "the images exist, yet the replacement must build its own"
    harness.provider.delete("id", old)  # Pulumi deletes the old resource only now
    left = harness.emulator.package_digests(*BACKEND)
    assert left == {new["ownedImages"]["backend"][0]: [TAG]}, (
        f"after the replacement, {BACKEND}:{TAG} is the new build's image: {left}"
    )


def test_a_failed_rebuild_leaves_the_old_images_pullable(harness: Harness) -> None:
    build(harness)
    old_inputs = harness.provider.check({}, base_props()).inputs
    news = harness.provider.check(old_inputs, base_props(inputs={"tag": "{tag}", "sha": "{sha}"}))
    harness.plan(duration=60, conclusion="failure")
    with pytest.raises(ImageBuildError, match="failure"):
        harness.provider.create(news.inputs)
    # Create failed, so Pulumi never deletes the old resource: its images still carry the tag.
    assert harness.emulator.package_versions(*BACKEND) == [[TAG]]
    assert harness.emulator.package_versions(*FRONTEND) == [[TAG]]


@pytest.mark.parametrize(
    "wording",
    [
        "You cannot delete the last tagged version of a package. You must delete the package "
        "instead.",
        "You cannot delete the last version of a package. You must delete the package instead.",
    ],
)
def test_both_wordings_of_the_last_version_refusal_delete_the_package(
    harness: Harness, wording: str
) -> None:
    outs = build(harness)
    harness.emulator.inject(
        "DELETE", r"/versions/\d+$", status=400, body={"message": wording}, times=2
    )
    harness.provider.delete("id", outs)
    assert harness.emulator.package_versions(*BACKEND) is None
    assert harness.emulator.package_versions(*FRONTEND) is None


@pytest.mark.parametrize(
    ("scopes", "named"),
    [("repo", "read:packages"), ("repo, read:packages", "delete:packages")],
)
def test_a_classic_token_missing_a_package_scope_fails_naming_it(
    harness: Harness, scopes: str, named: str
) -> None:
    outs = build(harness)
    harness.emulator.oauth_scopes = scopes
    with pytest.raises(ImageBuildError) as error:
        harness.provider.delete("id", outs)
    for repository in ("ghcr.io/acme/app-backend", "ghcr.io/acme/app-frontend"):
        assert f"{repository}: the token lacks the `{named}` scope" in str(error.value), (
            f"{repository}: {error.value}"
        )
    assert harness.emulator.package_versions(*BACKEND) == [[TAG]], "nothing was deleted"


def test_a_404_while_the_registry_still_serves_the_image_is_not_a_clean_destroy(
    harness: Harness,
) -> None:
    # A fine-grained token without package access: no X-OAuth-Scopes, and the Packages API
    # answers 404 as if the package were gone.
    outs = build(harness)
    harness.emulator.inject("GET", r"/packages/container/[^/]+/versions$", status=404, times=4)
    with pytest.raises(ImageBuildError, match="registry still serves it"):
        harness.provider.delete("id", outs)
    assert harness.emulator.package_versions(*BACKEND) == [[TAG]]


def test_a_rebuild_that_reproduces_the_running_image_fails_and_keeps_it(
    harness: Harness,
) -> None:
    # All layers cached and nothing unique in the image: the run pushes the very digest the
    # old resource owns. Its delete would follow this create and take the running image.
    old = build(harness)
    old_inputs = harness.provider.check({}, base_props()).inputs
    news = harness.provider.check(old_inputs, base_props(inputs={"tag": "{tag}", "sha": "{sha}"}))
    harness.plan(duration=60, reproducible=True)
    with pytest.raises(ImageBuildError) as error:
        harness.provider.create(news.inputs)
    assert old["ownedImages"]["backend"][0] in str(error.value), error.value
    assert "correlation_id" in str(error.value), "the error says how to make builds unique"
    assert harness.emulator.package_digests(*BACKEND) == {old["ownedImages"]["backend"][0]: [TAG]}


def test_a_digest_the_tag_already_had_is_not_owned_even_after_another_image_was_missing(
    harness: Harness,
) -> None:
    # The backend is missing, so the run builds both; it pushes again the frontend digest
    # somebody else's build left under the tag. That version is not this resource's.
    harness.emulator.add_package(*FRONTEND, [[TAG]])
    theirs = next(iter(harness.emulator.package_digests(*FRONTEND)))
    harness.plan(duration=60, reproducible=True)
    outs = harness.create().outs
    assert outs is not None
    assert set(outs["ownedImages"]) == {"backend"}, outs["ownedImages"]
    harness.provider.delete("id", outs)
    assert harness.emulator.package_digests(*FRONTEND) == {theirs: [TAG]}


def test_a_pull_token_that_expires_during_the_build_is_renewed(harness: Harness) -> None:
    harness.emulator.registry.token_ttl = 60.0  # the token spec's default lifetime
    harness.plan(duration=600)
    outs = harness.create().outs
    assert outs is not None
    assert set(outs["ownedImages"]) == {"backend", "frontend"}, (
        f"the look after a 10-minute build must record what it pushed: {harness.output}"
    )
    assert "WARNING" not in harness.output


def test_images_the_token_could_not_read_after_the_build_are_kept_and_named_on_destroy(
    harness: Harness,
) -> None:
    # A classic token without read:packages: the run pushes (with its own token), but
    # this build cannot see which versions. Its destroy must not claim a clean delete.
    harness.emulator.oauth_scopes = "repo"
    outs = build(harness)
    assert outs["ownedImages"] == {}
    assert outs["unreadImages"] == ["backend", "frontend"]
    harness.emulator.requests.clear()
    harness.lines.clear()
    harness.provider.delete("id", outs)
    assert harness.emulator.requests == [], "nothing is deleted blindly"
    for repository in ("ghcr.io/acme/app-backend", "ghcr.io/acme/app-frontend"):
        assert f"WARNING: keeping {repository}:{TAG}" in harness.output, harness.output
    assert "pushed no image" not in harness.output
