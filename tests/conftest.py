"""Suite-wide fixtures. Each area (config, program, github, ci) has its own conftest."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

REPO_ROOT = Path(__file__).resolve().parents[1]
SHARED_DIR = REPO_ROOT.parent / "shared"


def shared_path(relative: str) -> Path:
    """Path of a file under ../shared/, or skip the calling test naming the missing file.

    ../shared/ holds third-party reference data (GitHub's OpenAPI description,
    the Gateway API and CloudNativePG CRDs) that we do not copy into the project.
    It is present on the project's machines and in CI, not in a user's clone. The
    GitHub operations it lacks (issues, pull requests) come from the npm package
    @octokit/openapi instead, excerpted with its MIT notice in tests/github/openapi/.
    """
    path = SHARED_DIR / relative
    if not path.is_file():
        pytest.skip(f"needs ../shared/{relative}, which is not present in this checkout")
    return path


def crd_v1_schema(relative: str) -> dict[str, Any]:
    """The v1 openAPIV3Schema of the CRD at ../shared/`relative` (skips when absent)."""
    crd = yaml.safe_load(shared_path(relative).read_text())
    version = next(v for v in crd["spec"]["versions"] if v["name"] == "v1")
    return dict(version["schema"]["openAPIV3Schema"])
