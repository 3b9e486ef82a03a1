"""Suite-wide fixtures. Each area (config, program, github, ci) has its own conftest."""

from __future__ import annotations

from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[1]
SHARED_DIR = REPO_ROOT.parent / "shared"


def shared_path(relative: str) -> Path:
    """Path of a file under ../shared/, or skip the calling test naming the missing file.

    ../shared/ holds third-party reference data (GitHub's OpenAPI description,
    the Gateway API CRD) that we may not copy into the project. It is present on
    the project's machines and in CI, not in a user's clone.
    """
    path = SHARED_DIR / relative
    if not path.is_file():
        pytest.skip(f"needs ../shared/{relative}, which is not present in this checkout")
    return path
