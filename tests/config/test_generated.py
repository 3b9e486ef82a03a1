"""Files generated from the config models never drift, and the JSON Schema judges stack files."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml
from pydantic import BaseModel
from pydantic.alias_generators import to_camel

from stack import generate
from stack.errors import model_in
from stack.settings import GitHubSettings, StackSettings
from stack.stackfile import PulumiYamlLoader

SECURE = {"secure": "v1:AAAA"}


def _models() -> list[type[BaseModel]]:
    """Every config model, at any depth (CnpgBackup is three objects down)."""
    found: list[type[BaseModel]] = [StackSettings, GitHubSettings]
    for model in found:  # grows while iterating: a breadth-first walk
        for field in model.model_fields.values():
            inner = model_in(field.annotation)
            if inner is not None and inner not in found:
                found.append(inner)
    return found


def _leaf_keys(prefix: str, model: type[BaseModel]) -> list[str]:
    """`tims-stack:postgres.cloudnativepg.backup.secret`: every field, at any depth."""
    keys = []
    for name, field in model.model_fields.items():
        key = prefix + (field.alias or name)
        keys.append(key)
        inner = model_in(field.annotation)
        if inner is not None:
            keys.extend(_leaf_keys(key + ".", inner))
    return keys


def test_models_walk_reaches_the_deepest_object() -> None:
    names = [model.__name__ for model in _models()]
    assert "CnpgBackup" in names, f"the model walk misses nested objects: {names}"


@pytest.mark.parametrize("path", generate.outputs(), ids=lambda p: p.name)
def test_committed_file_equals_fresh_output(path: Path) -> None:
    current = path.read_text(encoding="utf-8")
    assert generate.outputs()[path](current) == current, (
        f"{path.name} is stale: run `python -m stack.generate` and commit the result"
    )


def test_generator_check_mode_passes_on_the_committed_files() -> None:
    assert generate.main(["--check"]) == 0, "python -m stack.generate --check reports stale files"


def test_docs_table_sits_between_the_markers() -> None:
    text = generate.DOCS.read_text(encoding="utf-8")
    assert text.count(generate.BEGIN) == 1, "docs/config.md: the BEGIN marker is missing"
    assert text.count(generate.END) == 1, "docs/config.md: the END marker is missing"
    assert "| `tims-stack:backend.replicas` |" in text, "docs/config.md lacks object field rows"


def test_docs_table_has_a_row_for_every_field_at_every_depth() -> None:
    text = generate.DOCS.read_text(encoding="utf-8")
    keys = _leaf_keys("tims-stack:", StackSettings) + _leaf_keys("github:", GitHubSettings)
    missing = [key for key in keys if f"| `{key}` |" not in text]
    assert missing == [], f"docs/config.md has no row for {missing}"


@pytest.mark.parametrize("model", _models(), ids=lambda m: m.__name__)
def test_every_field_is_described(model: type[BaseModel]) -> None:
    missing = [name for name, f in model.model_fields.items() if not f.description]
    assert missing == [], f"{model.__name__}: fields without Field(description=...): {missing}"


UPSTREAM_SPELLING = {("CnpgBackup", "endpoint_url"): "endpointURL"}
"""Fields passed through to another API keep its spelling (CloudNativePG's barmanObjectStore)."""


@pytest.mark.parametrize("model", _models(), ids=lambda m: m.__name__)
def test_stack_file_names_are_camel_case(model: type[BaseModel]) -> None:
    wrong = {
        name: f.alias
        for name, f in model.model_fields.items()
        if (f.alias or name) != UPSTREAM_SPELLING.get((model.__name__, name), to_camel(name))
    }
    assert wrong == {}, f"{model.__name__}: alias differs from the camelCase name: {wrong}"


# ------------------------------------------------------------------ the JSON Schema


@pytest.fixture(scope="module")
def validator() -> jsonschema.Draft7Validator:
    schema = json.loads(generate.SCHEMA.read_text(encoding="utf-8"))
    jsonschema.Draft7Validator.check_schema(schema)
    return jsonschema.Draft7Validator(schema)


def _errors(validator: jsonschema.Draft7Validator, config: dict[str, Any]) -> list[str]:
    return [error.message for error in validator.iter_errors({"config": config})]


def test_example_stack_file_is_valid(
    validator: jsonschema.Draft7Validator, repo_file: Callable[[str], Path]
) -> None:
    text = repo_file("Pulumi.example.yaml").read_text(encoding="utf-8")
    document = yaml.load(text, Loader=PulumiYamlLoader)  # noqa: S506 - a SafeLoader subclass
    errors = [e.message for e in validator.iter_errors(document)]
    assert errors == [], f"Pulumi.example.yaml does not match the schema: {errors}"
    assert text.startswith("# yaml-language-server: $schema=./schema/stack-config.schema.json")


ACCEPTED: dict[str, dict[str, Any]] = {
    "secure-token": {"github:token": SECURE},
    "secure-postgres-password": {"tims-stack:postgresPassword": SECURE},
    "secure-redis-url": {"tims-stack:redisUrl": SECURE, "tims-stack:redis": {"mode": "external"}},
    "secure-backend": {"tims-stack:backend": SECURE},
    "secure-env-value": {"tims-stack:frontend": {"env": {"API_KEY": SECURE}}},
    "boolean-as-cli-string": {"tims-stack:stopped": "true", "tims-stack:tls": ""},
    "quantity-number": {"tims-stack:backend": {"resources": {"limits": {"cpu": 1}}}},
    "other-namespace": {"kubernetes:context": "kind", "github:app": "x"},
    # `pulumi config set tims-stack:images '{...}'` (as the README says) stores a string.
    "object-as-json-text": {"tims-stack:images": '{"source": "prebuilt", "tag": "v1"}'},
}


@pytest.mark.parametrize("config", ACCEPTED.values(), ids=ACCEPTED.keys())
def test_schema_accepts(validator: jsonschema.Draft7Validator, config: dict[str, Any]) -> None:
    assert _errors(validator, config) == [], f"refused: {config}"


REFUSED: dict[str, dict[str, Any]] = {
    "plain-token": {"github:token": "ghp_plain"},
    "plain-postgres-password": {"tims-stack:postgresPassword": "hunter2"},
    "plain-redis-url": {"tims-stack:redisUrl": "rediss://:hunter2@cache.example.net"},
    "bad-redis-mode": {"tims-stack:redis": {"mode": "managed"}},
    "unknown-key": {"tims-stack:colour": "blue"},
    "unknown-field": {"tims-stack:build": {"repo": "a/b"}},
    "secure-domain": {"tims-stack:domain": SECURE},
    "secure-build-field": {"tims-stack:build": {"repository": SECURE}},
    "negative-replicas": {"tims-stack:backend": {"replicas": -1}},
    "bad-kind": {"tims-stack:routing": {"kind": "nginx"}},
    "stopped-word": {"tims-stack:stopped": "yes"},
    "object-as-plain-word": {"tims-stack:images": "prebuilt"},
}


@pytest.mark.parametrize("config", REFUSED.values(), ids=REFUSED.keys())
def test_schema_refuses(validator: jsonschema.Draft7Validator, config: dict[str, Any]) -> None:
    assert _errors(validator, config), f"accepted: {config}"


@pytest.mark.parametrize(
    ("key", "shown"),
    [
        ("tims-stack:backend.resources", '"memory": "512Mi"'),
        ("tims-stack:backend.resources.limits", '"memory": "1Gi"'),
        ("tims-stack:postgres.resources", "cloudnativepg"),
    ],
)
def test_reference_shows_the_resources_defaults_applied(key: str, shown: str) -> None:
    (row,) = [
        line for line in generate.docs_table().splitlines() if line.startswith(f"| `{key}` |")
    ]
    assert shown in row, f"{key}: the default applied is not shown: {row}"
