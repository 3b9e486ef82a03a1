"""Image references: prebuilt tags, registry owner, repository names."""

from __future__ import annotations

from stack.config import ImagesConfig, StackConfig
from stack.rules import github_registry_hosts

IMAGE_NAMES = ("backend", "frontend")
"""The images one build produces; keys of ImageBuild's `images` output."""


def prebuilt_images(images: ImagesConfig) -> dict[str, str]:
    """`<repository>:<tag>` for each image, in prebuilt mode."""
    if images.tag is None:
        raise ValueError("tims-stack:images.tag is required when images.source is 'prebuilt'")
    return {
        "backend": f"{images.backend}:{images.tag}",
        "frontend": f"{images.frontend}:{images.tag}",
    }


def registry_owner(config: StackConfig) -> str:
    """Owner of the packages, the pull secret's username.

    `github:owner`, else the owner of `build.repository`, else the owner in a
    `<registry>/<owner>/...` image repository on one of GitHub's registries.
    """
    if config.github.owner:
        return config.github.owner
    if config.build.repository:
        return split_repository(config.build.repository)[0]
    parts = config.images.backend.split("/")
    if len(parts) >= 3 and parts[0] in github_registry_hosts(config.github.base_url):
        return parts[1]
    raise ValueError(
        "set github:owner: the registry pull secret for private images needs the packages' owner"
    )


def image_registries(images: ImagesConfig) -> tuple[str, ...]:
    """The registry hosts the images are pulled from, for the pull secret."""
    return tuple(sorted({repo.split("/", 1)[0] for repo in (images.backend, images.frontend)}))


def split_repository(repository: str) -> tuple[str, str]:
    """`owner/name` -> (owner, name)."""
    owner, _, name = repository.partition("/")
    if not owner or not name or "/" in name:
        raise ValueError(f"expected a repository as owner/name, got {repository!r}")
    return owner, name


GITHUB_COM_API = "https://api.github.com"


def provider_base_url(api_url: str) -> str:
    """`github:baseUrl` (an API root) as the pulumi-github provider's `base_url` wants it.

    The provider (terraform-provider-github, `Config.NewRESTClient`) appends
    `api/v3/` to every base URL other than exactly `https://api.github.com/`,
    so it takes the server's root with a trailing slash: github.com's API root
    as is, a GitHub Enterprise Server API root (`https://<host>/api/v3`) as
    `https://<host>/`. Passing the API root unchanged would make it call
    `.../api/v3api/v3/` (or `api.github.com/api/v3/`) and 404.
    """
    root = api_url.rstrip("/")
    if root == GITHUB_COM_API:
        return GITHUB_COM_API + "/"
    return root.removesuffix("/api/v3") + "/"
