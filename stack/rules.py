"""Syntax rules of config values: pure functions saying why a value is not allowed.

Each `*_problem` function returns None for a good value, or the reason it is
bad, worded to follow "got <value>, which ..." in an error message. The
pydantic models in `stack.models` call them from their validators.
"""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from urllib.parse import urlsplit

from stack import naming
from stack.contract import BUILD_PLACEHOLDERS

_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
GITHUB_LOGIN = re.compile(r"^[A-Za-z0-9](?:[A-Za-z0-9]|-(?=[A-Za-z0-9])){0,38}$")
GITHUB_REPO_NAME = re.compile(r"^[A-Za-z0-9._-]{1,100}$")
WORKFLOW_FILE = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.-]*\.ya?ml$")
WORKFLOW_INPUT = re.compile(r"^[A-Za-z_][A-Za-z0-9_-]*$")
ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
DOCKER_TAG = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$")
_DIGEST = re.compile(r"^sha256:[a-f0-9]{64}$")
_HOST_LABEL = r"(?:[a-z0-9]|[a-z0-9][a-z0-9-]*[a-z0-9])"
_REGISTRY = rf"{_HOST_LABEL}(?:\.{_HOST_LABEL})*(?::[0-9]+)?"
_PATH_COMPONENT = r"[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*"
_REPOSITORY = re.compile(rf"^(?:{_REGISTRY}/)?{_PATH_COMPONENT}(?:/{_PATH_COMPONENT})*$")
_PINNED_TAG = re.compile(r"^(?P<major>[0-9]+)(?:\.[0-9]+)*(?:-[a-z0-9][a-z0-9.]*)*$")
_PLACEHOLDER = re.compile(r"\{([^{}]*)\}")
_QUANTITY = re.compile(
    r"^(?P<num>[+-]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+))"
    r"(?P<suffix>Ki|Mi|Gi|Ti|Pi|Ei|[numkMGTPE]|[eE][+-]?[0-9]+)?$"
)
_BINARY = {"Ki": 2**10, "Mi": 2**20, "Gi": 2**30, "Ti": 2**40, "Pi": 2**50, "Ei": 2**60}
_DECIMAL = {
    "n": Decimal("1e-9"),
    "u": Decimal("1e-6"),
    "m": Decimal("1e-3"),
    "": Decimal(1),
    "k": Decimal("1e3"),
    "M": Decimal("1e6"),
    "G": Decimal("1e9"),
    "T": Decimal("1e12"),
    "P": Decimal("1e15"),
    "E": Decimal("1e18"),
}
RESOURCE_NAMES: tuple[str, ...] = ("cpu", "memory", "ephemeral-storage")

POSTGRES_NAMES: tuple[str, ...] = ("postgres", "library/postgres", "docker.io/library/postgres")
REDIS_NAMES: tuple[str, ...] = (
    "redis",
    "library/redis",
    "docker.io/library/redis",
    "valkey/valkey",
    "docker.io/valkey/valkey",
)
# Mirrors and pull-through caches keep Docker Hub's path after their own host
# (mirror.gcr.io/library/redis, public.ecr.aws/docker/library/postgres).
_MIRRORED_PATHS = {
    POSTGRES_NAMES: ("library/postgres",),
    REDIS_NAMES: ("library/redis", "valkey/valkey"),
}


def _is_official(name: str, names: tuple[str, ...]) -> bool:
    """`name` is one of `names`, or Docker Hub's path of one behind a mirror's host."""
    if name in names:
        return True
    host, _, path = name.partition("/")
    mirrored = ("." in host or ":" in host or host == "localhost") and any(
        path == p or path.endswith("/" + p) for p in _MIRRORED_PATHS[names]
    )
    return mirrored


LABEL_RULE = (
    "an RFC 1123 label: lowercase letters, digits and '-', starting and ending "
    "alphanumeric, at most 63 characters"
)
SUBDOMAIN_RULE = "a DNS-1123 subdomain: dot-separated RFC 1123 labels, at most 253 characters"
DNS_NAME_RULE = (
    "a lowercase DNS host name: dot-separated labels of letters, digits and inner '-' "
    "(at most 63 characters each, 253 in all), no trailing dot, no wildcard, not an IP address"
)
RESERVED_NAMESPACES: tuple[str, ...] = ("default",)
RESERVED_NAMESPACE_PREFIX = "kube-"
"""Namespaces the program must not own: destroy deletes the namespace it created."""


def namespace_problem(namespace: str) -> str | None:
    """Why the program must not own `namespace` (a valid label), or None."""
    if namespace in RESERVED_NAMESPACES or namespace.startswith(RESERVED_NAMESPACE_PREFIX):
        return (
            "is a namespace the cluster itself uses ('default' and 'kube-*'); the program owns "
            "its namespace and `pulumi destroy` deletes it with everything in it"
        )
    return None


