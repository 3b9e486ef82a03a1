"""The whole program under mocks, across configurations: what it creates in each mode."""

from __future__ import annotations

import base64
import json

import pytest

from components.data.postgres import PASSWORD_KEY
from components.images.names import provider_base_url
from scripts.mockrun import (
    FAKE_TOKEN,
    GET_BRANCH,
    GET_REF,
    IMAGE_BUILD_TYPE,
    ProgramRun,
    fake_secret,
    fake_sha,
    is_secret,
    run_program,
    try_program,
)
from stack.config import ConfigError
from stack.naming import image_tag
from tests.program.conftest import (
    APP_REPOSITORY,
    BACKEND_REPO,
    FRONTEND_REPO,
    PREBUILT_TAG,
    SCENARIOS,
)
from tests.program.k8s import Runs, containers, env_of, ident, obj, objects, resource, workloads

RUNNING_REPLICAS = {"backend": 2, "frontend": 1, "postgres": 1, "redis": 1}


def replicas_by_name(run: ProgramRun) -> dict[str, int]:
    return {
        r.name: r.manifest()["spec"]["replicas"]
        for r in run.kubernetes_objects()
        if r.kind in ("Deployment", "StatefulSet")
    }


def test_namespace_is_named_from_the_environment(default_run: ProgramRun) -> None:
    (namespace,) = objects(default_run, "Namespace")
    assert namespace["metadata"]["name"] == "tims-stack-dev"
    assert default_run.outputs["namespace"] == "tims-stack-dev"


def test_every_namespaced_object_lives_in_the_environment_namespace(
    scenario_run: ProgramRun,
) -> None:
    for o in objects(scenario_run):
        if o["kind"] != "Namespace":
            assert o["metadata"].get("namespace") == "tims-stack-dev", f"{ident(o)}: namespace"


@pytest.mark.parametrize("name", ["default", "prebuilt", "no-domain", "gateway"])
def test_running_environment_has_the_default_replicas(name: str, program_runs: Runs) -> None:
    assert replicas_by_name(program_runs(name)) == RUNNING_REPLICAS


def test_configured_replica_counts_are_used() -> None:
    raw = {
        **SCENARIOS["prebuilt"],
        "tims-stack:backend": {"replicas": 5},
        "tims-stack:frontend": {"replicas": 3},
    }
    counts = replicas_by_name(run_program(raw))
    assert (counts["backend"], counts["frontend"]) == (5, 3)


def test_stopped_scales_every_workload_to_zero(program_runs: Runs) -> None:
    counts = replicas_by_name(program_runs("stopped"))
    assert set(counts) == set(RUNNING_REPLICAS), "stopping must not remove a workload"
    assert counts == dict.fromkeys(RUNNING_REPLICAS, 0)


def _without_replicas(value: object) -> object:
    if isinstance(value, dict):
        return {k: _without_replicas(v) for k, v in value.items() if k != "replicas"}
    if isinstance(value, list):
        return [_without_replicas(v) for v in value]
    return value


def test_stopping_changes_nothing_but_replicas(program_runs: Runs) -> None:
    """Same resources, same inputs apart from replicas: no Secret, PVC or password is replaced.

    The exceptions: the claim size patches, which exist only while running
    (a stopped new environment has no claim to patch) and are retained on
    delete, so dropping them never touches a claim; and the migration Job,
    which holds no data and must not run against a stopped database.
    """
    running = {r.urn: r for r in program_runs("default").resources}
    stopped = {r.urn: r for r in program_runs("stopped").resources}
    assert set(stopped) <= set(running), "stopping must not add resources"
    dropped = [running[urn] for urn in set(running) - set(stopped)]
    patches = [r for r in dropped if r.type.endswith("PersistentVolumeClaimPatch")]
    assert sorted(r.name for r in patches) == ["postgres-data", "redis-data"], (
        f"stopping may drop only the claim size patches, dropped: {[r.urn for r in dropped]}"
    )
    assert all(r.retain_on_delete for r in patches)
    others = sorted(r.type for r in dropped if r not in patches)
    assert others == ["kubernetes:batch/v1:Job", "tims-stack:k8s:Migrations"], (
        f"stopping may drop only the claim size patches and the migration Job: {others}"
    )
    for urn, after in stopped.items():
        before = running[urn]
        assert _without_replicas(after.inputs) == _without_replicas(before.inputs), (
            f"{urn}: stopping changed more than replicas"
        )


