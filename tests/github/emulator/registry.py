"""The container registry side of the emulator (GHCR, or `containers.<host>` on GHES).

GitHub's OpenAPI description does not cover the registry, so nothing here is validated
against it. What is emulated, per the OCI distribution spec
(https://github.com/opencontainers/distribution-spec/blob/main/spec.md) and the registry
token flow GHCR follows (https://distribution.github.io/distribution/spec/auth/token/):

- `HEAD|GET /v2/<owner>/<name>/manifests/<tag or digest>`
  - without a valid pull token: 401, `WWW-Authenticate: Bearer realm="<root>/token",
    service="<service>",scope="repository:<owner>/<name>:pull"` and an
    `{"errors": [{"code": "UNAUTHORIZED", ...}]}` body (GET only; HEAD has no body);
  - with one: 200 and `Docker-Content-Digest: sha256:...` (the package version's `name`,
    as GHCR lists it), `Content-Type` of an OCI image index whose `manifests` (GET) list
    the platform images and attestations GHCR shows as untagged versions, or of an OCI
    image manifest (a single-platform push); or 404 `MANIFEST_UNKNOWN`, also when the
    `Accept` header does not name that media type (nothing is converted).
- `GET /token?service=<service>&scope=repository:<owner>/<name>:pull` with HTTP Basic
  credentials whose password is the GitHub token (GHCR ignores the user name): 200
  `{"token": ..., "access_token": ..., "expires_in": ...}` (`token_ttl`; an expired
  token gets the 401 challenge again); wrong or missing credentials: 401 `UNAUTHORIZED`;
  a classic token without `read:packages` (emulator `oauth_scopes`): 403 `DENIED`.

Registry answers never count against the REST API's rate limit.
"""

from __future__ import annotations

import base64
import itertools
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

MANIFEST_RE = re.compile(r"^/v2/(?P<owner>[^/]+)/(?P<name>.+)/manifests/(?P<reference>[^/]+)$")
INDEX_MEDIA_TYPE = "application/vnd.oci.image.index.v1+json"
MANIFEST_MEDIA_TYPE = "application/vnd.oci.image.manifest.v1+json"


@dataclass
class RegistryAnswer:
    status: int
    body: Any = None
    headers: dict[str, str] = field(default_factory=dict)


def _errors(code: str, message: str) -> dict[str, Any]:
    return {"errors": [{"code": code, "message": message}]}


class RegistryEmulation:
    """Answers registry requests from the emulator's packages (see the module docstring)."""

    def __init__(
        self,
        *,
        token: Callable[[], str],
        can_read: Callable[[], bool],
        lookup: Callable[[str, str, str], tuple[str, list[str]] | None],
        now: Callable[[], float],
    ) -> None:
        """`lookup(owner, package, reference)` gives the digest a tag or digest names, and
        the digests of the manifests that image index lists."""
        self._github_token = token
        self._can_read = can_read
        self._lookup = lookup
        self._ids = itertools.count(1)
        self._now = now
        self._pull_tokens: dict[str, tuple[str, float]] = {}  # token -> (repository, expiry)
        self.token_ttl = 3_600.0
        """Seconds a pull token is good for (the token spec's default `expires_in` is 60)."""
        self.service = "ghcr.io"
        """The service name the challenge names (GHES: `containers.<host>`)."""
        self.realm: str | None = None
        """The token endpoint the challenge names; default: `/token` on the host asked."""

    def handle(
        self, method: str, path: str, query: dict[str, list[str]], headers: dict[str, str]
    ) -> RegistryAnswer:
        if path == "/token":
            if method != "GET":
                return RegistryAnswer(405, _errors("UNSUPPORTED", "method not allowed"))
            return self._token(query, headers)
        found = MANIFEST_RE.match(path)
        if found is None or method not in ("GET", "HEAD"):
            return RegistryAnswer(404, _errors("NAME_UNKNOWN", "repository name not known"))
        repository = f"{found['owner']}/{found['name']}"
        auth = headers.get("authorization", "")
        scheme, _, given = auth.partition(" ")
        granted, expires = self._pull_tokens.get(given.strip(), ("", 0.0))
        if scheme.lower() != "bearer" or granted != repository or self._now() >= expires:
            # A registry names its token endpoint on its own host; the tests reach the
            # emulator as 127.0.0.1 directly, or as ghcr.io through a routing transport.
            host = headers.get("host", "")
            scheme = "http" if host.startswith("127.0.0.1") else "https"
            realm = self.realm or f"{scheme}://{host}/token"
            challenge = (
                f'Bearer realm="{realm}",service="{self.service}",'
                f'scope="repository:{repository}:pull"'
            )
            return RegistryAnswer(
                401,
                _errors("UNAUTHORIZED", "authentication required"),
                {"www-authenticate": challenge},
            )
        known = self._lookup(found["owner"], found["name"], found["reference"])
        if known is None:
            return RegistryAnswer(404, _errors("MANIFEST_UNKNOWN", "manifest unknown"))
        digest, children = known
        media_type = INDEX_MEDIA_TYPE if children else MANIFEST_MEDIA_TYPE
        accepted = {part.split(";")[0].strip() for part in headers.get("accept", "").split(",")}
        if media_type not in accepted:
            # Nothing is converted: a client that does not accept what the reference names
            # gets 404, as the distribution registry answers an index nobody asked for.
            kind = "OCI index" if children else "OCI manifest"
            return RegistryAnswer(
                404,
                _errors("MANIFEST_UNKNOWN", f"{kind} found, but accept header does not support it"),
            )
        if children:
            body: dict[str, Any] = {
                "schemaVersion": 2,
                "mediaType": INDEX_MEDIA_TYPE,
                "manifests": [
                    {"mediaType": MANIFEST_MEDIA_TYPE, "digest": d, "size": 1} for d in children
                ],
            }
        else:
            body = {"schemaVersion": 2, "mediaType": MANIFEST_MEDIA_TYPE, "layers": []}
        return RegistryAnswer(
            200, body, {"docker-content-digest": digest, "content-type": media_type}
        )

    def _token(self, query: dict[str, list[str]], headers: dict[str, str]) -> RegistryAnswer:
        scope = (query.get("scope") or [""])[-1]
        match = re.fullmatch(r"repository:(?P<repo>[^:]+):pull", scope)
        scheme, _, encoded = headers.get("authorization", "").partition(" ")
        password = ""
        if scheme.lower() == "basic":
            try:
                password = base64.b64decode(encoded).decode().partition(":")[2]
            except (ValueError, UnicodeDecodeError):
                password = ""
        if password != self._github_token():
            return RegistryAnswer(401, _errors("UNAUTHORIZED", "authentication required"))
        if match is None:
            return RegistryAnswer(400, _errors("UNSUPPORTED", f"bad scope {scope!r}"))
        if not self._can_read():
            return RegistryAnswer(
                403, _errors("DENIED", "requested access to the resource is denied")
            )
        token = f"emu-registry-{next(self._ids):06d}"
        self._pull_tokens[token] = (match["repo"], self._now() + self.token_ttl)
        body = {"token": token, "access_token": token, "expires_in": int(self.token_ttl)}
        return RegistryAnswer(200, body)