def is_label(value: str) -> bool:
    """RFC 1123 label (Kubernetes namespace and Service names)."""
    return len(value) <= naming.MAX_LABEL and bool(_LABEL.match(value))


def is_subdomain(value: str) -> bool:
    """DNS-1123 subdomain (most Kubernetes object names)."""
    return 0 < len(value) <= 253 and all(_LABEL.match(part) for part in value.split("."))


def dns_name_problem(value: str) -> str | None:
    """Why `value` is not a usable lowercase DNS host name, or None when it is."""
    if not value:
        return "is empty"
    if "://" in value or any(mark in value for mark in "/?#"):
        host = urlsplit(value if "://" in value else f"//{value}").hostname or ""
        fix = f" (write {host.rstrip('.')!r})" if host else ""
        return f"is a URL, not a host name: drop the scheme and the path{fix}"
    if value != value.lower():
        return "has uppercase letters (Kubernetes host names are lowercase)"
    if value.endswith("."):
        return "ends with '.' (write the name without the trailing dot)"
    if "*" in value:
        return "is a wildcard (give one concrete name)"
    try:
        ipaddress.ip_address(value)
    except ValueError:
        pass
    else:
        return "is an IP address (routes need a DNS name)"
    if len(value) > 253:
        return f"is {len(value)} characters long (at most 253)"
    for label in value.split("."):
        if len(label) > naming.MAX_LABEL:
            return f"has the label {label[:20]!r}... of {len(label)} characters (at most 63)"
        if not _LABEL.match(label):
            return f"has the label {label!r}, which is not letters, digits and inner '-'"
    return None


def git_ref_problem(ref: str) -> str | None:
    """Why `ref` is not a valid git ref name (git check-ref-format rules), or None."""
    if not ref:
        return "is empty"
    if ref == "@" or "@{" in ref:
        return "contains '@{' or is '@'"
    if ref.startswith(("/", "-")) or ref.endswith(("/", ".")):
        return "starts with '/' or '-', or ends with '/' or '.'"
    if "//" in ref or ".." in ref:
        return "contains '//' or '..'"
    bad = [ch for ch in ref if ord(ch) < 0x20 or ord(ch) == 0x7F or ch in " ~^:?*[\\"]
    if bad:
        return f"contains {bad[0]!r} (not allowed: space, control characters, ~ ^ : ? * [ \\)"
    for part in ref.split("/"):
        if part.startswith(".") or part.endswith(".lock"):
            return f"has the component {part!r} (none may start with '.' or end with '.lock')"
    return None


_COMMIT_SHA = re.compile(r"^(?:[0-9a-fA-F]{40}|[0-9a-fA-F]{64})$")
TAG_REF_PREFIX = "refs/tags/"
BUILD_REF_ALLOWED = "a branch name (e.g. main) or a tag as refs/tags/<name>"
_BUILD_REF_RULE = f"expected {BUILD_REF_ALLOWED}"


def build_ref_problem(ref: str) -> str | None:
    """Why `ref` cannot be `build.ref`, or None.

    A commit sha is refused: GitHub dispatches a workflow only on a branch or
    tag (422 otherwise), and the program resolves the sha itself. Tags are
    written `refs/tags/<name>` so they are never mistaken for a branch.
    """
    if _COMMIT_SHA.match(ref):
        return (
            "is a commit sha; a workflow dispatch needs a branch or tag, and the program "
            f"resolves the commit itself: {_BUILD_REF_RULE}"
        )
    if ref.startswith("refs/") and not ref.startswith(TAG_REF_PREFIX):
        return f"is a qualified ref other than refs/tags/<name>; {_BUILD_REF_RULE}"
    name = ref.removeprefix(TAG_REF_PREFIX)
    if (problem := git_ref_problem(name)) is not None:
        return f"{problem}; {_BUILD_REF_RULE}"
    return None


def parse_quantity(value: str) -> Decimal | None:
    """A Kubernetes quantity as a number (bytes, cores), or None when it is not one."""
    match = _QUANTITY.match(value)
    if not match:
        return None
    try:
        number = Decimal(match["num"])
    except InvalidOperation:  # pragma: no cover - the pattern admits only decimals
        return None
    suffix = match["suffix"] or ""
    if suffix in _BINARY:
        return number * _BINARY[suffix]
    if suffix in _DECIMAL:
        return number * _DECIMAL[suffix]
    return number.scaleb(int(suffix[1:]))


@dataclass(frozen=True)
class _ImageRef:
    name: str
    tag: str
    major: int


def _split_image(image: str) -> tuple[str, str | None, str | None]:
    """(name, tag, digest) of an image reference."""
    rest, _, digest = image.partition("@")
    slash = rest.rfind("/")
    colon = rest.rfind(":")
    if colon > slash:
        return rest[:colon], rest[colon + 1 :], digest or None
    return rest, None, digest or None