def test_stopping_keeps_the_postgres_volume_claim_and_password(program_runs: Runs) -> None:
    stopped = program_runs("stopped")
    statefulset = obj(stopped, "StatefulSet", "postgres")
    (claim,) = statefulset["spec"]["volumeClaimTemplates"]
    assert statefulset["spec"]["persistentVolumeClaimRetentionPolicy"] == {
        "whenDeleted": "Retain",
        "whenScaled": "Retain",
    }
    assert claim["spec"]["resources"]["requests"]["storage"] == "1Gi"
    (password,) = [r for r in stopped.resources if r.name == "postgres-password"]
    assert "keepers" not in password.inputs, "keepers would regenerate the password"
    secret = obj(stopped, "Secret", "postgres")
    assert secret["stringData"][PASSWORD_KEY] == fake_secret("postgres-password")


def test_build_mode_resolves_the_branch_to_a_commit_and_tags_with_it(
    default_run: ProgramRun,
) -> None:
    (build,) = default_run.of_type(IMAGE_BUILD_TYPE)
    sha = fake_sha("tims-stack-anystack", "main")
    assert (GET_BRANCH, {"repository": "tims-stack-anystack", "branch": "main"}) in [
        (token, {k: args[k] for k in ("repository", "branch")})
        for token, args in default_run.invokes
    ]
    assert build.inputs["commitSha"] == sha
    assert build.inputs["tag"] == image_tag("dev", sha)
    assert build.inputs["images"] == {"backend": BACKEND_REPO, "frontend": FRONTEND_REPO}
    assert build.inputs["repository"] == APP_REPOSITORY


def test_build_ref_tag_is_resolved_with_get_ref_and_dispatched_by_name() -> None:
    raw = {
        **SCENARIOS["default"],
        "tims-stack:build": {"repository": APP_REPOSITORY, "ref": "refs/tags/v1.2.0"},
    }
    run = run_program(raw)
    (build,) = run.of_type(IMAGE_BUILD_TYPE)
    lookups = [
        (token, {k: args.get(k) for k in ("owner", "repository", "ref")})
        for token, args in run.invokes
    ]
    assert lookups == [
        (GET_REF, {"owner": "acme", "repository": "tims-stack-anystack", "ref": "tags/v1.2.0"})
    ], f"ImageBuild {build.name}: a tag must be looked up with getRef only, got {lookups}"
    sha = fake_sha("tims-stack-anystack", "tags/v1.2.0")
    assert build.inputs["commitSha"] == sha, f"ImageBuild {build.name}: commitSha of the tag"
    assert build.inputs["tag"] == image_tag("dev", sha), f"ImageBuild {build.name}: image tag"
    assert build.inputs["ref"] == "v1.2.0", (
        f"ImageBuild {build.name}: the workflow is dispatched on the tag name"
    )


def test_build_ref_branch_is_dispatched_as_written(default_run: ProgramRun) -> None:
    (build,) = default_run.of_type(IMAGE_BUILD_TYPE)
    assert build.inputs["ref"] == "main", f"ImageBuild {build.name}: dispatch ref"
    assert GET_REF not in [token for token, _ in default_run.invokes], (
        "a branch must not be looked up as a tag"
    )


def test_build_ref_that_is_a_commit_sha_is_rejected_before_any_resource() -> None:
    sha = "0123456789abcdef0123456789abcdef01234567"
    raw = {**SCENARIOS["default"], "tims-stack:build": {"repository": APP_REPOSITORY, "ref": sha}}
    run = try_program(raw)
    assert isinstance(run.error, ConfigError), f"a sha build.ref must fail config: {run.error!r}"
    assert "tims-stack:build.ref" in str(run.error), "the error names the key"
    assert "commit sha" in str(run.error), "the error says why the value is refused"
    assert run.resources == [], "no resource may be registered"
    assert run.invokes == [], "no lookup may run"


def test_build_mode_workloads_take_images_from_the_image_build(default_run: ProgramRun) -> None:
    (build,) = default_run.of_type(IMAGE_BUILD_TYPE)
    tag = build.inputs["tag"]
    for name, repository in (("backend", BACKEND_REPO), ("frontend", FRONTEND_REPO)):
        deployment = resource(default_run, "Deployment", name)
        assert build.urn in deployment.dependencies, f"Deployment {name} must wait for the build"
        (container,) = containers(deployment.manifest())
        assert container["image"] == f"{repository}:{tag}", f"Deployment {name}: image"
    assert default_run.outputs["backendImage"] == f"{BACKEND_REPO}:{tag}"
    assert default_run.outputs["frontendImage"] == f"{FRONTEND_REPO}:{tag}"
    assert default_run.outputs["runUrl"].startswith(f"https://github.com/{APP_REPOSITORY}/")


