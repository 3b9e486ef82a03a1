"""The container registry's own API: does a tag exist, and with which digest.

One `HEAD /v2/<owner>/<name>/manifests/<reference>` per image answers it, outside the
REST API's rate limit (OCI distribution spec, "Checking if content exists in the
registry": 200 with `Docker-Content-Digest`, or 404). Auth follows the registry token
flow (https://distribution.github.io/distribution/spec/auth/token/): the first request
gets a 401 whose `WWW-Authenticate: Bearer realm=...,service=...,scope=...` names the
token endpoint (`https://ghcr.io/token` on GitHub.com); a GET there with the GitHub token
as Basic password returns a pull token for that repository. The realm is remembered per
registry, so later images go to the token endpoint directly.

Where images live: `ghcr.io/<owner>/<name>` on GitHub.com, and
`containers.<host>/<owner>/<name>` on GitHub Enterprise Server with subdomain isolation.
The GitHub token is sent only to the realm of the registry the image names, never
elsewhere.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from urllib.parse import quote, urlsplit

import httpx

from .base import Clock, DeadlineError, ImageBuildError, Secret, remaining

GHCR = "ghcr.io"
_IMAGE_RE = re.compile(
    r"^(?P<host>ghcr\.io|containers\.[a-z0-9](?:[a-z0-9-]*[a-z0-9])?"
    r"(?:\.[a-z0-9](?:[a-z0-9-]*[a-z0-9])?)+)"
    r"/(?P<owner>[a-z0-9](?:[a-z0-9-]{0,38}))/(?P<name>[a-z0-9][a-z0-9._/-]*)$"
)
IMAGE_FORMAT = "`ghcr.io/<owner>/<name>` (or `containers.<GHES host>/<owner>/<name>`)"
# Index first: a multi-platform image's digest is its index's, which is what GHCR lists.
MANIFEST_ACCEPT = ", ".join(
    (
        "application/vnd.oci.image.index.v1+json",
        "application/vnd.docker.distribution.manifest.list.v2+json",
        "application/vnd.oci.image.manifest.v1+json",
        "application/vnd.docker.distribution.manifest.v2+json",
    )
)
_CHALLENGE_RE = re.compile(r'(\w+)="([^"]*)"')


class RegistryError(ImageBuildError):
    """The registry could not answer (unreachable, refused the token, server error)."""

    def __init__(self, message: str, *, status: int) -> None:
        super().__init__(message)
        self.status = status  # 0 when no answer came

    @property
    def denied(self) -> bool:
        """The token may not read the image (it lacks `read:packages` or access)."""
        return self.status in (401, 403)


@dataclass(frozen=True)
class ImageRepo:
    """`<registry host>/<owner>/<package name>`: where one image lives."""

    repository: str
    host: str
    owner: str
    package: str

    @classmethod
    def parse(cls, repository: str) -> ImageRepo:
        match = _IMAGE_RE.match(repository) if isinstance(repository, str) else None
        if not match or repository.endswith("/") or "//" in repository:
            raise ImageBuildError(
                f"image repository {repository!r} is not {IMAGE_FORMAT} in lower case without a tag"
            )
        return cls(repository, match["host"], match["owner"], match["name"])

    @property
    def path(self) -> str:
        return f"{self.owner}/{self.package}"


class Registry:
    """Manifest lookups for one operation. Registry calls cost no GitHub rate limit."""

    def __init__(
        self,
        token: Secret,
        clock: Clock,
        *,
        urls: Mapping[str, str] | None = None,
        transport: httpx.BaseTransport | None = None,
        log: Callable[[str], None] | None = None,
    ) -> None:
        self._token = token
        self._clock = clock
        self._urls = dict(urls or {})
        self._log = log or (lambda _message: None)
        self._realms: dict[str, tuple[str, str]] = {}  # host -> (realm, service)
        self._pull_tokens: dict[str, Secret] = {}  # repository -> registry token
        self._http = httpx.Client(transport=transport, follow_redirects=False)

    def __repr__(self) -> str:
        return "Registry(<redacted>)"

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> Registry:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()

    def base(self, host: str) -> str:
        return self._urls.get(host, f"https://{host}").rstrip("/")

    def digest(self, image: ImageRepo, reference: str, *, deadline: float) -> str | None:
        """Digest of `image:reference` (tag or digest), or None when the registry has none."""
        response = self._manifest("HEAD", image, reference, deadline)
        return None if response is None else response.headers["docker-content-digest"]

    def image_digests(self, image: ImageRepo, reference: str, *, deadline: float) -> list[str]:
        """The digest of `image:reference` and of every manifest its index lists (platform
        images, attestations: GHCR shows each as an untagged version); [] when absent."""
        response = self._manifest("GET", image, reference, deadline)
        if response is None:
            return []
        digests = [response.headers["docker-content-digest"]]
        try:
            listed = response.json().get("manifests") or []
        except ValueError:
            listed = []
        digests += [str(m["digest"]) for m in listed if isinstance(m, dict) and m.get("digest")]
        return digests

    def _manifest(
        self, method: str, image: ImageRepo, reference: str, deadline: float
    ) -> httpx.Response | None:
        url = f"{self.base(image.host)}/v2/{image.path}/manifests/{quote(reference, safe=':')}"
        cached = image.repository in self._pull_tokens
        if not cached:
            self._authenticate(image, url, deadline)
        response = self._send(method, url, deadline, headers=self._headers(image))
        if response.status_code == 401 and cached:
            # Pull tokens are short-lived (the token spec's default `expires_in` is 60 s) and
            # a build outlasts one: the look after the run needs a fresh token, not a warning.
            del self._pull_tokens[image.repository]
            self._authenticate(image, url, deadline)
            response = self._send(method, url, deadline, headers=self._headers(image))
        if response.status_code == 404:
            return None
        if response.status_code == 200 and response.headers.get("docker-content-digest"):
            return response
        raise RegistryError(
            f"the registry answered {response.status_code} to {method} "
            f"{image.repository}:{reference}",
            status=response.status_code,
        )

    def _headers(self, image: ImageRepo) -> dict[str, str]:
        headers = {"Accept": MANIFEST_ACCEPT}
        pull = self._pull_tokens.get(image.repository)
        if pull is not None:
            headers["Authorization"] = f"Bearer {pull.reveal()}"
        return headers

    def _authenticate(self, image: ImageRepo, url: str, deadline: float) -> None:
        # GitHub's registries serve their token endpoint at /token of their own host: ask it
        # directly (one request saved per image), and follow the challenge only if that fails.
        guess = self._realms.get(image.host) or (f"{self.base(image.host)}/token", image.host)
        status = self._fetch_token(image, guess, deadline)
        if status == 200:
            self._realms[image.host] = guess
            return
        challenge = self._send("HEAD", url, deadline, headers={"Accept": MANIFEST_ACCEPT})
        header = challenge.headers.get("www-authenticate", "")
        fields = dict(_CHALLENGE_RE.findall(header))
        realm = fields.get("realm", "")
        if challenge.status_code != 401 or not header.lower().startswith("bearer") or not realm:
            raise RegistryError(
                f"the token endpoint of {image.host} answered {status} and the registry sent no "
                "Bearer challenge",
                status=status,
            )
        # The token goes only to the registry's own host (https://ghcr.io/token).
        if urlsplit(realm).netloc != urlsplit(self.base(image.host)).netloc:
            raise RegistryError(
                f"the registry of {image.repository} names a token endpoint on another host "
                f"({urlsplit(realm).netloc}); refusing to send the GitHub token there",
                status=0,
            )
        found = (realm, fields.get("service", image.host))
        status = self._fetch_token(image, found, deadline)
        if status != 200:
            raise RegistryError(
                f"the registry's token endpoint answered {status} for {image.repository} "
                "(the GitHub token needs `read:packages`)",
                status=status,
            )
        self._realms[image.host] = found

    def _fetch_token(self, image: ImageRepo, realm: tuple[str, str], deadline: float) -> int:
        response = self._send(
            "GET",
            realm[0],
            deadline,
            headers={},
            params={"service": realm[1], "scope": f"repository:{image.path}:pull"},
            # GHCR takes the GitHub token as the Basic password; the user name is not checked.
            auth=("tims-stack", self._token.reveal()),
        )
        if response.status_code != 200:
            return response.status_code
        try:
            body = response.json()
        except ValueError:
            body = None
        token = (body.get("token") or body.get("access_token")) if isinstance(body, dict) else None
        if not token:
            return 0  # a 200 without a token grants nothing
        self._pull_tokens[image.repository] = Secret(str(token))
        return 200

    def _send(
        self,
        method: str,
        url: str,
        deadline: float,
        *,
        headers: Mapping[str, str],
        params: Mapping[str, str] | None = None,
        auth: tuple[str, str] | None = None,
    ) -> httpx.Response:
        # Two tries: one connection hiccup is common; a registry down for longer makes the
        # caller fall back to the Packages API.
        for attempt in range(2):
            left = remaining(self._clock, deadline)
            if left <= 0:
                raise DeadlineError(f"registry {method} {url}: not sent, the deadline passed")
            try:
                response = self._http.request(
                    method,
                    url,
                    headers=dict(headers),
                    params=params,
                    auth=auth,
                    timeout=httpx.Timeout(min(30.0, left), connect=min(10.0, left)),
                )
            except httpx.TransportError as exc:
                if attempt:
                    raise RegistryError(
                        f"cannot reach {url} ({type(exc).__name__})", status=0
                    ) from exc
                continue
            if response.status_code < 500 or attempt:
                return response
        raise RegistryError(f"the registry failed to answer {method} {url}", status=0)
