"""PROVIDER_VERSION moves with the code that `pulumi destroy` will run from state."""

from __future__ import annotations

import hashlib

from components.image_build_provider import PROVIDER_VERSION, ImageBuildProvider

# sha256 of each module source a serialized provider carries, per PROVIDER_VERSION.
# Existing stacks hold the code of the version they were created with; only a new version
# rolls a change out to them (as an in-place update). Keep the pins of older versions.
SOURCE_SHA256: dict[str, dict[str, str]] = {
    "1": {
        "github_client": "f49c1f7f153c2dc23c9f935245118a913e2ffbb892990a7e2c85b0b06582c118",
        "image_build_provider": "4984715a29942c361ec922194a49999d925613d22d517515c4e27bcf1938c042",
    },
    # 2: error messages name the real config keys (build.timeout, images.backend/frontend).
    "2": {
        "github_client": "f49c1f7f153c2dc23c9f935245118a913e2ffbb892990a7e2c85b0b06582c118",
        "image_build_provider": "7d9d097b645fcff3797efe328ea61e9f7fc23b1fd89069d50ab7f30e1c468397",
    },
}


def serialized_source_digests() -> dict[str, str]:
    _loader, (_expression, namespace) = ImageBuildProvider().__reduce__()
    return {
        name: hashlib.sha256(source.encode("utf-8")).hexdigest()
        for name, source in sorted(namespace["_sources"].items())
    }


def test_provider_version_changes_whenever_the_serialized_code_changes() -> None:
    actual = serialized_source_digests()
    pinned = SOURCE_SHA256.get(PROVIDER_VERSION)
    assert pinned == actual, (
        f"components/image_build_provider.py or components/github_client.py differ from the "
        f"code pinned for PROVIDER_VERSION {PROVIDER_VERSION!r}. Stacks created with that "
        "version keep running its code (destroy uses the provider in state), so a change "
        "needs a new version: bump PROVIDER_VERSION in components/image_build_provider.py, "
        f"then add SOURCE_SHA256[<new version>] = {actual!r} in "
        "tests/provider/test_provider_version.py (keep the older pins)."
    )
