"""The PR stack file: environment and build ref set, the rest of the base kept."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from scripts.pr_stack_config import StackConfigError, main, write_pr_stack_config
from stack.config import parse_config
from stack.stackfile import raw_config_for_stack
from tests.conftest import REPO_ROOT

BASE = """\
encryptionsalt: v1:abc:def
config:
  tims-stack:domain: example.com
  tims-stack:stopped: no
  tims-stack:build:
    repository: acme/app
    ref: main
    timeout: 900
  github:token:
    secure: v1:AAAA
"""


@pytest.fixture
def base_file(tmp_path: Path) -> Path:
    path = tmp_path / "Pulumi.base.yaml"
    path.write_text(BASE, encoding="utf-8")
    return path


def written(path: Path) -> dict[str, Any]:
    document = yaml.safe_load(path.read_text(encoding="utf-8"))
    assert isinstance(document, dict), f"{path.name} does not hold a mapping"
    return document


def test_environment_and_build_ref_are_set(base_file: Path, tmp_path: Path) -> None:
    out = write_pr_stack_config(base_file, "pr-12", "feature/login", tmp_path)
    config = written(out)["config"]
    assert out.name == "Pulumi.pr-12.yaml"
    assert config["tims-stack:environment"] == "pr-12"
    assert config["tims-stack:build"]["ref"] == "feature/login"


def test_rest_of_the_base_is_kept(base_file: Path, tmp_path: Path) -> None:
    document = written(write_pr_stack_config(base_file, "pr-12", "feat", tmp_path))
    assert document["encryptionsalt"] == "v1:abc:def"
    assert document["config"]["github:token"] == {"secure": "v1:AAAA"}
    assert document["config"]["tims-stack:build"]["repository"] == "acme/app"
    assert document["config"]["tims-stack:build"]["timeout"] == 900


def test_yaml_1_1_booleans_stay_strings(base_file: Path, tmp_path: Path) -> None:
    # Pulumi (yaml.v3) reads `no` as a string; a YAML 1.1 round trip would write `false`.
    out = write_pr_stack_config(base_file, "pr-12", "feat", tmp_path)
    assert "tims-stack:stopped: 'no'" in out.read_text(encoding="utf-8")


def test_existing_stack_file_is_updated_instead_of_replaced(
    base_file: Path, tmp_path: Path
) -> None:
    own = tmp_path / "Pulumi.pr-12.yaml"
    own.write_text("config:\n  tims-stack:domain: own.example.org\n", encoding="utf-8")
    write_pr_stack_config(base_file, "pr-12", "feat", tmp_path)
    assert written(own)["config"]["tims-stack:domain"] == "own.example.org"


@pytest.mark.parametrize("key", ["tims-stack:namespace", "tims-stack:host"])
def test_shared_base_may_not_pin_namespace_or_host(tmp_path: Path, key: str) -> None:
    base = tmp_path / "Pulumi.base.yaml"
    base.write_text(f"config:\n  {key}: shared\n", encoding="utf-8")
    with pytest.raises(StackConfigError, match=f"sets {key}"):
        write_pr_stack_config(base, "pr-1", "feat", tmp_path)
    assert not (tmp_path / "Pulumi.pr-1.yaml").exists()


def test_own_pr_stack_file_may_pin_its_namespace(base_file: Path, tmp_path: Path) -> None:
    own = tmp_path / "Pulumi.pr-1.yaml"
    own.write_text("config:\n  tims-stack:namespace: mine\n", encoding="utf-8")
    write_pr_stack_config(base_file, "pr-1", "feat", tmp_path)
    assert written(own)["config"]["tims-stack:namespace"] == "mine"


def test_missing_base_file_names_the_repository_variable(tmp_path: Path) -> None:
    with pytest.raises(StackConfigError, match="PR_BASE_CONFIG"):
        write_pr_stack_config(tmp_path / "nope.yaml", "pr-1", "feat", tmp_path)


@pytest.mark.parametrize(
    "ref",
    ["", "has space", "-rf", "a..b", "x~1", "br.lock", "5d0c4a9f2e8b7c6d1a3f4e5b6c7d8e9f0a1b2c3d"],
)
def test_invalid_build_ref_is_refused(base_file: Path, tmp_path: Path, ref: str) -> None:
    # The program's own build.ref rule: the message says what is allowed.
    with pytest.raises(StackConfigError, match="expected a branch name"):
        write_pr_stack_config(base_file, "pr-1", ref, tmp_path)


def test_invalid_environment_is_refused(base_file: Path, tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="RFC 1123"):
        write_pr_stack_config(base_file, "PR_1", "feat", tmp_path)


def test_cli_with_empty_base_names_the_repository_variable(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code = main(["--base", "", "--environment", "pr-1", "--build-ref", "x", "--dir", str(tmp_path)])
    assert code == 2
    assert "PR_BASE_CONFIG" in capsys.readouterr().err


def test_example_config_becomes_a_valid_pr_stack(tmp_path: Path) -> None:
    """The config contract accepts what the workflow writes from Pulumi.example.yaml."""
    out = write_pr_stack_config(REPO_ROOT / "Pulumi.example.yaml", "pr-12", "feat/x", tmp_path)
    raw = raw_config_for_stack(out, REPO_ROOT / "Pulumi.yaml")
    config = parse_config(
        raw.values, stack="pr-12", env={"GITHUB_TOKEN": "t"}, secret_keys=raw.secret_keys
    )
    assert config.environment == "pr-12"
    assert config.build.ref == "feat/x"
    assert config.namespace == "tims-stack-pr-12"
