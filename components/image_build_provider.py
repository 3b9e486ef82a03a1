"""PLACEHOLDER until the ImageBuild provider lands: it refuses to build.

Replaced wholesale by the provider implementation. Never shipped as is.
"""

from __future__ import annotations

from typing import Any

import pulumi.dynamic

PROVIDER_VERSION = "0"


class ImageBuildProvider(pulumi.dynamic.ResourceProvider):
    def create(self, props: dict[str, Any]) -> pulumi.dynamic.CreateResult:
        raise NotImplementedError("the ImageBuild provider is not implemented yet")
