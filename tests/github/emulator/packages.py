"""The Packages API (user, users/{username} and orgs/{org} routes), the versions a successful
run pushes, and the registry's view of them."""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from typing import Any

from tests.github.emulator.model import (
    _LAST_TAGGED_VERSION,
    DOCS,
    HTML_BASE,
    Handler,
    RunPlan,
    _Account,
    _Answer,
    _Ctx,
    _HttpError,
    _not_found,
    _Package,
    _Repo,
    _Version,
    iso,
)
from tests.github.emulator.runs import _Runs


class _Packages(_Runs):
    def add_package(self, owner: str, name: str, versions: list[list[str]]) -> None:
        """A container package; `versions` lists each version's tags, oldest first."""
        with self._lock:
            account = self._accounts.get(owner.lower())
            if account is None:
                raise ValueError(
                    f"package {owner}/{name}: owner is unknown; call add_account first"
                )
            if (owner.lower(), name) in self._packages:
                raise ValueError(f"package {owner}/{name} already exists")
            now = self.clock.time()
            start = now - 3_600 * (len(versions) + 1)
            package = _Package(account, name, self._next_id(5_000_000), start, now)
            for index, tags in enumerate(versions):
                stamp = start + 3_600 * (index + 1)
                package.versions.append(self._new_version(package, list(tags), stamp))
            self._packages[(owner.lower(), name)] = package

    def _new_version(self, package: _Package, tags: list[str], at: float) -> _Version:
        vid = self._next_id(100_000_000)
        digest = "sha256:" + hashlib.sha256(f"{package.name}:{vid}".encode()).hexdigest()
        return _Version(vid, digest, tags, at, at)

    def package_digests(self, owner: str, name: str) -> dict[str, list[str]]:
        """Digest -> tags of each remaining version (empty when the package is gone)."""
        with self._lock:
            self._settle(self.clock.time())
            package = self._packages.get((owner.lower(), name))
            if package is None or package.deleted_at is not None:
                return {}
            return {v.name: list(v.tags) for v in package.active()}

    def package_versions(self, owner: str, name: str) -> list[list[str]] | None:
        """Tags of each remaining version, oldest first; None when the package is gone."""
        with self._lock:
            self._settle(self.clock.time())
            package = self._packages.get((owner.lower(), name))
            if package is None or package.deleted_at is not None:
                return None
            return [list(v.tags) for v in package.active()]

    def _push(self, repo: _Repo, package_name: str, tag: str, at: float, plan: RunPlan) -> None:
        owner = self._accounts[repo.owner.lower()]
        key = (owner.login.lower(), package_name)
        package = self._packages.get(key)
        if package is None or package.deleted_at is not None:
            package = _Package(owner, package_name, self._next_id(5_000_000), at, at)
            self._packages[key] = package
        package.repository = repo
        tagged = [v for v in package.active() if tag in v.tags]
        if plan.reproducible and tagged:
            # The same manifest again: the registry has it, so no new version appears.
            tagged[0].updated_at = package.updated_at = at
            return
        # A tag names one image: pushing it again moves it to the new version.
        for version in package.versions:
            if tag in version.tags:
                version.tags.remove(tag)
                version.updated_at = at
        children = [self._new_version(package, [], at) for _ in range(plan.platforms)]
        package.versions.extend(children)
        index = self._new_version(package, [tag], at)
        index.children = [child.name for child in children]
        package.versions.append(index)
        package.updated_at = at

    def _package_urls(self, package: _Package) -> tuple[str, str]:
        """(API url, html url) of a package."""
        owner = package.owner
        kind = "orgs" if owner.type == "Organization" else "users"
        api = f"{self._api}/{kind}/{owner.login}/packages/container/{package.name}"
        html = f"{HTML_BASE}/{kind}/{owner.login}/packages/container/package/{package.name}"
        return api, html

    def _package_json(self, package: _Package) -> dict[str, Any]:
        api, html = self._package_urls(package)
        data: dict[str, Any] = {
            "id": package.id,
            "name": package.name,
            "package_type": "container",
            "owner": self._simple_user(package.owner),
            "version_count": len(package.active()),
            "visibility": "private",
            "url": api,
            "html_url": html,
            "created_at": iso(package.created_at),
            "updated_at": iso(package.updated_at),
        }
        if package.repository is not None:
            data["repository"] = self._minimal_repo(package.repository)
        return data

    def _version_json(self, package: _Package, version: _Version) -> dict[str, Any]:
        api, html = self._package_urls(package)
        data: dict[str, Any] = {
            "id": version.id,
            "name": version.name,
            "url": f"{api}/versions/{version.id}",
            "package_html_url": html,
            "html_url": html.replace("/package/", "/") + f"/{version.id}",
            "created_at": iso(version.created_at),
            "updated_at": iso(version.updated_at),
            "metadata": {"package_type": "container", "container": {"tags": list(version.tags)}},
        }
        if version.deleted_at is not None:
            data["deleted_at"] = iso(version.deleted_at)
        return data

    # Packages: the same handlers serve /user, /users/{username} and /orgs/{org}.

    def _owner_route(self, kind: str, handler: Callable[..., _Answer]) -> Handler:
        def route(ctx: _Ctx, **args: str) -> _Answer:
            if kind == "user":
                login, wanted = self.authenticated_login or "", "User"
            elif kind == "users":
                login, wanted = args.pop("username"), "User"
            else:
                login, wanted = args.pop("org"), "Organization"
            account = self._accounts.get(login.lower())
            if account is None or account.type != wanted:
                # GitHub keeps user and organisation packages apart: the wrong
                # endpoint for the owner finds nothing.
                raise _HttpError(404, "Package not found." if args else "Not Found")
            if not self._has_scope("read:packages", "write:packages"):
                # What makes a 404 ambiguous: a token that may not see packages.
                raise _HttpError(404, "Package not found.")
            if ctx.method == "DELETE" and not self._has_scope("delete:packages"):
                raise _HttpError(403, "You need the delete:packages scope to delete packages.")
            return handler(ctx, account, **args)

        return route

    def _registry_lookup(
        self, owner: str, name: str, reference: str
    ) -> tuple[str, list[str]] | None:
        """(digest, digests of the manifests it lists) of a tag or digest."""
        with self._lock:
            self._settle(self.clock.time())
            package = self._packages.get((owner.lower(), name))
            if package is None or package.deleted_at is not None:
                return None
            for version in package.active():
                if reference in version.tags or reference == version.name:
                    return version.name, list(version.children)
            return None

    def _package(self, account: _Account, package_type: str, package_name: str) -> _Package:
        package = self._packages.get((account.login.lower(), package_name))
        if package_type != "container" or package is None or package.deleted_at is not None:
            raise _HttpError(404, "Package not found.")
        return package

    def _list_packages(self, ctx: _Ctx, account: _Account) -> _Answer:
        package_type = ctx.q("package_type")
        if not package_type:
            raise _HttpError(400, "package_type is required")
        visibility = ctx.q("visibility")
        packages = [
            p
            for (owner, _), p in sorted(self._packages.items())
            if owner == account.login.lower()
            and p.deleted_at is None
            and package_type == "container"
            and visibility in (None, "private")
        ]
        page, link = self._paginate(ctx, packages)
        return _Answer(200, [self._package_json(p) for p in page], link)

    def _get_package(
        self, ctx: _Ctx, account: _Account, package_type: str, package_name: str
    ) -> _Answer:
        return _Answer(200, self._package_json(self._package(account, package_type, package_name)))

    def _delete_package(
        self, ctx: _Ctx, account: _Account, package_type: str, package_name: str
    ) -> _Answer:
        package = self._package(account, package_type, package_name)
        package.deleted_at = ctx.now
        return _Answer(204)

    def _restore_package(
        self, ctx: _Ctx, account: _Account, package_type: str, package_name: str
    ) -> _Answer:
        package = self._packages.get((account.login.lower(), package_name))
        if package_type != "container" or package is None or package.deleted_at is None:
            raise _HttpError(404, "Package not found.")
        package.deleted_at = None
        return _Answer(204)

    def _list_versions(
        self, ctx: _Ctx, account: _Account, package_type: str, package_name: str
    ) -> _Answer:
        package = self._package(account, package_type, package_name)
        state = ctx.q("state", "active")
        chosen = [v for v in package.versions if (v.deleted_at is None) == (state == "active")]
        newest_first = sorted(chosen, key=lambda v: (v.created_at, v.id), reverse=True)
        page, link = self._paginate(ctx, newest_first)
        return _Answer(200, [self._version_json(package, v) for v in page], link)

    def _version(self, package: _Package, version_id: str, *, deleted: bool = False) -> _Version:
        for version in package.versions:
            if str(version.id) == version_id and (version.deleted_at is not None) == deleted:
                return version
        raise _not_found()

    def _get_version(
        self,
        ctx: _Ctx,
        account: _Account,
        package_type: str,
        package_name: str,
        version_id: str,
    ) -> _Answer:
        package = self._package(account, package_type, package_name)
        return _Answer(200, self._version_json(package, self._version(package, version_id)))

    def _delete_version(
        self,
        ctx: _Ctx,
        account: _Account,
        package_type: str,
        package_name: str,
        version_id: str,
    ) -> _Answer:
        package = self._package(account, package_type, package_name)
        version = self._version(package, version_id)
        tagged = [v for v in package.active() if v.tags]
        if version.tags and tagged == [version]:
            raise _HttpError(
                400, _LAST_TAGGED_VERSION, f"{DOCS}/packages/packages#delete-a-package-version"
            )
        version.deleted_at = ctx.now
        package.updated_at = ctx.now
        return _Answer(204)

    def _restore_version(
        self,
        ctx: _Ctx,
        account: _Account,
        package_type: str,
        package_name: str,
        version_id: str,
    ) -> _Answer:
        package = self._package(account, package_type, package_name)
        version = self._version(package, version_id, deleted=True)
        version.deleted_at = None
        return _Answer(204)

    def _settle(self, now: float) -> None:
        """Apply the effects of runs that completed by `now` (image pushes)."""
        for run in self._runs:
            if run.pushed or not run.plan.push:
                continue
            state = self._state(run, now)
            if state.status != "completed":
                continue
            run.pushed = True
            if state.conclusion != "success":
                continue
            for package_name, input_name in run.plan.push.items():
                tag = run.inputs.get(input_name)
                if tag:
                    self._push(run.repo, package_name, tag, state.ends_at, run.plan)
