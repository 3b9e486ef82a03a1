"""`make render`: the example config rendered offline to manifests."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import jsonschema
import kubernetes_validate
import pytest
import yaml
from kubernetes_validate.utils import latest_version

from scripts import manifest_schemas
from scripts import render as render_module
from scripts.manifest_schemas import KubernetesSchema
from scripts.mockrun import FAKE_TOKEN, SECRET_MARK, run_program
from scripts.render import PLACEHOLDER, RenderResult, main, render
from stack.config import ConfigError
from tests.conftest import REPO_ROOT, shared_path
from tests.render.conftest import ENV, EXAMPLE


def documents(path: Path) -> list[Any]:
    return list(yaml.safe_load_all(path.read_text()))


def test_rendered_set_equals_what_the_mocks_see(
    example_render: RenderResult, example_raw_config: dict[str, str]
) -> None:
    mocked = run_program({**example_raw_config, "github:token": FAKE_TOKEN}, stack=ENV)
    expected = {(r.kind, r.manifest()["metadata"]["name"]) for r in mocked.kubernetes_objects()}
    rendered = set()
    for path in example_render.files:
        (obj,) = documents(path)
        rendered.add((obj["kind"], obj["metadata"]["name"]))
    assert rendered == expected
    assert len(example_render.files) == len(expected), "one file per object"


def test_every_file_is_one_yaml_object(example_render: RenderResult) -> None:
    assert example_render.files, "render wrote nothing"
    for path in example_render.files:
        docs = documents(path)
        assert len(docs) == 1, f"{path.name}: {len(docs)} documents"
        (obj,) = docs
        assert {"apiVersion", "kind", "metadata"} <= set(obj), path.name


@pytest.mark.parametrize("version", ["1.30", latest_version()])
def test_every_file_is_valid_kubernetes(example_render: RenderResult, version: str) -> None:
    for path in example_render.files:
        (obj,) = documents(path)
        try:
            kubernetes_validate.validate(obj, version, strict=True)
        except kubernetes_validate.ValidationError as exc:
            pytest.fail(f"{path.name} is invalid for Kubernetes {version}: {exc.message}")


def test_render_reports_no_problem_for_the_example(example_render: RenderResult) -> None:
    assert example_render.problems == []


def test_no_secret_in_any_file(example_render: RenderResult, gateway_render: RenderResult) -> None:
    for path in example_render.files + gateway_render.files:
        text = path.read_text()
        assert SECRET_MARK not in text, f"{path.name} holds a generated secret"
        assert FAKE_TOKEN not in text, f"{path.name} holds the token"


def test_secret_files_say_how_values_are_redacted(example_render: RenderResult) -> None:
    # Which entries are masked and which stay readable: tests/render/test_redaction.py.
    secrets = [p for p in example_render.files if "-secret-" in p.name]
    assert len(secrets) == 4
    for path in secrets:
        assert f"replaced by {PLACEHOLDER!r}" in path.read_text(), path.name


def test_non_secret_files_keep_their_values(example_render: RenderResult) -> None:
    (deployment,) = [p for p in example_render.files if "-deployment-backend-" in p.name]
    (obj,) = documents(deployment)
    (container,) = obj["spec"]["template"]["spec"]["containers"]
    assert container["image"].startswith("ghcr.io/acme/tims-stack-backend-image-prod:dev-")


def test_httproute_file_is_valid_against_the_crd(
    gateway_render: RenderResult, httproute_crd_schema: dict[str, Any]
) -> None:
    (route,) = [p for p in gateway_render.files if "-httproute-" in p.name]
    (obj,) = documents(route)
    jsonschema.validate(obj, httproute_crd_schema)
    assert gateway_render.problems == []


def test_render_says_when_it_skipped_the_httproute_check(
    gateway_stack_file: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(manifest_schemas, "HTTPROUTE_CRD", tmp_path / "missing.yaml")
    result = render(ENV, gateway_stack_file, tmp_path)
    assert any(note.startswith("skipped HTTPRoute schema check") for note in result.notes)


def test_files_are_numbered_in_apply_order(example_render: RenderResult) -> None:
    kinds = [documents(p)[0]["kind"] for p in sorted(example_render.files)]
    assert kinds[0] == "Namespace"
    assert kinds.index("Secret") < kinds.index("Deployment")


def test_a_new_render_removes_the_previous_files(tmp_path: Path) -> None:
    stale = tmp_path / "99-deployment-gone.yaml"
    stale.write_text("kind: Deployment\n")
    keep = tmp_path / "notes.txt"
    keep.write_text("mine")
    render(ENV, EXAMPLE, tmp_path)
    assert not stale.exists()
    assert keep.exists(), "render only removes its own numbered files"


def test_main_prints_the_summary_table(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--env", ENV, "--config", str(EXAMPLE), "--out", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    header = next(line for line in out.splitlines() if line.startswith("KIND"))
    assert header.split() == ["KIND", "NAME", "REPLICAS", "IMAGE"]
    (backend,) = [
        line for line in out.splitlines() if line.startswith("Deployment") and "backend-" in line
    ]
    assert backend.split()[2] == "2"
    assert "tims-stack-backend-image-prod" in backend


def test_main_exits_2_on_bad_config(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    bad = tmp_path / "Pulumi.bad.yaml"
    bad.write_text("config:\n  tims-stack:backend:\n    replicas: -3\n")
    assert main(["--env", "bad", "--config", str(bad), "--out", str(tmp_path / "out")]) == 2
    assert "tims-stack:backend.replicas" in capsys.readouterr().err


def test_render_raises_config_error_for_bad_config(tmp_path: Path) -> None:
    bad = tmp_path / "Pulumi.bad.yaml"
    bad.write_text("config:\n  tims-stack:domain: not_a_domain\n")
    with pytest.raises(ConfigError):
        render("bad", bad, tmp_path / "out")


def test_main_exits_1_on_invalid_output(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    original = render_module.manifest

    def broken(resource: Any, run: Any) -> dict[str, Any]:
        obj = original(resource, run)
        if obj["kind"] == "Deployment":
            obj["spec"]["replicas"] = "two"
        return obj

    monkeypatch.setattr(render_module, "manifest", broken)
    assert main(["--env", ENV, "--config", str(EXAMPLE), "--out", str(tmp_path)]) == 1
    assert "schema problems" in capsys.readouterr().err


def test_kubernetes_schema_rejects_unknown_fields_in_strict_mode() -> None:
    schema = KubernetesSchema("1.30")
    spec: dict[str, Any] = {"ports": [{"port": 80}], "colour": "blue"}
    service = {"apiVersion": "v1", "kind": "Service", "metadata": {"name": "s"}, "spec": spec}
    assert schema.errors(service) != []
    del spec["colour"]
    assert schema.errors(service) == []


def _plural(kind: str) -> str:
    """The RBAC resource name of a kind (the API's plural)."""
    lower = kind.lower()
    if lower.endswith("y"):
        return lower[:-1] + "ies"
    return lower + ("es" if lower.endswith("s") else "s")


def test_docs_grant_a_permission_for_every_rendered_kind(
    example_render: RenderResult, gateway_render: RenderResult
) -> None:
    docs = (REPO_ROOT / "docs" / "ci.md").read_text(encoding="utf-8")
    kinds = {obj["kind"] for obj in example_render.objects + gateway_render.objects}
    assert {"Ingress", "HTTPRoute", "PersistentVolumeClaim"} <= kinds
    missing = sorted(k for k in kinds if f"`{_plural(k)}`" not in docs)
    assert missing == [], f"docs/ci.md's cluster permissions do not name {missing}"


@pytest.mark.parametrize(
    ("text", "said"),
    [
        ("timsstack:domain: example.com\n", "rename the key to tims-stack:domain"),
        ("tims_stack:tls: none\n", "rename the key to tims-stack:tls"),
    ],
)
def test_render_refuses_a_misspelled_namespace(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], text: str, said: str
) -> None:
    stack = tmp_path / "Pulumi.typo.yaml"
    stack.write_text(EXAMPLE.read_text() + "  " + text)
    assert main(["--env", "typo", "--config", str(stack), "--out", str(tmp_path / "out")]) == 2
    assert said in capsys.readouterr().err


