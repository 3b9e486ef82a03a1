"""Pulumi.yaml's config block and Pulumi.example.yaml agree with the config code.

The rules checked for Pulumi.yaml are the Pulumi CLI's (pulumi/pulumi
sdk/go/common/workspace/project.json and project.go `Validate`, and
`mergeConfig` in config.go): a declared `type` is string, integer, boolean or
array; a typed default must have that type; a project key without default is
required by the CLI; keys of other namespaces may carry only a `value`.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml

from stack.config import GITHUB_KEYS, TOP_LEVEL_KEYS, parse_config
from stack.stackfile import PulumiYamlLoader, raw_config_for_stack, raw_config_from_project_file
from tests.config.conftest import FAKE_TOKEN, PREBUILT, ParseFn, WriteFn, raw_config

DECLARATION_FIELDS = {"type", "description", "default", "value", "secret", "items"}
PULUMI_TYPES = {"string": str, "integer": int, "boolean": bool}


@pytest.fixture
def project(repo_file: Callable[[str], Path]) -> dict[str, Any]:
    document = yaml.safe_load(repo_file("Pulumi.yaml").read_text(encoding="utf-8"))
    assert isinstance(document, dict), "Pulumi.yaml is not a mapping"
    return document


@pytest.fixture
def declarations(project: dict[str, Any]) -> dict[str, dict[str, Any]]:
    config = project.get("config")
    assert isinstance(config, dict), "Pulumi.yaml has no config block"
    return config


def test_project_name_and_runtime_are_kept(project: dict[str, Any]) -> None:
    assert project["name"] == "tims-stack", "project name"
    assert project["runtime"]["name"] == "python", "runtime"
    assert project["runtime"]["options"]["virtualenv"] == "venv", "virtualenv option"


def test_every_contract_key_is_declared(declarations: dict[str, Any]) -> None:
    assert set(declarations) == set(TOP_LEVEL_KEYS), "declared keys differ from the contract"


@pytest.mark.parametrize("key", TOP_LEVEL_KEYS)
def test_declaration_follows_pulumis_project_schema(declarations: dict[str, Any], key: str) -> None:
    declaration = declarations[key]
    assert isinstance(declaration, dict), f"{key}: not a declaration object"
    assert set(declaration) <= DECLARATION_FIELDS, f"{key}: unknown fields {set(declaration)}"
    assert declaration.get("description"), f"{key}: no description"
    assert "default" in declaration, f"{key}: no default, so the Pulumi CLI would require it"
    assert "value" not in declaration, f"{key}: a fixed value would override every stack"
    if "type" in declaration:
        expected = PULUMI_TYPES.get(declaration["type"])
        assert expected is not None, f"{key}: type {declaration['type']!r} is not a Pulumi type"
        assert type(declaration["default"]) is expected, f"{key}: default does not match its type"


def test_github_keys_are_documented_in_comments(repo_file: Callable[[str], Path]) -> None:
    """Keys of another namespace cannot be declared with a type or default (see module doc)."""
    text = repo_file("Pulumi.yaml").read_text(encoding="utf-8")
    comments = "\n".join(line for line in text.splitlines() if line.lstrip().startswith("#"))
    for name in GITHUB_KEYS:
        assert f"github:{name}" in comments, f"github:{name} is not documented in Pulumi.yaml"
    assert "--secret github:token" in comments, "how to set the token is not documented"


def test_declared_defaults_agree_with_parse_config(
    repo_file: Callable[[str], Path], parse: ParseFn
) -> None:
    """The CLI injects Pulumi.yaml's defaults; the result must equal parse_config's own defaults."""
    injected = raw_config_from_project_file(repo_file("Pulumi.yaml")).values
    minimal = raw_config(PREBUILT)
    with_defaults = parse_config({**injected, **minimal}, stack="dev", env={})
    without = parse_config(minimal, stack="dev", env={})
    assert with_defaults == without, "Pulumi.yaml defaults differ from parse_config's defaults"


@pytest.mark.parametrize("key", TOP_LEVEL_KEYS)
def test_each_declared_default_changes_nothing(repo_file: Callable[[str], Path], key: str) -> None:
    """Per key, so a disagreement names the key; explicit values still win over it."""
    injected = raw_config_from_project_file(repo_file("Pulumi.yaml")).values
    minimal = raw_config(PREBUILT)
    default = {f"tims-stack:{key}": injected[f"tims-stack:{key}"]}
    with_default = parse_config({**default, **minimal}, stack="dev", env={})
    assert with_default == parse_config(minimal, stack="dev", env={}), f"default of {key} differs"


def test_example_stack_parses_cleanly(repo_file: Callable[[str], Path]) -> None:
    raw = raw_config_for_stack(repo_file("Pulumi.example.yaml"), repo_file("Pulumi.yaml"))
    notes: list[str] = []
    config = parse_config(
        raw.values,
        stack="dev",
        env={"GITHUB_TOKEN": FAKE_TOKEN},
        secret_keys=raw.secret_keys,
        warn=notes.append,
    )
    assert notes == [], f"the example config draws warnings: {notes}"
    assert config.images.source == "build", "the example shows build mode"
    assert config.domain is not None, "the example shows a domain"
    assert config.routing.kind == "ingress", "the example shows an Ingress"


def test_example_shows_every_key(repo_file: Callable[[str], Path]) -> None:
    text = repo_file("Pulumi.example.yaml").read_text(encoding="utf-8")
    keys = [f"tims-stack:{key}" for key in TOP_LEVEL_KEYS] + [
        f"github:{key}" for key in GITHUB_KEYS
    ]
    missing = [key for key in keys if not re.search(rf"^\s*#?\s*{re.escape(key)}:", text, re.M)]
    assert missing == [], f"Pulumi.example.yaml does not show {missing}"


def test_example_holds_no_secret(repo_file: Callable[[str], Path]) -> None:
    text = repo_file("Pulumi.example.yaml").read_text(encoding="utf-8")
    raw = raw_config_for_stack(repo_file("Pulumi.example.yaml"))
    assert "github:token" not in raw.values, "the example sets github:token"
    assert raw.secret_keys == frozenset(), "the example holds encrypted values"
    assert not re.search(r"gh[pousr]_[A-Za-z0-9]{20,}|github_pat_", text), "token-like string"
    assert "pulumi config set --secret github:token" in text, "how to set the token is missing"


def _commented_snippets(text: str) -> list[dict[str, Any]]:
    """The commented-out YAML of the example's production block, one mapping per snippet.

    Those lines are `  #   <yaml>` (three spaces after '#'); prose comments
    have one, and a prose or empty comment line ends a snippet.
    """
    block = text[text.index("# Production profile") : text.index("# Official redis")]
    snippets: list[list[str]] = [[]]
    for line in block.splitlines():
        match = re.match(r"^  #   (\S.*|\s+\S.*)$", line)
        if match:
            snippets[-1].append(match[1])
        elif snippets[-1]:
            snippets.append([])
    parsed = [yaml.load("\n".join(s), Loader=PulumiYamlLoader) for s in snippets if s]  # noqa: S506 - a SafeLoader subclass
    return [p for p in parsed if isinstance(p, dict)]


def _uncommented_examples(repo_file: Callable[[str], Path]) -> dict[str, dict[str, Any]]:
    """Pulumi.example.yaml with its production profile uncommented, once per Postgres mode
    and once with the managed Redis ("redis-external")."""
    text = repo_file("Pulumi.example.yaml").read_text(encoding="utf-8")
    scaling, *stores = _commented_snippets(text)
    variants = {}
    for store in stores:
        document = yaml.load(text, Loader=PulumiYamlLoader)  # noqa: S506 - a SafeLoader subclass
        document["config"].update({**scaling, **store})
        if "tims-stack:postgres" in store:
            variants[store["tims-stack:postgres"]["mode"]] = document
        else:
            variants["redis-" + store["tims-stack:redis"]["mode"]] = document
    return variants


def test_example_comments_hold_the_production_snippets(repo_file: Callable[[str], Path]) -> None:
    variants = _uncommented_examples(repo_file)
    expected = {"cloudnativepg", "external", "redis-external"}
    assert set(variants) == expected, f"snippets found: {sorted(variants)}"


@pytest.mark.parametrize("mode", ["cloudnativepg", "external", "redis-external"])
def test_uncommented_production_example_is_valid(
    repo_file: Callable[[str], Path], write: WriteFn, mode: str
) -> None:
    """Uncommenting the example's production profile gives a stack file the schema and the
    program both accept (what a user copying it would do)."""
    document = _uncommented_examples(repo_file)[mode]
    schema = json.loads(repo_file("schema/stack-config.schema.json").read_text(encoding="utf-8"))
    errors = [e.message for e in jsonschema.Draft7Validator(schema).iter_errors(document)]
    assert errors == [], f"uncommented {mode} example does not match the schema: {errors}"
    raw = raw_config_for_stack(write(yaml.safe_dump(document)), repo_file("Pulumi.yaml"))
    config = parse_config(
        raw.values, stack="prod", env={"GITHUB_TOKEN": FAKE_TOKEN}, secret_keys=raw.secret_keys
    )
    modes = (config.postgres.mode, f"redis-{config.redis.mode}")
    assert mode in modes, f"uncommented {mode} example: modes {modes}"
    assert config.backend.autoscaling is not None, f"uncommented {mode} example: no autoscaling"
