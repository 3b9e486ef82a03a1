"""Names the program derives from the environment id. Pure functions, no Pulumi calls."""

from __future__ import annotations

import hashlib
import re

PROJECT = "tims-stack"
"""Project name: the `part-of` label, the namespace prefix and the config namespace."""

MAX_LABEL = 63
"""RFC 1123 label limit (Kubernetes namespace names, DNS labels)."""

_HEX_SHA = re.compile(r"^[0-9a-f]{12,64}$")


def default_namespace(environment: str) -> str:
    """`tims-stack-<environment>`, kept within 63 characters and unique per environment.

    A long environment id would overflow the namespace limit. Cutting it alone
    could make two environments share a namespace, so the cut name gets the
    first 6 hex digits of sha256(environment) appended.
    """
    name = f"{PROJECT}-{environment}"
    if len(name) <= MAX_LABEL:
        return name
    digest = hashlib.sha256(environment.encode()).hexdigest()[:6]
    head = name[: MAX_LABEL - len(digest) - 1].rstrip("-")
    return f"{head}-{digest}"


def default_host(environment: str, domain: str) -> str:
    """The seed's pattern: `backend-<environment>.<domain>`."""
    return f"backend-{environment}.{domain}"


def image_tag(environment: str, sha: str) -> str:
    """Tag of a built image, unique per environment and commit: `<environment>-<sha12>`."""
    if not _HEX_SHA.match(sha):
        raise ValueError(f"expected a lowercase hex commit sha of at least 12 digits, got {sha!r}")
    return f"{environment}-{sha[:12]}"


def standard_labels(environment: str, component: str, name: str) -> dict[str, str]:
    """The `app.kubernetes.io/*` labels every object of one environment carries."""
    return {
        "app.kubernetes.io/name": name,
        "app.kubernetes.io/instance": environment,
        "app.kubernetes.io/component": component,
        "app.kubernetes.io/part-of": PROJECT,
        "app.kubernetes.io/managed-by": "pulumi",
    }