def test_render_refuses_a_misspelled_config_mapping(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    stack = tmp_path / "Pulumi.typo.yaml"
    stack.write_text(EXAMPLE.read_text().replace("\nconfig:", "\nconfg:"))
    assert main(["--env", "typo", "--config", str(stack), "--out", str(tmp_path / "out")]) == 2
    assert "unknown top-level key 'confg'; did you mean 'config'" in capsys.readouterr().err


def _last_line(capsys: pytest.CaptureFixture[str]) -> str:
    return capsys.readouterr().out.strip().splitlines()[-1]


def test_last_line_names_the_cloudnativepg_check_made(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    stack = tmp_path / "Pulumi.cnpg.yaml"
    stack.write_text(EXAMPLE.read_text() + "  tims-stack:postgres: {mode: cloudnativepg}\n")
    shared_path(f"cloudnative-pg/{manifest_schemas.CNPG_CLUSTER_CRD.name}")  # skips if absent
    assert main(["--env", "cnpg", "--config", str(stack), "--out", str(tmp_path / "out")]) == 0
    last = _last_line(capsys)
    assert "CloudNativePG v1.30.0 CRD" in last, f"render's last line: {last!r}"
    assert "HTTPRoute" not in last, f"render's last line names a check not made: {last!r}"


def test_last_line_says_the_cloudnativepg_check_was_skipped_and_why(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(manifest_schemas, "CNPG_CLUSTER_CRD", tmp_path / "missing.yaml")
    stack = tmp_path / "Pulumi.cnpg.yaml"
    stack.write_text(EXAMPLE.read_text() + "  tims-stack:postgres: {mode: cloudnativepg}\n")
    assert main(["--env", "cnpg", "--config", str(stack), "--out", str(tmp_path / "out")]) == 0
    last = _last_line(capsys)
    assert "skipped Cluster schema check" in last, f"render's last line: {last!r}"
    assert "missing.yaml is not present" in last, f"render's last line: {last!r}"


def test_summary_marks_patch_files_as_patches(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["--env", ENV, "--config", str(EXAMPLE), "--out", str(tmp_path)]) == 0
    claims = [
        line for line in capsys.readouterr().out.splitlines() if "PersistentVolumeClaim" in line
    ]
    assert claims, "no PersistentVolumeClaim row in the summary"
    assert all("(patch)" in line for line in claims), f"claim patches not marked: {claims}"


def test_external_postgres_without_a_password_says_how_to_render_without_the_cli(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    external = "{mode: external, external: {host: db.example.com, database: app, user: app}}"
    stack = tmp_path / "Pulumi.ext.yaml"
    stack.write_text(EXAMPLE.read_text() + f"  tims-stack:postgres: {external}\n")
    assert main(["--env", "ext", "--config", str(stack), "--out", str(tmp_path / "out")]) == 2
    err = capsys.readouterr().err
    hint = "tims-stack:postgresPassword: {secure: placeholder}"
    assert hint in err, f"no way to render without the Pulumi CLI: {err}"
    stack.write_text(stack.read_text() + f"  {hint}\n")
    assert main(["--env", "ext", "--config", str(stack), "--out", str(tmp_path / "out")]) == 0, (
        "the stand-in the hint gives is not accepted"
    )
