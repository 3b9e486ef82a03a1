"""load_config against the Pulumi runtime (under mocks): config read once, token kept secret."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pulumi
import pytest
import yaml

from stack.config import ConfigError, load_config, runtime_config, runtime_string
from stack.stackfile import raw_config_from_stack_file
from tests.config.conftest import FAKE_TOKEN


def _resolve(
    loop: asyncio.AbstractEventLoop, output: pulumi.Output[str]
) -> tuple[str | None, bool]:
    async def both() -> tuple[str | None, bool]:
        return await output.future(), await output.is_secret()

    return loop.run_until_complete(both())


def test_reads_project_and_github_config(mocked_runtime: asyncio.AbstractEventLoop) -> None:
    pulumi.runtime.set_all_config(
        {
            "tims-stack:domain": "example.com",
            "tims-stack:backend": json.dumps({"replicas": 3}),
            "tims-stack:images": json.dumps({"tag": "v9"}),
            "github:owner": "acme",
        },
        [],
    )
    config, secrets = load_config()
    assert (config.environment, config.host, config.backend.replicas) == (
        "dev",
        "backend-dev.example.com",
        3,
    ), "values read from the runtime config (stack name 'dev' from set_mocks)"
    assert config.images.backend == "ghcr.io/acme/tims-stack-backend-image-prod", "github:owner"
    assert secrets.github_token is None, "no token configured"


def test_config_token_comes_back_as_a_secret_output(
    mocked_runtime: asyncio.AbstractEventLoop,
) -> None:
    pulumi.runtime.set_all_config(
        {"tims-stack:build": json.dumps({"repository": "acme/app"}), "github:token": FAKE_TOKEN},
        ["github:token"],
    )
    config, secrets = load_config()
    assert config.github.has_token, "github:token counted as present"
    assert secrets.github_token is not None, "no token Output"
    value, is_secret = _resolve(mocked_runtime, secrets.github_token)
    assert value == FAKE_TOKEN, "token Output resolves to github:token"
    assert is_secret, "token Output is not marked secret"


def test_environment_token_comes_back_as_a_secret_output(
    mocked_runtime: asyncio.AbstractEventLoop, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("GITHUB_TOKEN", FAKE_TOKEN)
    pulumi.runtime.set_all_config({"tims-stack:build": json.dumps({"repository": "acme/app"})}, [])
    config, secrets = load_config()
    assert config.github.has_token, "GITHUB_TOKEN counted as present"
    assert secrets.github_token is not None, "no token Output from GITHUB_TOKEN"
    value, is_secret = _resolve(mocked_runtime, secrets.github_token)
    assert (value, is_secret) == (FAKE_TOKEN, True), "GITHUB_TOKEN wrapped in a secret Output"


def test_plain_config_token_is_rejected(mocked_runtime: asyncio.AbstractEventLoop) -> None:
    pulumi.runtime.set_all_config(
        {"tims-stack:build": json.dumps({"repository": "acme/app"}), "github:token": FAKE_TOKEN}, []
    )
    with pytest.raises(ConfigError, match="--secret") as caught:
        load_config()
    assert FAKE_TOKEN not in str(caught.value), "plain token echoed by load_config's error"


def test_reads_config_the_engine_passes_in_the_environment(
    mocked_runtime: asyncio.AbstractEventLoop, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The Pulumi engine hands a program its config as PULUMI_CONFIG (JSON) and the secret keys."""
    engine_config = {
        "tims-stack:stopped": "true",
        "tims-stack:images": json.dumps({"tag": "v1"}),
        "github:owner": "acme",
        "github:token": FAKE_TOKEN,
    }
    monkeypatch.setenv("PULUMI_CONFIG", json.dumps(engine_config))
    monkeypatch.setenv("PULUMI_CONFIG_SECRET_KEYS", json.dumps(["github:token"]))
    config, secrets = load_config()
    assert config.stopped is True, "tims-stack:stopped from PULUMI_CONFIG"
    assert secrets.github_token is not None, "github:token from PULUMI_CONFIG"


def test_python_values_set_by_tests_are_accepted(mocked_runtime: asyncio.AbstractEventLoop) -> None:
    """set_config may hold non-strings; they are read as Pulumi would serialise them."""
    pulumi.runtime.set_config("tims-stack:stopped", True)
    pulumi.runtime.set_config("tims-stack:images", {"tag": "v1"})
    pulumi.runtime.set_config("github:owner", "acme")
    config, _ = load_config()
    assert (config.stopped, config.images.tag) == (True, "v1"), "values from set_config"


def test_invalid_config_raises_before_anything_else(
    mocked_runtime: asyncio.AbstractEventLoop,
) -> None:
    pulumi.runtime.set_all_config({"tims-stack:backend": json.dumps({"replicas": -1})}, [])
    with pytest.raises(ConfigError) as caught:
        load_config()
    assert "tims-stack:backend.replicas" in [issue.key for issue in caught.value.issues]


def test_unrelated_namespaces_are_ignored(mocked_runtime: asyncio.AbstractEventLoop) -> None:
    pulumi.runtime.set_all_config(
        {
            "kubernetes:context": "kind-dev",
            "tims-stack:images": json.dumps({"tag": "v1"}),
            "github:owner": "acme",
        },
        [],
    )
    config, _ = load_config()
    assert config.images.tag == "v1", "kubernetes:context did not disturb loading"


GO_JSON_OBJECT = {"z": [1.0, "<&>"], "a": "é"}
"""An object whose JSON differs between Python's defaults and Go's json.Marshal."""
GO_JSON_TEXT = '{"a":"é","z":[1,"\\u003c\\u0026\\u003e"]}'
"""What the Pulumi CLI writes for it into PULUMI_CONFIG: sorted, compact, HTML-escaped."""


def test_runtime_string_writes_objects_as_the_pulumi_cli_does() -> None:
    assert runtime_string(GO_JSON_OBJECT) == GO_JSON_TEXT, "object config value as Go JSON"


def test_runtime_config_and_stack_files_hold_the_same_text(
    mocked_runtime: asyncio.AbstractEventLoop, tmp_path: Path
) -> None:
    pulumi.runtime.set_config("tims-stack:backend", GO_JSON_OBJECT)
    stack_file = tmp_path / "Pulumi.dev.yaml"
    stack_file.write_text(
        yaml.safe_dump({"config": {"tims-stack:backend": GO_JSON_OBJECT}}, allow_unicode=True),
        encoding="utf-8",
    )
    from_runtime = runtime_config()[0]["tims-stack:backend"]
    from_file = raw_config_from_stack_file(stack_file).values["tims-stack:backend"]
    assert from_runtime == from_file == GO_JSON_TEXT, "tims-stack:backend: runtime vs stack file"


def test_program_refuses_keys_of_a_namespace_nothing_reads(
    mocked_runtime: asyncio.AbstractEventLoop,
) -> None:
    """The engine hands the program every key of the stack, decrypted (pulumi
    pkg/resource/deploy/source_eval.go, evalSource.Iterate), as set_all_config does here."""
    pulumi.runtime.set_all_config(
        {
            "tims-stack:images": json.dumps({"tag": "v9"}),
            "github:owner": "acme",
            "timsstack:domain": "example.com",
        },
        [],
    )
    with pytest.raises(ConfigError, match="timsstack:domain: unknown namespace 'timsstack'"):
        load_config()