def test_github_provider_uses_the_repository_owner_and_secret_token(
    default_run: ProgramRun,
) -> None:
    (provider,) = default_run.of_type("pulumi:providers:github")
    assert provider.inputs["owner"] == "acme"
    # terraform-provider-github appends api/v3/ to anything but exactly this URL.
    assert provider.inputs["baseUrl"] == "https://api.github.com/"
    assert is_secret(provider.inputs["token"]), "the token must reach the provider as a secret"
    assert provider.inputs["token"]["value"] == FAKE_TOKEN


def test_prebuilt_mode_builds_nothing_and_needs_no_token(program_runs: Runs) -> None:
    run = program_runs("prebuilt")
    assert run.of_type(IMAGE_BUILD_TYPE) == []
    assert run.of_type("pulumi:providers:github") == []
    assert run.invokes == []
    images = {
        name: containers(obj(run, "Deployment", name))[0]["image"]
        for name in ("backend", "frontend")
    }
    assert images == {
        "backend": f"{BACKEND_REPO}:{PREBUILT_TAG}",
        "frontend": f"{FRONTEND_REPO}:{PREBUILT_TAG}",
    }
    assert "runUrl" not in run.outputs


def test_without_a_domain_nothing_is_routed_and_urls_are_in_cluster(program_runs: Runs) -> None:
    run = program_runs("no-domain")
    assert objects(run, "Ingress") == []
    assert objects(run, "HTTPRoute") == []
    service = obj(run, "Service", "backend")["metadata"]["name"]
    in_cluster = f"http://{service}.tims-stack-dev.svc.cluster.local:8000"
    assert run.outputs["url"] == in_cluster
    backend = env_of(run, "backend")
    assert backend["ROOT_URL"] == in_cluster
    assert backend["EXTRA_TRUSTED_ORIGINS"] == in_cluster
    assert (backend["ROOT_HOST"], backend["SESSION_COOKIE_DOMAIN"]) == ("", "")
    frontend = env_of(run, "frontend")
    assert frontend == {"ROOT_URL": in_cluster, "WEBSOCKET_PROTOCOL": "ws://"}


def test_public_domain_gives_https_urls_and_wss(default_run: ProgramRun) -> None:
    assert default_run.outputs["url"] == "https://backend-dev.example.com"
    frontend = env_of(default_run, "frontend")
    assert frontend["ROOT_URL"] == "https://backend-dev.example.com"
    assert frontend["WEBSOCKET_PROTOCOL"] == "wss://"


def test_tls_off_serves_plain_http_without_certificate(program_runs: Runs) -> None:
    run = program_runs("tls-off")
    (ingress,) = objects(run, "Ingress")
    assert "tls" not in ingress["spec"]
    assert "cert-manager.io/cluster-issuer" not in ingress["metadata"]["annotations"]
    assert run.outputs["url"] == "http://backend-dev.example.com"
    assert env_of(run, "frontend")["WEBSOCKET_PROTOCOL"] == "ws://"
    assert env_of(run, "backend")["ROOT_URL"] == "http://backend-dev.example.com"


def test_tls_on_ingress_gets_certificate_from_the_cluster_issuer(default_run: ProgramRun) -> None:
    (ingress,) = objects(default_run, "Ingress")
    assert ingress["metadata"]["annotations"]["cert-manager.io/cluster-issuer"] == (
        "letsencrypt-prod"
    )
    (tls,) = ingress["spec"]["tls"]
    assert tls["hosts"] == ["backend-dev.example.com"]
    assert tls["secretName"]


def _dockerconfig(run: ProgramRun) -> tuple[dict[str, object], str]:
    (secret,) = [s for s in objects(run, "Secret") if s["type"] == "kubernetes.io/dockerconfigjson"]
    return json.loads(secret["stringData"][".dockerconfigjson"]), secret["metadata"]["name"]


