"""The kind end-to-end scripts: HTTP checks against a fake app on 127.0.0.1, namespace
checks from kubectl JSON, the cluster/image plans, the stack file, the lifecycle order."""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest

from scripts.e2e import http_checks, kind, namespace
from stack.config import parse_config
from stack.stackfile import raw_config_for_stack
from tests.ci.long_lived.conftest import FakeApp
from tests.conftest import REPO_ROOT

HOST = "backend-e2e-incluster.e2e.test"


def checks(base_url: str, password: str) -> list[tuple[bool, str]]:
    return http_checks.run_checks(http_checks.Session(base_url, HOST), "admin", password)


def test_every_http_check_passes_against_a_working_app(fake_app: tuple[FakeApp, str]) -> None:
    app, base_url = fake_app
    results = checks(base_url, app.password)
    assert all(passed for passed, _ in results), results
    assert len(results) == 4
    assert app.hosts == {HOST}, "requests must carry the environment's Host"


def test_static_files_falling_through_to_login_fail_the_static_check(
    fake_app: tuple[FakeApp, str],
) -> None:
    app, base_url = fake_app
    app.static_collected = False
    failed = [line for passed, line in checks(base_url, app.password) if not passed]
    assert len(failed) == 1, failed
    assert "static files were not collected" in failed[0]


def test_a_wrong_admin_password_fails_the_login_and_the_websocket(
    fake_app: tuple[FakeApp, str],
) -> None:
    _, base_url = fake_app
    failed = [line for passed, line in checks(base_url, "wrong") if not passed]
    assert len(failed) == 2, failed
    assert "wrong password" in failed[0]
    assert "not 101" in failed[1]


def test_a_websocket_refused_to_the_session_fails(fake_app: tuple[FakeApp, str]) -> None:
    app, base_url = fake_app
    app.websocket_for_sessions = False
    failed = [line for passed, line in checks(base_url, app.password) if not passed]
    assert failed == ["the WebSocket /api/core/ws answered 403, not 101"]


def test_the_websocket_accept_is_rfc_6455s() -> None:
    # The example of RFC 6455, section 1.3.
    assert (
        http_checks.websocket_accept("dGhlIHNhbXBsZSBub25jZQ==") == "s3pPLMBiTxaQ9kYGzzhZRbK+xOo="
    )


