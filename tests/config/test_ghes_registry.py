"""Image repositories on a GitHub Enterprise Server's registry host (issue 8)."""

from __future__ import annotations

from typing import Any

from tests.config.conftest import BUILD, FAKE_TOKEN, ErrorFn, ParseFn, with_overrides

GHES_API = "https://ghe.example.com/api/v3"


def ghes_build(**images: str) -> dict[str, Any]:
    return with_overrides(
        BUILD,
        {
            "github:baseUrl": GHES_API,
            "tims-stack:images": {
                name: f"containers.ghe.example.com/acme/{name}" for name in ("backend", "frontend")
            }
            | images,
        },
    )


def test_build_images_on_the_ghes_registry_host_are_accepted(parse: ParseFn) -> None:
    config = parse(ghes_build(), env={"GITHUB_TOKEN": FAKE_TOKEN})
    assert config.images is not None
    assert config.images.backend == "containers.ghe.example.com/acme/backend"


def test_the_registry_of_another_ghes_is_refused_naming_the_allowed_hosts(
    config_error: ErrorFn,
) -> None:
    error = config_error(
        ghes_build(backend="containers.other.example.com/acme/backend"),
        env={"GITHUB_TOKEN": FAKE_TOKEN},
    )
    text = str(error)
    assert "tims-stack:images.backend" in text
    assert "containers.ghe.example.com" in text, text
    assert "ghcr.io" in text, text


def test_a_ghes_registry_host_is_refused_without_a_ghes_base_url(config_error: ErrorFn) -> None:
    values = with_overrides(ghes_build(), {"github:baseUrl": None})
    error = config_error(values, env={"GITHUB_TOKEN": FAKE_TOKEN})
    assert "tims-stack:images.backend" in str(error)
    assert "images go to ghcr.io (the workflow" in str(error), (
        "on github.com only ghcr.io is allowed"
    )
