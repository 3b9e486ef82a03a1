"""The provider travels in state BY VALUE: destroy runs the code that created the resource."""

from __future__ import annotations

import ast
import base64
import hashlib
import json
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import dill
import pytest
import tenacity
from pulumi.dynamic.dynamic import serialize_provider

from components.images.imagebuild import provider as image_build_provider
from components.images.imagebuild.provider import ImageBuildProvider
from tests.provider.conftest import GOLDEN_VERSIONS, TAG, Harness, clean_env, golden_provider
from tests.provider.test_provider_version import SOURCE_SHA256

# Runs in a fresh interpreter: loads a serialized provider and calls delete() with it.
LOAD_AND_DELETE = textwrap.dedent(
    """
    import base64, json, os, sys
    import dill
    from pulumi.dynamic import ConfigureRequest
    from pulumi.dynamic.config import Config

    job = json.load(sys.stdin)
    provider = dill.loads(base64.b64decode(job["provider"]))
    stray = sorted(m for m in sys.modules if m == "components" or m.startswith("components."))
    config = {"github:token": os.environ["TEST_GITHUB_TOKEN"], "github:baseUrl": job["baseUrl"]}
    provider.configure(ConfigureRequest(Config(config, "tims-stack")))
    provider.delete("id", job["state"])
    print(json.dumps({"module": type(provider).__module__, "stray": stray}))
    """
)


def load(serialized: str) -> Any:
    """Unpickle as the provider host does (our own data, never untrusted input)."""
    return dill.loads(base64.b64decode(serialized))  # noqa: S301