def test_private_images_get_a_ghcr_pull_secret_from_owner_and_token(program_runs: Runs) -> None:
    run = program_runs("private")
    document, _ = _dockerconfig(run)
    auth = document["auths"]["ghcr.io"]  # type: ignore[index]
    assert auth["username"] == "acme"
    assert auth["password"] == FAKE_TOKEN
    assert base64.b64decode(auth["auth"]).decode() == f"acme:{FAKE_TOKEN}"
    pull = resource(run, "Secret", "ghcr-pull")
    assert is_secret(pull.inputs["stringData"]), "the pull secret's data must stay secret"


def test_private_images_are_pulled_with_the_secret_by_app_pods_only(program_runs: Runs) -> None:
    run = program_runs("private")
    _, secret_name = _dockerconfig(run)
    for workload in workloads(run):
        pulls = workload["spec"]["template"]["spec"].get("imagePullSecrets")
        name = workload["metadata"]["labels"]["app.kubernetes.io/name"]
        if name in ("backend", "frontend"):
            assert pulls == [{"name": secret_name}], f"{ident(workload)}: imagePullSecrets"
        else:
            assert pulls is None, f"{ident(workload)}: official images need no pull secret"


def test_public_images_need_no_pull_secret(program_runs: Runs) -> None:
    run = program_runs("prebuilt")
    assert [s for s in objects(run, "Secret") if s["type"] != "Opaque"] == []
    for workload in workloads(run):
        assert "imagePullSecrets" not in workload["spec"]["template"]["spec"], ident(workload)


def test_gateway_routing_attaches_an_httproute_to_the_shared_gateway(program_runs: Runs) -> None:
    run = program_runs("gateway")
    assert objects(run, "Ingress") == []
    (route,) = objects(run, "HTTPRoute")
    assert route["apiVersion"] == "gateway.networking.k8s.io/v1"
    assert route["spec"]["parentRefs"] == [
        {
            "group": "gateway.networking.k8s.io",
            "kind": "Gateway",
            "name": "shared-gateway",
            "namespace": "gateway-system",
            "sectionName": "https",
        }
    ]
    assert route["spec"]["hostnames"] == ["backend-dev.example.com"]


def test_stack_outputs(default_run: ProgramRun) -> None:
    outputs = default_run.outputs
    assert set(outputs) == {
        "namespace",
        "url",
        "backendImage",
        "frontendImage",
        "postgresHost",
        "redisUrl",
        "adminUser",
        "adminPassword",
        "runUrl",
        "migrationLogs",
    }
    assert outputs["migrationLogs"].startswith("kubectl logs --namespace tims-stack-dev ")
    postgres_service = obj(default_run, "Service", "postgres")["metadata"]["name"]
    assert outputs["postgresHost"] == f"{postgres_service}.tims-stack-dev.svc.cluster.local"
    assert outputs["redisUrl"] == "redis://redis-db-svc.tims-stack-dev.svc.cluster.local:6379"
    assert outputs["adminUser"] == "admin"
    assert outputs["adminPassword"] == fake_secret("backend-admin-password")
    assert default_run.secret_outputs == {"adminPassword"}


def test_admin_password_output_matches_the_backend_env(default_run: ProgramRun) -> None:
    env = env_of(default_run, "backend")
    assert env["BASE_ADMIN_USERNAME"] == default_run.outputs["adminUser"]
    assert env["BASE_ADMIN_USER_PASSWORD"] == default_run.outputs["adminPassword"]


@pytest.mark.parametrize(
    ("api_url", "provider_url"),
    [
        ("https://api.github.com", "https://api.github.com/"),
        ("https://api.github.com/", "https://api.github.com/"),
        ("https://ghes.example.com/api/v3", "https://ghes.example.com/"),
        ("https://ghes.example.com/api/v3/", "https://ghes.example.com/"),
    ],
)
def test_github_provider_gets_the_server_root_it_appends_api_v3_to(
    api_url: str, provider_url: str
) -> None:
    """terraform-provider-github appends `api/v3/` to any base URL but github.com's."""
    assert provider_base_url(api_url) == provider_url, f"github provider base_url for {api_url}"


def test_github_enterprise_base_url_reaches_the_github_provider_as_the_server_root() -> None:
    run = run_program({**SCENARIOS["default"], "github:baseUrl": "https://ghes.example.com/api/v3"})
    (provider,) = run.of_type("pulumi:providers:github")
    assert provider.inputs["baseUrl"] == "https://ghes.example.com/"