def test_the_cli_never_prints_the_password(
    fake_app: tuple[FakeApp, str],
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    app, base_url = fake_app
    monkeypatch.setenv("ADMIN_PASSWORD", app.password)
    assert http_checks.main(["--base-url", base_url, "--host", HOST]) == 0
    assert app.password not in capsys.readouterr().out


def _quoting(password: str) -> Any:
    """run_checks as if a check's error quoted the password (an HTTP library's message)."""
    return lambda *_args: [(False, f"login refused for admin:{password}")]


def test_the_cli_masks_the_password_in_a_check_line_that_quotes_it(
    fake_app: tuple[FakeApp, str],
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    app, base_url = fake_app
    monkeypatch.setenv("ADMIN_PASSWORD", app.password)
    monkeypatch.setattr(http_checks, "run_checks", _quoting(app.password))
    http_checks.main(["--base-url", base_url, "--host", HOST])
    out = capsys.readouterr().out
    assert app.password not in out, f"the password is printed: {out}"


def test_the_lifecycle_registers_the_password_as_a_mask_and_never_prints_it(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """GitHub masks only what `::add-mask::` named before; a check line is masked too."""
    password = "generated-admin-password"
    monkeypatch.setattr(http_checks, "run_checks", _quoting(password))
    monkeypatch.setattr("scripts.e2e.kind.time.sleep", lambda _: None)

    def run(command: Sequence[str]) -> str:
        return json.dumps({"adminPassword": password}) if "output" in command else ""

    with pytest.raises(RuntimeError, match="HTTP checks failed"):
        kind.lifecycle("incluster", run, lambda _args: (0, items(), ""), attempts=1)
    lines = capsys.readouterr().out.splitlines()
    assert lines[0] == f"::add-mask::{password}", f"no mask before the checks: {lines}"
    assert not [line for line in lines[1:] if password in line], f"printed: {lines}"


def items(*entries: dict[str, Any]) -> str:
    return json.dumps({"apiVersion": "v1", "kind": "List", "items": list(entries)})


def pod(name: str, phase: str) -> dict[str, Any]:
    return {"kind": "Pod", "metadata": {"name": name}, "status": {"phase": phase}}


BOUND = {
    "kind": "PersistentVolumeClaim",
    "metadata": {"name": "data-postgres-0"},
    "status": {"phase": "Bound"},
}


def test_stopped_means_no_running_pod_and_the_claims_kept() -> None:
    assert namespace.stopped_problems(items(pod("migrate-x", "Succeeded")), items(BOUND)) == []


def test_a_running_pod_after_stop_is_named() -> None:
    problems = namespace.stopped_problems(items(pod("postgres-0", "Running")), items(BOUND))
    assert problems == ["Pod/postgres-0 is Running"]


def test_a_stop_that_lost_the_claims_is_a_problem() -> None:
    assert "no bound PersistentVolumeClaim" in namespace.stopped_problems(items(), items())[0]


def kubectl_answering(answers: dict[str, tuple[int, str, str]]) -> namespace.Kubectl:
    def kubectl(args: Sequence[str]) -> tuple[int, str, str]:
        return answers[args[1]]

    return kubectl


MISSING = (1, "", 'Error from server (NotFound): namespaces "tims-stack-e2e" not found')
NO_VOLUMES = (0, items(), "")


def test_a_namespace_that_is_gone_leaves_nothing() -> None:
    kubectl = kubectl_answering({"namespace": MISSING, "persistentvolumes": NO_VOLUMES})
    assert namespace.check("gone", "tims-stack-e2e", kubectl) == []


def test_a_volume_left_by_a_deleted_claim_is_named() -> None:
    # The claims go with the namespace; their volumes only when the StorageClass's
    # reclaimPolicy is Delete (kind's local-path is): a Released one is data left behind.
    left = {
        "kind": "PersistentVolume",
        "metadata": {"name": "pvc-1234"},
        "spec": {"claimRef": {"namespace": "tims-stack-e2e", "name": "data-postgres-x-0"}},
        "status": {"phase": "Released"},
    }
    other = {**left, "spec": {"claimRef": {"namespace": "elsewhere", "name": "data"}}}
    kubectl = kubectl_answering(
        {"namespace": MISSING, "persistentvolumes": (0, items(left, other), "")}
    )
    assert namespace.check("gone", "tims-stack-e2e", kubectl) == [
        "PersistentVolume/pvc-1234 of tims-stack-e2e/data-postgres-x-0 is still there (Released)"
    ]


def test_a_terminating_namespace_may_hold_only_what_kubernetes_puts_there() -> None:
    root_ca = {"kind": "ConfigMap", "metadata": {"name": "kube-root-ca.crt"}}
    claim = {"kind": "PersistentVolumeClaim", "metadata": {"name": "data-redis-0"}}
    kubectl = kubectl_answering(
        {
            "namespace": (0, "{}", ""),
            namespace.KINDS_LEFT_BEHIND: (0, items(root_ca, claim), ""),
            "persistentvolumes": NO_VOLUMES,
        }
    )
    problems = namespace.check("gone", "tims-stack-e2e", kubectl)
    assert problems == ["tims-stack-e2e still holds PersistentVolumeClaim/data-redis-0"]


def test_a_kubectl_failure_is_an_error_not_a_clean_namespace() -> None:
    kubectl = kubectl_answering({"namespace": (1, "", "Unable to connect to the server")})
    with pytest.raises(RuntimeError, match="Unable to connect"):
        namespace.check("gone", "tims-stack-e2e", kubectl)


def test_only_the_cloudnativepg_profile_installs_the_operator(tmp_path: Path) -> None:
    plain = kind.cluster_plan("incluster", tmp_path / "kind.yaml")
    cnpg = kind.cluster_plan("cloudnativepg", tmp_path / "kind.yaml")
    assert kind.CNPG_OPERATOR not in json.dumps(plain)
    assert cnpg[: len(plain)] == plain
    assert cnpg[len(plain)] == ["kubectl", "apply", "--server-side", "-f", kind.CNPG_OPERATOR]


def test_the_kind_node_serves_the_ingress_on_host_port_8080() -> None:
    node = kind.kind_config()["nodes"][0]
    assert node["labels"] == {"ingress-ready": "true"}
    assert node["extraPortMappings"][0]["hostPort"] == kind.HOST_PORT


def test_images_are_built_as_the_template_does_and_loaded_into_kind(tmp_path: Path) -> None:
    plan = kind.images_plan("tbscode/tims-stack-anystack", "main", tmp_path)
    programs = [" ".join(c[:2]) for c in plan]
    assert programs == [
        "git clone",
        "docker build",
        "docker run",
        "docker build",
        "docker build",
        "kind load",
    ]
    assert "collectstatic" in plan[2], "static files are collected before the backend build"
    assert plan[-1][-2:] == [
        f"{kind.BACKEND_IMAGE}:{kind.TAG}",
        f"{kind.FRONTEND_IMAGE}:{kind.TAG}",
    ]


@pytest.mark.parametrize("profile", kind.PROFILES)
def test_the_e2e_stack_file_is_a_valid_prebuilt_config(tmp_path: Path, profile: str) -> None:
    import yaml

    stack = kind.stack_name(profile)
    path = tmp_path / f"Pulumi.{stack}.yaml"
    path.write_text(yaml.safe_dump(kind.stack_config(profile)), encoding="utf-8")
    raw = raw_config_for_stack(path, REPO_ROOT / "Pulumi.yaml")
    config = parse_config(raw.values, stack=stack, env={}, secret_keys=raw.secret_keys)
    assert config.images.source == "prebuilt"
    assert config.postgres.mode == ("cloudnativepg" if profile == "cloudnativepg" else "inCluster")
    assert kind.host(profile) == f"backend-{stack}.{kind.DOMAIN}"


def test_the_lifecycle_checks_after_up_stop_start_and_destroy(
    fake_app: tuple[FakeApp, str],
) -> None:
    app, base_url = fake_app
    ran: list[str] = []
    stopped = (0, items(BOUND), "")

    def run(command: Sequence[str]) -> str:
        ran.append(" ".join(command[:3]))
        if command[:3] == ["pulumi", "stack", "output"]:
            return json.dumps({"adminPassword": app.password})
        return ""

    def kubectl(args: Sequence[str]) -> tuple[int, str, str]:
        ran.append(f"kubectl {args[1]}")
        if args[1] == "namespace":
            return 1, "", "NotFound"
        return (0, items(), "") if args[1] == "pods" else stopped

    app.hosts.clear()
    kind.lifecycle("incluster", run, kubectl, base_url=base_url, attempts=1)
    assert ran == [
        "pulumi stack select",
        "pulumi up --stack",
        "pulumi stack output",
        "pulumi config set",
        "pulumi up --stack",
        "kubectl pods",
        "kubectl persistentvolumeclaims",
        "pulumi config set",
        "pulumi up --stack",
        "pulumi destroy --stack",
        "pulumi stack rm",
        "kubectl namespace",
        "kubectl persistentvolumes",
    ]
    assert app.hosts == {kind.host("incluster")}


def test_the_stop_check_waits_for_terminating_pods(
    fake_app: tuple[FakeApp, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    app, base_url = fake_app
    monkeypatch.setattr("scripts.e2e.kind.time.sleep", lambda _: None)
    pods = [items(pod("backend-1", "Running")), items()]

    def run(command: Sequence[str]) -> str:
        return json.dumps({"adminPassword": app.password}) if "output" in command else ""

    def kubectl(args: Sequence[str]) -> tuple[int, str, str]:
        if args[1] == "namespace":
            return 1, "", "NotFound"
        return 0, (pods.pop(0) if args[1] == "pods" else items(BOUND)), ""

    kind.lifecycle("incluster", run, kubectl, base_url=base_url, attempts=2)
    assert pods == []
