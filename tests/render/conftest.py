"""Fixtures for the offline render tests: the example config rendered once per session."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from scripts.render import RenderResult, render
from stack.stackfile import raw_config_for_stack
from tests.conftest import REPO_ROOT, crd_v1_schema

EXAMPLE = REPO_ROOT / "Pulumi.example.yaml"
PROJECT = REPO_ROOT / "Pulumi.yaml"
ENV = "dev"


@pytest.fixture(scope="session")
def example_render(tmp_path_factory: pytest.TempPathFactory) -> RenderResult:
    """The example stack file rendered for environment `dev`."""
    return render(ENV, EXAMPLE, tmp_path_factory.mktemp("manifests") / ENV)


@pytest.fixture(scope="session")
def gateway_stack_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The example config switched to Gateway API routing."""
    document: dict[str, Any] = yaml.safe_load(EXAMPLE.read_text())
    document["config"]["tims-stack:routing"] = {
        "kind": "gateway",
        "gateway": "shared-gateway",
        "gatewayNamespace": "gateway-system",
        "sectionName": "https",
    }
    path = tmp_path_factory.mktemp("stack") / "Pulumi.gw.yaml"
    path.write_text(yaml.safe_dump(document))
    return path


@pytest.fixture(scope="session")
def gateway_render(
    tmp_path_factory: pytest.TempPathFactory, gateway_stack_file: Path
) -> RenderResult:
    return render(ENV, gateway_stack_file, tmp_path_factory.mktemp("manifests-gw") / ENV)


@pytest.fixture
def example_raw_config() -> dict[str, str]:
    return dict(raw_config_for_stack(EXAMPLE, PROJECT).values)


@pytest.fixture(scope="session")
def httproute_crd_schema() -> dict[str, Any]:
    """The v1 HTTPRoute schema from ../shared (skips when absent)."""
    return crd_v1_schema("gateway-api/httproutes.v1.6.1.crd.yaml")
