"""components/ stays grouped: a group reaches another only through kube/ or contracts.py."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

COMPONENTS = Path(__file__).resolve().parents[2] / "components"
GROUPS = ("app", "data", "network", "images", "kube")
SHARED = {"kube", "contracts"}
"""What every group may import: the Kubernetes building blocks and the seam types."""


def _component_imports(path: Path) -> set[str]:
    """The `components.<first part>` names a module imports."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            parts = node.module.split(".")
            if parts[0] == "components":
                found.add(parts[1] if len(parts) > 1 else node.names[0].name)
    return found


@pytest.mark.parametrize("group", GROUPS)
def test_group_imports_only_itself_kube_and_contracts(group: str) -> None:
    allowed = {group} | SHARED
    for path in sorted((COMPONENTS / group).rglob("*.py")):
        stray = _component_imports(path) - allowed
        assert not stray, (
            f"{path.relative_to(COMPONENTS.parent)} imports components.{sorted(stray)}: "
            "put what two groups share in components/contracts.py or components/kube/"
        )


def test_kube_depends_on_no_group() -> None:
    for path in sorted((COMPONENTS / "kube").rglob("*.py")):
        assert _component_imports(path) <= {"kube"}, (
            f"{path.relative_to(COMPONENTS.parent)} imports a group: kube/ is what groups build on"
        )


def test_no_loose_modules_at_the_top_of_components() -> None:
    loose = sorted(p.name for p in COMPONENTS.glob("*.py"))
    assert loose == ["__init__.py", "contracts.py"], f"components/ has loose modules: {loose}"