def official_image_problem(
    image: str, names: tuple[str, ...], min_major: int, example: str
) -> str | None:
    name, tag, digest = _split_image(image)
    if not _is_official(name, names):
        mirrors = " or ".join(f"<mirror host>/.../{p}" for p in _MIRRORED_PATHS[names])
        return f"is not an official image: use one of {', '.join(names)} (or {mirrors})"
    if digest is not None and not _DIGEST.match(digest):
        return "has a digest that is not sha256:<64 hex digits>"
    if tag is None or tag == "latest":
        return f"does not pin a major version: add a tag such as {example!r} (not 'latest')"
    pinned = _PINNED_TAG.match(tag)
    if not pinned:
        return f"has the tag {tag!r}, which does not start with a version number (e.g. {example!r})"
    if int(pinned["major"]) < min_major:
        return f"pins major {pinned['major']}; versions before {min_major} are not supported"
    return None


def official_image(image: str, names: tuple[str, ...]) -> _ImageRef:
    """Parse an image that passed validation (raises ValueError otherwise)."""
    name, tag, _ = _split_image(image)
    pinned = _PINNED_TAG.match(tag or "")
    if not _is_official(name, names) or tag is None or not pinned:
        raise ValueError(f"{image!r} is not an official image with a pinned major version")
    return _ImageRef(name=name, tag=tag, major=int(pinned["major"]))


def suggest_label(value: str) -> str:
    """A valid RFC 1123 label close to `value` (for error messages)."""
    label = re.sub(r"[^a-z0-9-]+", "-", value.lower()).strip("-")[: naming.MAX_LABEL]
    return label.strip("-") or "dev"


def repository_problem(value: str) -> str | None:
    """Why `value` is not an image repository without tag or digest, or None."""
    if "@" in value:
        return (
            "has a digest ('@sha256:...'); give the repository only and set the tag with images.tag"
        )
    if ":" in value.rsplit("/", 1)[-1]:
        return "has a tag; give the repository only and set the tag with images.tag"
    if value != value.lower():
        return "has uppercase letters; image repositories are lowercase (GHCR requires it)"
    if not _REPOSITORY.match(value):
        return "is not an image repository such as ghcr.io/acme/tims-stack-backend-image-prod"
    return None


def placeholder_problem(template: str) -> str | None:
    for match in _PLACEHOLDER.finditer(template):
        if match[1] not in BUILD_PLACEHOLDERS:
            allowed = ", ".join("{" + p + "}" for p in BUILD_PLACEHOLDERS)
            return f"has the unknown placeholder {match[0]!r}; allowed: {allowed}"
    if "{" in _PLACEHOLDER.sub("", template) or "}" in _PLACEHOLDER.sub("", template):
        return "has a '{' or '}' that is not part of a {placeholder}"
    return None


def base_url_problem(url: str) -> str | None:
    parts = urlsplit(url)
    if parts.scheme not in ("https", "http") or not parts.hostname:
        return "is not an https:// URL such as https://api.github.com"
    if parts.username or parts.password:
        return "contains credentials; put the token in github:token instead"
    if parts.query or parts.fragment:
        return "has a query or fragment"
    if parts.scheme == "https":
        return None
    if parts.scheme == "http" and parts.hostname in ("127.0.0.1", "localhost", "::1"):
        return None
    return "is not an https:// URL (plain http is allowed only for a loopback host)"


_ORIGIN = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*://[^\s/,]+$")
ORIGINS_RULE = (
    "a comma list of origins, each scheme://host[:port] without spaces, e.g. "
    '"https://app.example.org,https://*.example.org"'
)


def origins_problem(value: str) -> str | None:
    """Why a CSRF origin list would break the app, or None.

    The settings split it on "," as is. Django 4 refuses an entry without a scheme
    (system check 4_0.E001), which fails `manage.py migrate` and so the migration Job;
    an entry with a space never matches an Origin header.
    """
    bad = [entry for entry in value.split(",") if not _ORIGIN.match(entry)]
    if not bad:
        return None
    entries = ", ".join(map(repr, bad))
    return f"has entries {entries} that Django refuses or never matches; expected {ORIGINS_RULE}"


def github_registry_hosts(base_url: str) -> tuple[str, ...]:
    """Container registries GitHub serves for `base_url` (the API root, github:baseUrl).

    ghcr.io always; with a GitHub Enterprise Server API root (`https://<host>/api/v3`)
    also `containers.<host>`, its registry with subdomain isolation.
    """
    parts = urlsplit(base_url.rstrip("/"))
    if parts.path == "/api/v3" and parts.hostname:
        return ("ghcr.io", f"containers.{parts.hostname}")
    return ("ghcr.io",)
