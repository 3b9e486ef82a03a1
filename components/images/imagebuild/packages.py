"""The Packages API: find and delete the package versions a build owns.

Ownership is by digest: a build owns the versions its own run pushed, whose digests
(the version `name` in the Packages API) it recorded in state. Anything else in the
package, whatever its tags, belongs to someone else and is never deleted.

A 404 from the Packages API means "gone" or "this token may not see it". Where the
token's scopes are known (`X-OAuth-Scopes` of a classic token), a missing
`read:packages` or `delete:packages` is an error naming the scope; otherwise the
registry is asked whether the digest still exists, so a destroy never reports clean
while images were left behind unseen.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass
from typing import Any, Literal
from urllib.parse import quote

from .base import GitHubApiError, ImageBuildError, NotFoundError
from .registry import ImageRepo, Registry, RegistryError
from .rest import GitHubClient

# GitHub has used both wordings for refusing to delete the last version of a package.
_LAST_VERSION_WORDINGS = ("last tagged version", "last version of a package")
_READ_SCOPES = ("read:packages", "write:packages")  # write:packages includes read


@dataclass(frozen=True)
class PackageVersion:
    id: int
    name: str  # the digest, for a container package
    tags: tuple[str, ...]

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> PackageVersion:
        metadata = data.get("metadata") or {}
        container = metadata.get("container") or {}
        return cls(
            id=int(data["id"]),
            name=str(data.get("name") or ""),
            tags=tuple(str(t) for t in container.get("tags") or []),
        )


@dataclass(frozen=True)
class PackageScope:
    """Where a container package lives in the Packages API: user, org or the token's owner."""

    kind: Literal["authenticated_user", "user", "org"]
    owner: str

    def package_path(self, package_name: str) -> str:
        # Nested names (`app/backend`) must be URL-encoded as one path segment.
        name = quote(package_name, safe="")
        if self.kind == "authenticated_user":
            return f"/user/packages/container/{name}"
        if self.kind == "org":
            return f"/orgs/{quote(self.owner, safe='')}/packages/container/{name}"
        return f"/users/{quote(self.owner, safe='')}/packages/container/{name}"

    @property
    def pages_accept_per_page(self) -> bool:
        # GitHub documents no per_page for /users/{username}/.../versions (it still pages
        # with Link headers), so only the documented endpoints get per_page=100.
        return self.kind != "user"


def _deletable(version: PackageVersion, tag: str, owns: Callable[[PackageVersion], bool]) -> bool:
    """Ours, and tagged with nothing but this build's tag (another tag is someone's)."""
    return owns(version) and not set(version.tags) - {tag}


def is_last_version_refusal(exc: GitHubApiError) -> bool:
    message = exc.github_message.lower()
    return exc.status in (400, 422) and any(w in message for w in _LAST_VERSION_WORDINGS)


