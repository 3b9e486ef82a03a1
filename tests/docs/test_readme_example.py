"""The error the README shows is the one the program prints for that config."""

from __future__ import annotations

import json
import re

import pytest

from stack.config import ConfigError, parse_config
from tests.conftest import REPO_ROOT

README_EXAMPLE_CONFIG = {
    "github:owner": "acme",
    "tims-stack:build": json.dumps({"repository": "acme"}),
    "tims-stack:backend": json.dumps({"replicas": -1}),
}
"""A build-mode stack with a short repository, negative replicas and no token."""


def test_readme_shows_the_programs_own_error() -> None:
    readme = (REPO_ROOT / "README.md").read_text(encoding="utf-8")
    shown = re.search(r"^```\n(invalid configuration of stack .*?)^```", readme, re.M | re.S)
    assert shown, "README.md has no example error block"
    with pytest.raises(ConfigError) as caught:
        parse_config(README_EXAMPLE_CONFIG, stack="dev", env={})
    assert shown[1].rstrip("\n") == str(caught.value), "README.md's example error is stale"
