"""Rendered Secrets: secret entries masked, the rest readable for review."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pulumi
import pytest
import yaml
from pulumi_kubernetes.core.v1 import Secret

from scripts.mockrun import FAKE_TOKEN, ProgramRun, run_function, run_program
from scripts.render import PLACEHOLDER, RenderResult, manifest
from tests.render.conftest import ENV


def secret_data(result: RenderResult, name: str) -> dict[str, Any]:
    """stringData of the rendered Secret whose file name holds `-secret-<name>-`."""
    (path,) = [p for p in result.files if f"-secret-{name}-" in p.name]
    data: dict[str, Any] = yaml.safe_load(path.read_text())["stringData"]
    return data


def rendered_secrets(run: ProgramRun) -> dict[str, dict[str, Any]]:
    """Each Secret's rendered stringData by resource name."""
    return {
        r.name: manifest(r, run)["stringData"]
        for r in run.kubernetes_objects()
        if r.kind == "Secret"
    }


@pytest.mark.parametrize(
    ("variable", "value"),
    [
        ("DB_PORT", "5432"),
        ("DB_NAME", "tims_stack"),
        ("ROOT_URL", "https://backend-dev.example.com"),
        ("LOG_LEVEL", "info"),  # set by the user in backend.env, not secure
    ],
)
def test_plain_backend_variables_stay_readable(
    example_render: RenderResult, variable: str, value: str
) -> None:
    assert secret_data(example_render, "backend-env")[variable] == value


def test_plain_frontend_variables_stay_readable(example_render: RenderResult) -> None:
    data = secret_data(example_render, "frontend-env")
    assert data["ROOT_URL"] == "https://backend-dev.example.com"
    assert data["WEBSOCKET_PROTOCOL"] == "wss://"


@pytest.mark.parametrize(
    "variable", ["DB_PASSWORD", "DJANGO_SECRET_KEY", "BASE_ADMIN_USER_PASSWORD"]
)
def test_generated_backend_secrets_are_redacted(
    example_render: RenderResult, variable: str
) -> None:
    assert secret_data(example_render, "backend-env")[variable] == PLACEHOLDER


def test_postgres_password_is_redacted(example_render: RenderResult) -> None:
    assert set(secret_data(example_render, "postgres").values()) == {PLACEHOLDER}


def test_pull_secret_dockerconfigjson_is_redacted(example_render: RenderResult) -> None:
    assert secret_data(example_render, "ghcr-pull") == {".dockerconfigjson": PLACEHOLDER}


def test_env_from_a_secure_backend_value_is_redacted(example_raw_config: dict[str, str]) -> None:
    run = run_program(
        {**example_raw_config, "github:token": FAKE_TOKEN},
        stack=ENV,
        secret_keys={"github:token", "tims-stack:backend"},
    )
    secrets = rendered_secrets(run)
    backend = next(v for k, v in secrets.items() if k == "backend-env")
    assert backend["LOG_LEVEL"] == PLACEHOLDER, "backend.env came from a secure value"
    assert backend["DB_PORT"] == "5432", "program-set plain values stay readable"
    frontend = next(v for k, v in secrets.items() if k == "frontend-env")
    assert frontend["NEXT_TELEMETRY_DISABLED"] == "1", "tims-stack:frontend is not secure"


def test_env_from_a_secure_frontend_value_is_redacted(example_raw_config: dict[str, str]) -> None:
    run = run_program(
        {**example_raw_config, "github:token": FAKE_TOKEN},
        stack=ENV,
        secret_keys={"github:token", "tims-stack:frontend"},
    )
    frontend = rendered_secrets(run)["frontend-env"]
    assert frontend["NEXT_TELEMETRY_DISABLED"] == PLACEHOLDER
    assert frontend["ROOT_URL"] == "https://backend-dev.example.com"


def _secret_body(**fields: Any) -> Any:
    def body() -> None:
        Secret("s", metadata={"namespace": "ns"}, **fields)

    return body


def test_entries_from_secret_outputs_are_masked_in_data_and_string_data() -> None:
    run = run_function(
        _secret_body(
            string_data={"plain": "p", "hidden": pulumi.Output.secret("MOCKSECRET-a")},
            data={"plain64": "cA==", "hidden64": pulumi.Output.secret("TU9DSw==")},
        )
    )
    (secret,) = run.kubernetes_objects()
    obj = manifest(secret, run)
    assert obj["stringData"] == {"plain": "p", "hidden": PLACEHOLDER}
    assert obj["data"] == {"plain64": "cA==", "hidden64": PLACEHOLDER}


def test_a_derived_secret_entry_is_masked() -> None:
    derived = pulumi.Output.secret("x").apply(lambda v: f"prefix-{v}")
    run = run_function(_secret_body(string_data={"derived": derived, "plain": "p"}))
    (secret,) = run.kubernetes_objects()
    assert manifest(secret, run)["stringData"] == {"derived": PLACEHOLDER, "plain": "p"}


def test_a_map_passed_as_one_secret_output_is_masked_whole() -> None:
    run = run_function(_secret_body(string_data=pulumi.Output.secret({"a": "1", "b": "2"})))
    (secret,) = run.kubernetes_objects()
    assert manifest(secret, run)["stringData"] == {"a": PLACEHOLDER, "b": PLACEHOLDER}


def test_entries_render_knows_nothing_about_are_masked() -> None:
    run = run_function(_secret_body(string_data={"plain": "p"}))
    (secret,) = run.kubernetes_objects()
    unknown = ProgramRun(resources=run.resources, outputs={}, secret_outputs=frozenset())
    assert manifest(secret, unknown)["stringData"] == {"plain": PLACEHOLDER}


def test_secret_header_says_what_is_shown(example_render: RenderResult) -> None:
    (path,) = [p for p in example_render.files if "-secret-backend-env-" in p.name]
    text = Path(path).read_text()
    assert f"replaced by {PLACEHOLDER!r}" in text
    assert "shown for" in text
