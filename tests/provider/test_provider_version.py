"""PROVIDER_VERSION moves with the code that `pulumi destroy` will run from state."""

from __future__ import annotations

import hashlib

from components.images.imagebuild.provider import PROVIDER_VERSION, ImageBuildProvider

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
    # 3: components/images/imagebuild/ package (split modules); ownership by recorded digests;
    # registry manifest checks; GHES 422; GitHub's clock; deadlines on every call.
    "3": {
        "actions": "e183bbfebaf53cad00105a612c565708177841782f48d19a219a3fd5e95826fd",
        "base": "fb6c5bccd56d1b381d94632ca182503c9b4d9eb23d62d6b7bead51a3da28a137",
        "images": "78f590983ee483255fd55febc8f728b27984cdd480bf865a3f800efee01b0e65",
        "packages": "35d59b7ad5d6054b32ac122d02dfb533f7aa05d270ca285d040cadb8bcf7f810",
        "provider": "92a5af16d603d4cf00c28452d84e83e3409a3ef527af91342d40d229c95dea80",
        "registry": "8e83cfbb77bcac9de0b3b66c3ab25dbf8f9451cd3210580a24cf031ddafb293e",
        "rest": "524a834b0823cc6f8fbbd19a8259b20a4c6040409ca6389f72045b40b1eb8fef",
        "retry": "5c63a078f24ca00948d3fb9ef5e5262a1c4e2fecc1169c712621cb021630436b",
        "run_errors": "b5cb22ca70dd4b44bc3135a27858e23aa87b6f7499dee21c5af58b85c28466ba",
        "runs": "37443f913cdb419faf817ec50c2762559ee021e71b517a8396ea16bc0cd490b6",
        "shipping": "1224fd7bdf7192503529849332ff907afc66e11df704502d24c160e20fdc177e",
        "spec": "32741396a99499c669b6369ae6a42fd53890f0eaa8a828c9397d9d14c74769db",
    },
    # 4: registry pull tokens renewed when they expire; every image's digest looked up before
    # a build; a rebuild pushing again the running digest fails; provider 1/2 state keeping
    # the tag is deleted first; HTTP dates without a zone are GMT; recording what a successful
    # run pushed gets a grace budget past the deadline; images a build could not read are
    # named (unreadImages) and kept on destroy with a warning.
    "4": {
        "actions": "e183bbfebaf53cad00105a612c565708177841782f48d19a219a3fd5e95826fd",
        "base": "fb6c5bccd56d1b381d94632ca182503c9b4d9eb23d62d6b7bead51a3da28a137",
        "images": "c120f51c0fd4315c5b0852ece715bf93e051c58538c620c1ae5c83cfafcf18e3",
        "packages": "06a05888cc606e44c05fc47fc36606663f3779df2b3529b3f2e7e8ad93bb06a7",
        "provider": "efcbe05794717522e9ce3b15d6f21379b8880c0e674179d04664afa9e8e46bed",
        "registry": "128820db1de23d559ab6546736708aefe7fbe3040815f5a6677eb98b7d2eddf0",
        "rest": "524a834b0823cc6f8fbbd19a8259b20a4c6040409ca6389f72045b40b1eb8fef",
        "retry": "f24ab7b257aea3d248d60af2088ce5fb433fbc8beb9133d54cf714fbf02955e4",
        "run_errors": "b5cb22ca70dd4b44bc3135a27858e23aa87b6f7499dee21c5af58b85c28466ba",
        "runs": "37443f913cdb419faf817ec50c2762559ee021e71b517a8396ea16bc0cd490b6",
        "shipping": "1224fd7bdf7192503529849332ff907afc66e11df704502d24c160e20fdc177e",
        "spec": "1b713b27e710b30ed6f3dad65e6be6c7a4c4c6ecb96e6da93fd5e3153a5c34da",
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
        f"the modules of components/images/imagebuild/ differ from the "
        f"code pinned for PROVIDER_VERSION {PROVIDER_VERSION!r}. Stacks created with that "
        "version keep running its code (destroy uses the provider in state), so a change "
        "needs a new version: bump PROVIDER_VERSION in components/images/imagebuild/provider.py, "
        f"then add SOURCE_SHA256[<new version>] = {actual!r} in "
        "tests/provider/test_provider_version.py (keep the older pins), and its golden blob "
        "(tests/provider/golden/README.md)."
    )
