"""The Packages API of the emulator (container images in GHCR), seen through plain httpx."""

from __future__ import annotations

from typing import Any

import httpx

from tests.github.emulator import GitHubEmulator, parse_link_header

USER_PKG = "/users/acme/packages/container/app-backend"
ORG_PKG = "/orgs/acme-org/packages/container/app-backend"
LAST_TAGGED = (
    "You cannot delete the last tagged version of a package. You must delete the package instead."
)


def _versions(gh: httpx.Client, package_path: str) -> list[dict[str, Any]]:
    answer = gh.get(f"{package_path}/versions")
    assert answer.status_code == 200, f"versions of {package_path}: {answer.text}"
    result: list[dict[str, Any]] = answer.json()
    return result


def _all_pages(gh: httpx.Client, url: str, params: dict[str, Any] | None = None) -> list[Any]:
    items: list[Any] = []
    answer = gh.get(url, params=params)
    items += answer.json()
    while "next" in parse_link_header(answer.headers.get("link", "")):
        answer = gh.get(parse_link_header(answer.headers["link"])["next"])
        items += answer.json()
    return items


def test_users_endpoint_tells_a_user_from_an_organisation(gh: httpx.Client) -> None:
    kinds = {login: gh.get(f"/users/{login}").json()["type"] for login in ("acme", "acme-org")}

    assert kinds == {"acme": "User", "acme-org": "Organization"}


def test_orgs_endpoint_does_not_find_a_user(gh: httpx.Client) -> None:
    assert gh.get("/orgs/acme").status_code == 404
    assert gh.get("/orgs/acme-org").json()["login"] == "acme-org"


def test_container_versions_carry_their_tags_in_metadata(
    emulator: GitHubEmulator, gh: httpx.Client
) -> None:
    emulator.add_package("acme", "app-backend", [["dev-1", "latest"], []])

    versions = _versions(gh, USER_PKG)

    metadata = [v["metadata"] for v in versions]
    assert metadata == [
        {"package_type": "container", "container": {"tags": []}},
        {"package_type": "container", "container": {"tags": ["dev-1", "latest"]}},
    ], "versions are listed newest first, each with its tags"
    assert all(v["name"].startswith("sha256:") for v in versions), "a version is a digest"


def test_version_list_pages_past_100_with_first_next_last_links(
    emulator: GitHubEmulator, gh: httpx.Client
) -> None:
    emulator.add_package("acme-org", "app-backend", [[f"pr-{i}"] for i in range(250)])

    first = gh.get(f"{ORG_PKG}/versions", params={"per_page": 100})
    links = parse_link_header(first.headers["link"])
    middle = gh.get(links["next"])
    middle_links = parse_link_header(middle.headers["link"])
    last = gh.get(links["last"])

    assert len(first.json()) == 100
    assert set(links) == {"next", "last"}
    assert set(middle_links) == {"prev", "next", "last", "first"}
    assert len(last.json()) == 50
    assert links["last"].endswith("/versions?per_page=100&page=3")


def test_following_next_links_lists_every_version_once(
    emulator: GitHubEmulator, gh: httpx.Client
) -> None:
    emulator.add_package("acme", "app-backend", [[f"pr-{i}"] for i in range(130)])

    versions = _all_pages(gh, f"{USER_PKG}/versions")

    tags = sorted(tag for v in versions for tag in v["metadata"]["container"]["tags"])
    assert tags == sorted(f"pr-{i}" for i in range(130))
    assert len(emulator.requests) == 5, "GitHub's default page size is 30"


def test_per_page_is_capped_at_100(emulator: GitHubEmulator, gh: httpx.Client) -> None:
    emulator.add_package("acme-org", "app-backend", [[f"v{i}"] for i in range(150)])

    answer = gh.get(f"{ORG_PKG}/versions", params={"per_page": 500})

    assert len(answer.json()) == 100


def test_deleting_a_version_removes_it_with_all_its_tags(
    emulator: GitHubEmulator, gh: httpx.Client
) -> None:
    emulator.add_package("acme", "app-backend", [["dev-1", "shared"], ["staging-1"]])
    oldest = _versions(gh, USER_PKG)[-1]

    answer = gh.delete(f"{USER_PKG}/versions/{oldest['id']}")

    assert answer.status_code == 204, answer.text
    assert emulator.package_versions("acme", "app-backend") == [["staging-1"]]


