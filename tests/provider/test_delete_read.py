"""delete (GHCR clean-up on destroy) and read (refresh) against the emulator."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from components.images.imagebuild.base import ImageBuildError
from tests.github.emulator import GitHubEmulator, RunPlan
from tests.provider.conftest import (
    APP_REPO,
    TAG,
    WORKFLOW_FILE,
    Harness,
    base_props,
    configure,
    make_provider,
)

OTHER = "staging-0123456789ab"


def state(
    harness: Harness, images: dict[str, str] | None = None, **overrides: Any
) -> dict[str, Any]:
    """Outputs of an ImageBuild as state holds them (what delete and read receive)."""
    props = harness.provider.check({}, base_props(**overrides)).inputs
    repositories = images or {"backend": "ghcr.io/acme/app-backend"}
    return {
        **props,
        "images": {name: f"{repo}:{TAG}" for name, repo in repositories.items()},
        "imageRepositories": repositories,
        "runId": 1,
        "runUrl": "https://github.com/acme/app/actions/runs/1",
        "requestedSha": props["commitSha"],
        "skipped": False,
        "missingImages": [],
    }


def test_delete_removes_only_versions_tagged_solely_by_this_build(harness: Harness) -> None:
    harness.emulator.add_package("acme", "app-backend", [[OTHER], [TAG], []])
    harness.provider.delete("id", state(harness))
    assert harness.emulator.package_versions("acme", "app-backend") == [[OTHER], []], (
        "only the version tagged solely with this build's tag may go"
    )


def test_delete_finds_this_builds_version_beyond_the_first_hundred(harness: Harness) -> None:
    # Versions are listed newest first: the oldest (ours) is on the third page.
    versions = [[TAG]] + [[f"pr-{n}"] for n in range(250)]
    harness.emulator.add_package("acme", "app-backend", versions)
    harness.provider.delete("id", state(harness))
    left = harness.emulator.package_versions("acme", "app-backend")
    assert left is not None
    assert len(left) == 250
    assert [TAG] not in left, "this build's version on page 3 must be deleted"
    pages = {r.query.get("page", ["1"])[0] for r in harness.calls("GET", "/versions")}
    assert pages == {"1", "2", "3"}, f"every page is read: {pages}"


def test_a_version_that_also_carries_another_tag_is_left_and_reported(harness: Harness) -> None:
    harness.emulator.add_package("acme", "app-backend", [[TAG, OTHER], ["old"]])
    harness.provider.delete("id", state(harness))
    assert harness.emulator.package_versions("acme", "app-backend") == [[TAG, OTHER], ["old"]]
    assert any(OTHER in line and "leaving it" in line for line in harness.lines), harness.lines
    assert harness.calls("DELETE") == [], "a shared version is never deleted"


def test_when_only_this_builds_tag_is_left_the_package_is_deleted(harness: Harness) -> None:
    harness.emulator.add_package("acme", "app-backend", [[], [TAG]])
    harness.provider.delete("id", state(harness))
    assert harness.emulator.package_versions("acme", "app-backend") is None, (
        "GitHub refuses to delete the last tagged version: the package itself must go"
    )


class OtherVersionVanishes(httpx.BaseTransport):
    """Before the first version DELETE goes out, someone else deletes the OTHER-tagged version."""

    def __init__(self) -> None:
        self.inner = httpx.HTTPTransport()
        self.raced = False

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        if request.method == "DELETE" and "/versions/" in request.url.path and not self.raced:
            self.raced = True
            versions_url = request.url.copy_with(
                path=request.url.path.rsplit("/", 1)[0], query=None
            )
            listing = self.inner.handle_request(
                httpx.Request("GET", versions_url, headers=request.headers)
            )
            listing.read()
            other = next(v for v in listing.json() if OTHER in v["metadata"]["container"]["tags"])
            gone = versions_url.copy_with(path=f"{versions_url.path}/{other['id']}")
            self.inner.handle_request(httpx.Request("DELETE", gone, headers=request.headers)).read()
        return self.inner.handle_request(request)


def test_last_tagged_version_refusal_mid_delete_deletes_the_package(harness: Harness) -> None:
    harness.emulator.add_package("acme", "app-backend", [[TAG], [OTHER]])
    provider = make_provider(
        harness.clock,
        harness.lines,
        registry=harness.emulator.registry_url,
        transport=OtherVersionVanishes(),
    )
    configure(provider, harness.emulator.token, harness.emulator.base_url)
    provider.delete("id", state(harness))
    refused = [r for r in harness.calls("DELETE", "/versions/") if r.status == 400]
    assert len(refused) == 1, "GitHub refused to delete the last tagged version once"
    assert harness.emulator.package_versions("acme", "app-backend") is None, (
        "with only this build's tag left, the package itself is deleted"
    )


class PushBeforeFirstDelete(httpx.BaseTransport):
    """Just before the first DELETE goes out, a workflow run pushes OTHER to app-backend."""

    def __init__(self, emulator: GitHubEmulator) -> None:
        self.inner = httpx.HTTPTransport()
        self.emulator = emulator
        self.pushed = False

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        if request.method == "DELETE" and not self.pushed:
            self.pushed = True
            self.emulator.start_foreign_run(
                APP_REPO,
                WORKFLOW_FILE,
                RunPlan(duration=0, queued_for=0, push={"app-backend": "tag"}),
                {"ref": "main", "tag": OTHER, "correlation_id": "concurrent"},
            )
        return self.inner.handle_request(request)


def test_an_image_pushed_while_deleting_the_last_version_is_kept(harness: Harness) -> None:
    harness.emulator.add_package("acme", "app-backend", [[TAG]])
    provider = make_provider(
        harness.clock,
        harness.lines,
        registry=harness.emulator.registry_url,
        transport=PushBeforeFirstDelete(harness.emulator),
    )
    configure(provider, harness.emulator.token, harness.emulator.base_url)
    provider.delete("id", state(harness))
    assert harness.emulator.package_versions("acme", "app-backend") == [[OTHER]], (
        f"ghcr.io/acme/app-backend:{OTHER} was pushed during the delete and must survive it"
    )


def test_the_package_is_deleted_only_after_github_refuses_the_version_delete(
    harness: Harness,
) -> None:
    harness.emulator.add_package("acme", "app-backend", [[TAG]])
    harness.provider.delete("id", state(harness))
    deletes = [(r.path.rsplit("/", 2)[-2], r.status) for r in harness.calls("DELETE")]
    assert deletes == [("versions", 400), ("container", 204)], (
        f"ghcr.io/acme/app-backend: version DELETE first, the package only after a 400: {deletes}"
    )


def test_delete_of_a_package_already_gone_succeeds(harness: Harness) -> None:
    harness.provider.delete("id", state(harness))
    assert "already gone" in harness.output


def test_delete_when_no_version_has_the_tag_deletes_nothing(harness: Harness) -> None:
    harness.emulator.add_package("acme", "app-backend", [[OTHER]])
    harness.provider.delete("id", state(harness))
    assert harness.emulator.package_versions("acme", "app-backend") == [[OTHER]]
    assert harness.calls("DELETE") == []


def test_token_owners_packages_use_the_authenticated_user_endpoints(harness: Harness) -> None:
    harness.emulator.add_package("acme", "app-backend", [[TAG], [OTHER]])
    harness.provider.delete("id", state(harness))
    deletes = harness.calls("DELETE")
    assert [r.path.split("/versions/")[0] for r in deletes] == [
        "/user/packages/container/app-backend"
    ]


def test_organisation_packages_use_the_org_endpoints(harness: Harness) -> None:
    harness.emulator.add_package("acme-org", "app-backend", [[TAG], [OTHER]])
    harness.provider.delete("id", state(harness, {"backend": "ghcr.io/acme-org/app-backend"}))
    assert harness.emulator.package_versions("acme-org", "app-backend") == [[OTHER]]
    assert all(r.path.startswith("/orgs/acme-org/packages/") for r in harness.calls("DELETE"))


def test_another_users_packages_use_the_users_endpoints(harness: Harness) -> None:
    harness.emulator.add_account("bob", "User")
    harness.emulator.add_package("bob", "app-backend", [[TAG], [OTHER]])
    harness.provider.delete("id", state(harness, {"backend": "ghcr.io/bob/app-backend"}))
    assert harness.emulator.package_versions("bob", "app-backend") == [[OTHER]]
    assert all(r.path.startswith("/users/bob/packages/") for r in harness.calls("DELETE"))


def test_nested_package_names_are_url_encoded(harness: Harness) -> None:
    harness.emulator.add_package("acme", "tims/backend", [[TAG], [OTHER]])
    harness.provider.delete("id", state(harness, {"backend": "ghcr.io/acme/tims/backend"}))
    assert harness.emulator.package_versions("acme", "tims/backend") == [[OTHER]]
    assert "/tims%2Fbackend/versions/" in harness.calls("DELETE")[0].path


def test_delete_images_on_destroy_false_keeps_images_without_any_call(harness: Harness) -> None:
    harness.emulator.add_package("acme", "app-backend", [[TAG]])
    harness.provider.delete("id", state(harness, deleteImagesOnDestroy=False))
    assert harness.emulator.package_versions("acme", "app-backend") == [[TAG]]
    assert harness.emulator.requests == []


def test_delete_without_permission_fails_saying_what_to_do(harness: Harness) -> None:
    harness.emulator.add_package("acme", "app-backend", [[TAG], [OTHER]])
    harness.emulator.inject("DELETE", r"/versions/", status=403, body={"message": "Forbidden"})
    with pytest.raises(ImageBuildError) as error:
        harness.provider.delete("id", state(harness))
    message = str(error.value)
    assert f"ghcr.io/acme/app-backend:{TAG}" in message
    assert "delete:packages" in message
    assert "deleteImagesOnDestroy" in message, "says how to keep the images instead"


def test_delete_carries_on_with_other_images_after_one_fails(harness: Harness) -> None:
    harness.emulator.add_package("acme", "app-backend", [[TAG], [OTHER]])
    harness.emulator.add_package("acme", "app-frontend", [[TAG], [OTHER]])
    harness.emulator.inject("DELETE", r"app-backend/versions/", status=403, body={"message": "no"})
    images = {"backend": "ghcr.io/acme/app-backend", "frontend": "ghcr.io/acme/app-frontend"}
    with pytest.raises(ImageBuildError, match="app-backend"):
        harness.provider.delete("id", state(harness, images))
    assert harness.emulator.package_versions("acme", "app-frontend") == [[OTHER]]


# --- read (refresh) -----------------------------------------------------------------------


def test_refresh_reports_no_missing_image_when_all_have_the_tag(harness: Harness) -> None:
    harness.emulator.add_package("acme", "app-backend", [[TAG]])
    result = harness.provider.read("id", state(harness))
    assert result.id == "id"
    assert result.outs is not None
    assert result.outs["missingImages"] == []


def test_refresh_lists_images_that_lost_the_tag(harness: Harness) -> None:
    harness.emulator.add_package("acme", "app-frontend", [[TAG]])
    images = {"backend": "ghcr.io/acme/app-backend", "frontend": "ghcr.io/acme/app-frontend"}
    result = harness.provider.read("id", state(harness, images))
    assert result.outs is not None
    assert result.outs["missingImages"] == ["backend"]
    assert result.outs["images"] == state(harness, images)["images"], "other outputs are kept"


def no_read_scope(emulator: GitHubEmulator) -> None:
    emulator.oauth_scopes = "repo"  # a classic token without read:packages


def registry_down_and_packages_forbidden(emulator: GitHubEmulator) -> None:
    emulator.inject("*", r"^/(token|v2/)", status=503, times=20)
    emulator.inject("GET", r"/versions$", status=403, body={"message": "Forbidden"})


@pytest.mark.parametrize("cause", [no_read_scope, registry_down_and_packages_forbidden])
def test_refresh_without_package_permission_warns_and_keeps_missing_images(
    harness: Harness, cause: Any
) -> None:
    cause(harness.emulator)
    before = {**state(harness), "missingImages": ["backend"]}
    result = harness.provider.read("id", before)
    assert result.outs is not None
    assert result.outs["missingImages"] == ["backend"], (
        "a refresh that could not read ghcr.io/acme/app-backend must not change missingImages"
    )
    assert any("WARNING" in line and "read:packages" in line for line in harness.lines), (
        f"the refresh says why ghcr.io/acme/app-backend was not checked: {harness.lines}"
    )
