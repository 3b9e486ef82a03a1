"""Naming helpers: namespace, host, image tag, labels."""

from __future__ import annotations

import pytest

from stack.config import is_label
from stack.naming import default_host, default_namespace, image_tag, standard_labels

SHA = "0123456789abcdef0123456789abcdef01234567"


def test_short_environment_namespace_is_prefix_and_environment() -> None:
    assert default_namespace("dev") == "tims-stack-dev"


def test_namespace_at_the_limit_is_not_cut() -> None:
    environment = "e" * (63 - len("tims-stack-"))
    assert default_namespace(environment) == f"tims-stack-{environment}", "63-char namespace"


@pytest.mark.parametrize("environment", ["e" * 53, "e" * 63, "a-" * 31 + "a", "x" * 52 + "-y"])
def test_long_environment_namespace_is_a_valid_label(environment: str) -> None:
    namespace = default_namespace(environment)
    assert is_label(namespace), f"namespace {namespace!r} of {environment!r} is not a label"


def test_long_environments_sharing_a_prefix_get_different_namespaces() -> None:
    first, second = "feature-" + "a" * 50 + "-one", "feature-" + "a" * 50 + "-two"
    assert default_namespace(first) != default_namespace(second), "namespaces collide"


def test_cut_namespace_ends_with_six_hex_digits_of_the_environment_hash() -> None:
    namespace = default_namespace("e" * 63)
    suffix = namespace.rsplit("-", 1)[1]
    assert len(suffix) == 6, f"suffix {suffix!r}"
    assert int(suffix, 16) >= 0, f"suffix {suffix!r} is not hex"


def test_default_host_follows_the_seed_pattern() -> None:
    assert default_host("pr-12", "example.com") == "backend-pr-12.example.com"


def test_image_tag_is_environment_and_twelve_sha_digits() -> None:
    assert image_tag("pr-12", SHA) == "pr-12-0123456789ab"


@pytest.mark.parametrize("sha", ["", "abc", "XYZ0123456789abc", "0123456789ABCDEF"])
def test_image_tag_rejects_what_is_not_a_commit_sha(sha: str) -> None:
    with pytest.raises(ValueError, match="commit sha"):
        image_tag("dev", sha)


def test_standard_labels() -> None:
    assert standard_labels("pr-12", "database", "postgres") == {
        "app.kubernetes.io/name": "postgres",
        "app.kubernetes.io/instance": "pr-12",
        "app.kubernetes.io/component": "database",
        "app.kubernetes.io/part-of": "tims-stack",
        "app.kubernetes.io/managed-by": "pulumi",
    }