def test_deleting_the_last_tagged_version_is_refused_with_400(
    emulator: GitHubEmulator, gh: httpx.Client
) -> None:
    emulator.add_package("acme", "app-backend", [[], ["dev-1"], []])
    tagged = next(v for v in _versions(gh, USER_PKG) if v["metadata"]["container"]["tags"])

    answer = gh.delete(f"{USER_PKG}/versions/{tagged['id']}")

    assert answer.status_code == 400, answer.text
    assert answer.json()["message"] == LAST_TAGGED
    assert emulator.package_versions("acme", "app-backend") == [[], ["dev-1"], []]


def test_deleting_the_package_removes_it(emulator: GitHubEmulator, gh: httpx.Client) -> None:
    emulator.add_package("acme-org", "app-backend", [["dev-1"]])

    answer = gh.delete(ORG_PKG)

    assert answer.status_code == 204, answer.text
    assert emulator.package_versions("acme-org", "app-backend") is None
    assert gh.get(ORG_PKG).status_code == 404


def test_deleting_something_already_gone_is_404(emulator: GitHubEmulator, gh: httpx.Client) -> None:
    emulator.add_package("acme", "app-backend", [["dev-1"], ["dev-2"]])
    version = _versions(gh, USER_PKG)[0]
    gh.delete(f"{USER_PKG}/versions/{version['id']}")

    again = gh.delete(f"{USER_PKG}/versions/{version['id']}")
    no_package = gh.delete("/users/acme/packages/container/never-pushed")

    assert again.status_code == 404, "deleting a deleted version"
    assert no_package.status_code == 404, "deleting an unknown package"
    assert no_package.json()["message"] == "Package not found."


def test_user_endpoints_do_not_find_an_organisations_packages(
    emulator: GitHubEmulator, gh: httpx.Client
) -> None:
    emulator.add_package("acme-org", "app-backend", [["dev-1"]])

    assert gh.get("/users/acme-org/packages/container/app-backend").status_code == 404
    assert gh.get(ORG_PKG).status_code == 200


def test_org_endpoints_do_not_find_a_users_packages(
    emulator: GitHubEmulator, gh: httpx.Client
) -> None:
    emulator.add_package("acme", "app-backend", [["dev-1"]])

    assert gh.get("/orgs/acme/packages/container/app-backend").status_code == 404
    assert gh.get(USER_PKG).status_code == 200


def test_authenticated_user_endpoints_serve_the_token_owners_packages(
    emulator: GitHubEmulator, gh: httpx.Client
) -> None:
    emulator.add_package("acme", "app-backend", [["dev-1"]])
    emulator.add_package("acme-org", "app-frontend", [["dev-1"]])

    mine = gh.get("/user/packages", params={"package_type": "container"}).json()
    versions = _versions(gh, "/user/packages/container/app-backend")

    assert [(p["name"], p["owner"]["login"]) for p in mine] == [("app-backend", "acme")]
    assert [v["metadata"]["container"]["tags"] for v in versions] == [["dev-1"]]


def test_package_lists_its_remaining_version_count(
    emulator: GitHubEmulator, gh: httpx.Client
) -> None:
    emulator.add_package("acme-org", "app-backend", [["a"], ["b"], ["c"]])
    oldest = gh.get(f"{ORG_PKG}/versions").json()[-1]
    gh.delete(f"{ORG_PKG}/versions/{oldest['id']}")

    assert gh.get(ORG_PKG).json()["version_count"] == 2


def test_deleted_package_can_be_restored(emulator: GitHubEmulator, gh: httpx.Client) -> None:
    emulator.add_package("acme", "app-backend", [["dev-1"]])
    gh.delete(USER_PKG)

    answer = gh.post(f"{USER_PKG}/restore")

    assert answer.status_code == 204, answer.text
    assert emulator.package_versions("acme", "app-backend") == [["dev-1"]]