class Packages:
    """Packages API calls of one operation (scopes cached per owner)."""

    def __init__(self, client: GitHubClient, registry: Registry) -> None:
        self._client = client
        self._registry = registry
        self._scopes: dict[str, PackageScope] = {}

    def scope(self, owner: str, *, deadline: float) -> PackageScope:
        key = owner.lower()
        if key not in self._scopes:
            login = str(self._client.get("/user", deadline=deadline).body["login"])
            if login.lower() == key:
                scope = PackageScope("authenticated_user", owner)
            else:
                account = self._client.get(f"/users/{quote(owner, safe='')}", deadline=deadline)
                kind: Literal["org", "user"] = (
                    "org" if account.body.get("type") == "Organization" else "user"
                )
                scope = PackageScope(kind, owner)
            self._scopes[key] = scope
        return self._scopes[key]

    def versions(
        self, scope: PackageScope, package: str, *, deadline: float
    ) -> list[PackageVersion] | None:
        """Every version (all pages), or None on 404 (gone, or not visible to the token)."""
        params: dict[str, str | int] = {"per_page": 100} if scope.pages_accept_per_page else {}
        try:
            return [
                PackageVersion.from_json(item)
                for item in self._client.paginate(
                    f"{scope.package_path(package)}/versions",
                    params=params or None,
                    deadline=deadline,
                    conditional=False,  # versions change under us while deleting
                )
            ]
        except NotFoundError:
            return None

    def digest_of_tag(self, image: ImageRepo, tag: str, *, deadline: float) -> str | None:
        """The Packages API's answer to what the registry could not say (rate-limited)."""
        try:
            scope = self.scope(image.owner, deadline=deadline)
        except NotFoundError:
            return None
        for version in self.versions(scope, image.package, deadline=deadline) or []:
            if tag in version.tags:
                return version.name
        return None

    def require_scope(self, needed: str, accepted: Collection[str], image: ImageRepo) -> None:
        scopes = self._client.oauth_scopes
        if scopes is not None and not scopes & set(accepted):
            raise ImageBuildError(
                f"{image.repository}: the token lacks the `{needed}` scope (it has: "
                f"{', '.join(sorted(scopes)) or 'none'}), so its images cannot be "
                f"{'deleted' if needed == 'delete:packages' else 'seen'}. Add `{needed}` to "
                "the classic token in github:token, then run `pulumi destroy` again."
            )

    def delete_owned(
        self,
        image: ImageRepo,
        tag: str,
        owns: Callable[[PackageVersion], bool],
        *,
        deadline: float,
        say: Callable[[str], None],
        untagged_unknown: bool = True,
    ) -> None:
        """Delete the versions `owns` selects; never another tag's version. The package goes
        (when GitHub refuses to delete its last version) only if nothing else is left in it;
        `untagged_unknown=False` (state from before ownership was recorded) counts untagged
        versions as nobody's."""
        ref = f"{image.repository}:{tag}"
        try:
            scope = self.scope(image.owner, deadline=deadline)
        except NotFoundError:
            say(f"{ref}: owner {image.owner} does not exist; nothing to delete")
            return
        # The scope lookup's answers carry a classic token's scopes: judge 404s with them.
        self.require_scope("read:packages", _READ_SCOPES, image)
        versions = self.versions(scope, image.package, deadline=deadline)
        if versions is None:
            self._confirm_gone(image, ref, deadline, say)
            return
        for version in [v for v in versions if owns(v) and set(v.tags) - {tag}]:
            say(
                f"{ref}: version {version.id} also carries "
                f"{', '.join(sorted(set(version.tags) - {tag}))}; leaving it"
            )
        ours = [v for v in versions if _deletable(v, tag, owns)]
        if not ours:
            say(f"{ref}: none of the versions this build pushed is left; nothing to delete")
            return
        self.require_scope("delete:packages", ("delete:packages",), image)
        for version in ours:
            if self._delete_version(
                scope, image, version, tag, owns, untagged_unknown, deadline, say
            ):
                return
        say(f"{ref}: deleted {len(ours)} version(s) this build pushed")

    def _confirm_gone(
        self, image: ImageRepo, ref: str, deadline: float, say: Callable[[str], None]
    ) -> None:
        # 404 is also what a token without access gets: ask the registry whether it is gone.
        try:
            present = self._registry.digest(image, ref.rsplit(":", 1)[1], deadline=deadline)
        except RegistryError as exc:
            raise ImageBuildError(
                f"{ref}: the Packages API answers 404 (gone, or not visible to this token) and "
                f"the registry could not confirm it is gone ({exc}). Check that the token has "
                "`read:packages` and `delete:packages`, then run `pulumi destroy` again."
            ) from exc
        if present is not None:
            raise ImageBuildError(
                f"{ref}: the registry still serves it, but the Packages API answers 404: the "
                "token cannot see the package. Give the token `read:packages` and "
                "`delete:packages` (and access to the package), then run `pulumi destroy` again."
            )
        say(f"{ref}: package already gone")

    def _delete_version(
        self,
        scope: PackageScope,
        image: ImageRepo,
        version: PackageVersion,
        tag: str,
        owns: Callable[[PackageVersion], bool],
        untagged_unknown: bool,
        deadline: float,
        say: Callable[[str], None],
    ) -> bool:
        """Delete one of our versions; True when the whole package went instead."""
        path = scope.package_path(image.package)
        for attempt in range(2):
            try:
                self._client.request("DELETE", f"{path}/versions/{version.id}", deadline=deadline)
                return False
            except NotFoundError:
                return False
            except GitHubApiError as exc:
                if not is_last_version_refusal(exc) or attempt:
                    raise
            # Decide on fresh data: a version pushed since the refusal is not ours to lose,
            # and with it ours is no longer the last: delete ours again.
            left = self.versions(scope, image.package, deadline=deadline)
            if left is None:
                say(f"{image.repository}: package already gone")
                return True
            blockers = [
                v for v in left if not _deletable(v, tag, owns) and (v.tags or untagged_unknown)
            ]
            if not blockers:
                self._delete_package(path, image, deadline, say)
                return True
            if not any(v.tags for v in blockers):
                # Deleting the package would take versions this build did not push.
                say(
                    f"{image.repository}: leaving version {version.id} ({version.name}): GitHub "
                    "deletes the last tagged version only with its package, which also holds "
                    f"untagged versions this build did not push ({len(blockers)}); delete it "
                    "by hand once those are no longer used"
                )
                return True
        return False

    def _delete_package(
        self, path: str, image: ImageRepo, deadline: float, say: Callable[[str], None]
    ) -> None:
        try:
            self._client.request("DELETE", path, deadline=deadline)
        except NotFoundError:
            say(f"{image.repository}: package already gone")
            return
        say(
            f"{image.repository}: deleted package {image.package} (only this build's "
            "versions were left in it)"
        )


def owned_targets(
    props: Mapping[str, Any], say: Callable[[str], None]
) -> dict[str, Callable[[PackageVersion], bool]]:
    """Repository -> which of its versions a resource (its state: `props`) owns."""
    tag = str(props.get("tag") or "")
    repositories: Mapping[str, str] = props.get("imageRepositories") or {}
    for name in props.get("unreadImages") or []:
        say(
            f"WARNING: keeping {repositories.get(name, name)}:{tag}: this build's run pushed "
            "it, but the token could not read it then, so which versions are this build's is "
            "unknown. Delete them by hand once no other stack uses the tag."
        )
    owned = props.get("ownedImages")
    if owned is None:
        if props.get("skipped"):
            say("the images were not built by this resource: keeping them")
            return {}
        # State from before ownership was recorded (provider version 1 or 2): that code
        # owned the versions tagged with this build's tag alone.
        return {repo: (lambda v: tag in v.tags) for repo in repositories.values()}
    if not owned:
        if not props.get("unreadImages"):
            say("this resource pushed no image: nothing to delete")
        return {}
    digests: dict[str, set[str]] = {}
    for name, pushed in owned.items():
        mine = [pushed] if isinstance(pushed, str) else list(pushed)
        digests.setdefault(repositories[name], set()).update(str(d) for d in mine)
    return {repo: _by_digest(frozenset(d)) for repo, d in digests.items()}


def _by_digest(digests: frozenset[str]) -> Callable[[PackageVersion], bool]:
    return lambda version: version.name in digests