def test_destroy_works_from_state_without_importable_components(
    harness: Harness, stale_checkout: Path
) -> None:
    harness.emulator.add_package("acme", "app-backend", [[TAG], ["staging-1"]])
    state: dict[str, Any] = {
        "tag": TAG,
        "environment": "dev",
        "deleteImagesOnDestroy": True,
        "imageRepositories": {"backend": "ghcr.io/acme/app-backend"},
    }
    job = {
        "provider": serialize_provider(ImageBuildProvider()),
        "state": state,
        "baseUrl": harness.emulator.base_url,
    }
    done = subprocess.run(
        [sys.executable, "-c", LOAD_AND_DELETE],
        cwd=stale_checkout,
        env=clean_env(TEST_GITHUB_TOKEN=harness.emulator.token),
        input=json.dumps(job),
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, f"loading the serialized provider failed:\n{done.stderr}"
    report = json.loads(done.stdout.strip().splitlines()[-1])
    assert report["stray"] == [], "the serialized provider must not import components/"
    assert report["module"].startswith("_tims_stack_image_build_"), report
    assert harness.emulator.package_versions("acme", "app-backend") == [["staging-1"]], (
        "the provider loaded from state deleted this build's image version"
    )


@pytest.mark.parametrize("version", GOLDEN_VERSIONS)
def test_destroy_works_with_the_provider_state_holds_from_each_release(
    harness: Harness, stale_checkout: Path, version: str
) -> None:
    # Today's SDK, dill, httpx and tenacity must still run the code old state carries.
    harness.emulator.add_package("acme", "app-backend", [[TAG], ["staging-1"]])
    job = {
        "provider": golden_provider(version),
        "state": {
            "tag": TAG,
            "environment": "dev",
            "deleteImagesOnDestroy": True,
            "imageRepositories": {"backend": "ghcr.io/acme/app-backend"},
        },
        "baseUrl": harness.emulator.base_url,
    }
    done = subprocess.run(
        [sys.executable, "-c", LOAD_AND_DELETE],
        cwd=stale_checkout,
        env=clean_env(TEST_GITHUB_TOKEN=harness.emulator.token),
        input=json.dumps(job),
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, f"the release-{version} provider from state failed:\n{done.stderr}"
    assert harness.emulator.package_versions("acme", "app-backend") == [["staging-1"]], (
        f"the release-{version} provider must delete ghcr.io/acme/app-backend:{TAG} and keep "
        "staging-1"
    )


@pytest.mark.parametrize("version", GOLDEN_VERSIONS)
def test_each_golden_blob_carries_the_code_pinned_for_its_version(version: str) -> None:
    loaded = load(golden_provider(version))
    sources = sys.modules[type(loaded).__module__]._SERIALIZED_SOURCES
    digests = {
        name: hashlib.sha256(source.encode("utf-8")).hexdigest()
        for name, source in sorted(sources.items())
    }
    assert digests == SOURCE_SHA256[version], (
        f"tests/provider/golden/provider-v{version}.b64 must hold exactly the code pinned for "
        f"PROVIDER_VERSION {version!r} in tests/provider/test_provider_version.py"
    )


def test_every_released_version_has_a_golden_blob() -> None:
    assert sorted(GOLDEN_VERSIONS) == sorted(SOURCE_SHA256), (
        "add tests/provider/golden/provider-v<N>.b64 for every pinned PROVIDER_VERSION "
        "(see tests/provider/golden/README.md)"
    )


def test_serialization_is_deterministic() -> None:
    first = serialize_provider(ImageBuildProvider())
    assert serialize_provider(ImageBuildProvider()) == first, "no spurious __provider diffs"


def test_a_provider_loaded_from_state_serializes_to_the_same_code() -> None:
    original = serialize_provider(ImageBuildProvider())
    loaded = load(original)
    assert type(loaded).__module__ != ImageBuildProvider.__module__
    assert serialize_provider(loaded) == original, "re-serializing must keep the same sources"


def test_two_provider_versions_live_side_by_side_in_one_host() -> None:
    # The provider host caches providers by their serialized form: an old resource's
    # delete and a new resource's create may run in one process.
    loader, args = ImageBuildProvider().__reduce__()
    expression, namespace = args
    sources = dict(namespace["_sources"])
    old_line = f'PROVIDER_VERSION = "{image_build_provider.PROVIDER_VERSION}"'
    assert old_line in sources["provider"]
    sources["provider"] = sources["provider"].replace(old_line, 'PROVIDER_VERSION = "old"')
    old = loader(expression, {**namespace, "_sources": sources})
    new = load(serialize_provider(ImageBuildProvider()))
    assert type(old) is not type(new)
    assert sys.modules[type(old).__module__].PROVIDER_VERSION == "old"
    assert (
        sys.modules[type(new).__module__].PROVIDER_VERSION == image_build_provider.PROVIDER_VERSION
    )


def test_the_serialized_provider_carries_every_modules_source() -> None:
    blob = base64.b64decode(serialize_provider(ImageBuildProvider()))
    assert b"class ImageBuildProvider(ResourceProvider)" in blob
    assert b"class GitHubClient:" in blob
    assert b"class Registry:" in blob


def serialized_sources() -> dict[str, ast.Module]:
    """The module sources a serialized provider carries, parsed."""
    _loader, (_expression, namespace) = ImageBuildProvider().__reduce__()
    return {name: ast.parse(source) for name, source in namespace["_sources"].items()}


def test_the_serialized_code_imports_no_private_pulumi_module() -> None:
    # State outlives SDK upgrades: only the public pulumi.dynamic API may be relied on.
    for name, tree in serialized_sources().items():
        imported = {
            node.module or ""
            for node in ast.walk(tree)
            if isinstance(node, ast.ImportFrom) and node.level == 0
        } | {
            alias.name
            for node in ast.walk(tree)
            if isinstance(node, ast.Import)
            for alias in node.names
        }
        pulumi_modules = sorted(m for m in imported if m.split(".")[0] == "pulumi")
        assert all(m == "pulumi.dynamic" for m in pulumi_modules), (
            f"serialized module {name} imports {pulumi_modules}; only pulumi.dynamic is public"
        )


# Attributes of tenacity.RetryCallState that newer tenacity releases added or reshuffled.
UNSTABLE_RETRY_STATE_ATTRIBUTES = {
    "upcoming_sleep",
    "idle_for",
    "next_action",
    "outcome_timestamp",
    "retry_object",
}


@pytest.mark.parametrize("module", ["retry", "rest"])
def test_the_serialized_code_uses_only_tenacitys_public_names(module: str) -> None:
    client = serialized_sources()[module]
    used = {
        node.attr
        for node in ast.walk(client)
        if isinstance(node, ast.Attribute)
        and isinstance(node.value, ast.Name)
        and node.value.id == "tenacity"
    }
    private = sorted(used - set(tenacity.__all__))
    assert not private, f"{module} uses tenacity names outside tenacity.__all__: {private}"
    attributes = {node.attr for node in ast.walk(client) if isinstance(node, ast.Attribute)}
    unstable = attributes & UNSTABLE_RETRY_STATE_ATTRIBUTES
    assert not unstable, f"{module} reads RetryCallState internals {sorted(unstable)}"
