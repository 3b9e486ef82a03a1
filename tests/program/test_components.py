"""Each component on its own under the mocks, and the pure helpers behind them."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pulumi
import pytest

from components.app.backend import url_settings
from components.app.backend import with_extra_env as backend_extra_env
from components.app.frontend import websocket_protocol
from components.app.frontend import with_extra_env as frontend_extra_env
from components.app.services import BACKEND, AppService, AppServiceArgs
from components.contracts import ProtectedService
from components.data.official_images import (
    parse_image,
    postgres_data_layout,
    postgres_user,
    redis_cli,
    redis_user,
)
from components.data.postgres import Postgres, PostgresArgs
from components.data.redis import Redis, RedisArgs
from components.images.names import (
    image_registries,
    prebuilt_images,
    registry_owner,
    split_repository,
)
from components.images.pull_secret import (
    RegistryPullSecret,
    RegistryPullSecretArgs,
    dockerconfigjson,
)
from components.kube import pods
from components.kube.namespace import Namespace, NamespaceArgs
from components.kube.pods import ImageUser
from components.network.policies import NetworkPolicies, NetworkPoliciesArgs
from components.network.routing import ROUTES, RouteTarget, Routing, RoutingArgs, httproute_spec
from scripts.mockrun import ProgramRun, is_secret
from stack.config import ImagesConfig, PostgresConfig, RedisConfig, RoutingConfig
from tests.program.k8s import RunComponent, containers, objects

NS = "tims-stack-test"


def only(run: ProgramRun, kind: str) -> dict[str, Any]:
    (found,) = objects(run, kind)
    return found


def children_of(run: ProgramRun, component_type: str) -> list[str]:
    (component,) = run.of_type(component_type)
    return sorted(r.type for r in run.resources if r.parent == component.urn)


# ---------------------------------------------------------------- official images


@pytest.mark.parametrize(
    ("image", "repository", "tag"),
    [
        ("postgres:18-alpine", "postgres", "18-alpine"),
        ("docker.io/library/postgres:17.2", "docker.io/library/postgres", "17.2"),
        ("registry:5000/redis:7.4-alpine@sha256:" + "a" * 64, "registry:5000/redis", "7.4-alpine"),
        ("registry:5000/redis", "registry:5000/redis", None),
    ],
)
def test_parse_image_splits_repository_and_tag(
    image: str, repository: str, tag: str | None
) -> None:
    ref = parse_image(image)
    assert (ref.repository, ref.tag) == (repository, tag)


def test_postgres_18_keeps_data_under_the_major_directory() -> None:
    layout = postgres_data_layout(18)
    assert (layout.mount_path, layout.pgdata) == (
        "/var/lib/postgresql",
        "/var/lib/postgresql/18/docker",
    )


@pytest.mark.parametrize("major", [14, 16, 17])
def test_postgres_before_18_mounts_the_data_directory(major: int) -> None:
    layout = postgres_data_layout(major)
    assert layout.mount_path == "/var/lib/postgresql/data"
    # A subdirectory: a fresh filesystem's lost+found would make initdb refuse.
    assert layout.pgdata.startswith(layout.mount_path + "/")


@pytest.mark.parametrize(
    ("image", "user"),
    [
        ("postgres:18-alpine", ImageUser(70, 70)),
        ("postgres:18", ImageUser(999, 999)),
        ("postgres:17-bookworm", ImageUser(999, 999)),
    ],
)
def test_postgres_runs_as_the_images_own_user(image: str, user: ImageUser) -> None:
    assert postgres_user(image) == user


@pytest.mark.parametrize(
    ("image", "user", "cli"),
    [
        ("redis:7.4-alpine", ImageUser(999, 1000), "redis-cli"),
        ("redis:7.4", ImageUser(999, 999), "redis-cli"),
        ("valkey/valkey:8.1-alpine", ImageUser(999, 1000), "valkey-cli"),
    ],
)
def test_redis_user_and_cli_follow_the_image(image: str, user: ImageUser, cli: str) -> None:
    assert (redis_user(image), redis_cli(image)) == (user, cli)


# ---------------------------------------------------------------- pure helpers


def test_replicas_are_zero_only_when_stopped() -> None:
    assert (pods.replicas(3, stopped=False), pods.replicas(3, stopped=True)) == (3, 0)


def test_url_settings_scope_cookies_and_csrf_to_the_environments_own_host() -> None:
    settings = url_settings("https://backend-dev.example.com")
    assert settings == {
        "ROOT_URL": "https://backend-dev.example.com",
        "ROOT_HOST": "",
        "EXTRA_TRUSTED_ORIGINS": "https://backend-dev.example.com",
        "SESSION_COOKIE_DOMAIN": "",
    }


def test_url_settings_without_domain_trust_the_in_cluster_origin_with_its_port() -> None:
    host = "backend-abc.ns.svc.cluster.local"
    settings = url_settings(f"http://{host}:8000")
    assert settings["EXTRA_TRUSTED_ORIGINS"] == f"http://{host}:8000"


def test_url_settings_without_domain_leave_the_session_cookie_host_only() -> None:
    # A browser on a port-forward (localhost) rejects a cookie for .<cluster DNS name>.
    host = "backend-abc.ns.svc.cluster.local"
    settings = url_settings(f"http://{host}:8000")
    assert settings["SESSION_COOKIE_DOMAIN"] == "", (
        f"SESSION_COOKIE_DOMAIN without a domain must be empty, got "
        f"{settings['SESSION_COOKIE_DOMAIN']!r}"
    )


def test_backend_extra_env_never_replaces_a_contract_variable() -> None:
    contract = {"UNIQUE_ID": "tims-stack-dev", "DJANGO_DEBUG": "false"}
    merged = backend_extra_env(contract, {"UNIQUE_ID": "other", "LOG_LEVEL": "info"})
    assert merged == {"UNIQUE_ID": "tims-stack-dev", "DJANGO_DEBUG": "false", "LOG_LEVEL": "info"}


def test_backend_extra_env_may_set_debug_and_hosts_and_extend_origins() -> None:
    contract = {
        "DJANGO_DEBUG": "false",
        "DJANGO_ALLOWED_HOSTS": "*",
        "EXTRA_TRUSTED_ORIGINS": "https://a.example.com",
    }
    extra = {
        "DJANGO_DEBUG": "true",
        "DJANGO_ALLOWED_HOSTS": "b.example.com",
        "EXTRA_TRUSTED_ORIGINS": "https://b.example.com",
    }
    assert backend_extra_env(contract, extra) == {
        "DJANGO_DEBUG": "true",
        "DJANGO_ALLOWED_HOSTS": "b.example.com",
        "EXTRA_TRUSTED_ORIGINS": "https://a.example.com,https://b.example.com",
    }


def test_frontend_extra_env_never_replaces_a_contract_variable() -> None:
    contract = {"ROOT_URL": "https://a.example.com", "WEBSOCKET_PROTOCOL": "wss://"}
    extra = {"WEBSOCKET_PROTOCOL": "ws://", "NEXT_TELEMETRY_DISABLED": "1"}
    assert frontend_extra_env(contract, extra) == {**contract, "NEXT_TELEMETRY_DISABLED": "1"}


def test_websocket_protocol_follows_tls() -> None:
    assert (websocket_protocol(secure=True), websocket_protocol(secure=False)) == (
        "wss://",
        "ws://",
    )


def test_split_repository_rejects_anything_but_owner_and_name() -> None:
    assert split_repository("acme/app") == ("acme", "app")
    for bad in ("acme", "acme/", "/app", "a/b/c"):
        with pytest.raises(ValueError, match="owner/name"):
            split_repository(bad)


def test_prebuilt_images_are_repository_colon_tag() -> None:
    images = ImagesConfig(source="prebuilt", backend="ghcr.io/a/b", frontend="ghcr.io/a/f", tag="1")
    assert prebuilt_images(images) == {"backend": "ghcr.io/a/b:1", "frontend": "ghcr.io/a/f:1"}


def test_dockerconfigjson_has_the_auth_field_kubelet_reads() -> None:
    document = json.loads(dockerconfigjson(("ghcr.io",), "acme", "t0ken"))
    assert document == {
        "auths": {"ghcr.io": {"username": "acme", "password": "t0ken", "auth": "YWNtZTp0MGtlbg=="}}
    }


def test_httproute_spec_leaves_out_unset_parent_fields() -> None:
    spec = httproute_spec(
        routing=RoutingConfig(kind="gateway", gateway="gw"),
        host="h.example.com",
        backend=("b", 8000),
        frontend=("f", 3000),
    )
    assert spec["parentRefs"] == [
        {"group": "gateway.networking.k8s.io", "kind": "Gateway", "name": "gw"}
    ]


# ---------------------------------------------------------------- components under mocks


def test_namespace_component(run_component: RunComponent) -> None:
    run = run_component(lambda: Namespace("ns", NamespaceArgs(name=NS, environment="test")))
    namespace = only(run, "Namespace")
    assert namespace["metadata"]["name"] == NS
    assert namespace["metadata"]["labels"]["app.kubernetes.io/instance"] == "test"
    assert children_of(run, "tims-stack:k8s:Namespace") == ["kubernetes:core/v1:Namespace"]


def _postgres(
    image: str, storage_class: str | None = None, stopped: bool = False
) -> Callable[[], None]:
    config = PostgresConfig(image=image, storage="3Gi", storageClass=storage_class)

    def body() -> None:
        Postgres(
            "postgres",
            PostgresArgs(namespace=NS, environment="test", config=config, stopped=stopped),
        )

    return body


def test_postgres_component_children(run_component: RunComponent) -> None:
    run = run_component(_postgres("postgres:18-alpine"))
    assert children_of(run, "tims-stack:k8s:Postgres") == [
        "kubernetes:apps/v1:StatefulSet",
        "kubernetes:core/v1:PersistentVolumeClaimPatch",
        "kubernetes:core/v1:Secret",
        "kubernetes:core/v1:Service",
        "kubernetes:core/v1:Service",
        "random:index/randomPassword:RandomPassword",
    ]


def test_postgres_password_is_generated_secret_and_stable(run_component: RunComponent) -> None:
    run = run_component(_postgres("postgres:18-alpine"))
    (password,) = run.of_type("random:index/randomPassword:RandomPassword")
    assert "keepers" not in password.inputs
    assert password.inputs["length"] >= 24
    assert is_secret(password.outputs["result"]), "the provider marks result secret"
    (secret,) = [r for r in run.kubernetes_objects() if r.kind == "Secret"]
    assert is_secret(secret.inputs["stringData"])


def test_postgres_16_uses_the_pre_18_layout(run_component: RunComponent) -> None:
    run = run_component(_postgres("postgres:16-alpine"))
    (container,) = containers(only(run, "StatefulSet"))
    env = {e["name"]: e.get("value") for e in container["env"]}
    data = [m for m in container["volumeMounts"] if m["name"] == "data"]
    assert data == [{"name": "data", "mountPath": "/var/lib/postgresql/data"}]
    assert env["PGDATA"] == "/var/lib/postgresql/data/pgdata"


def test_postgres_debian_image_runs_as_uid_999(run_component: RunComponent) -> None:
    run = run_component(_postgres("postgres:18"))
    security = only(run, "StatefulSet")["spec"]["template"]["spec"]["securityContext"]
    assert (security["runAsUser"], security["fsGroup"]) == (999, 999)


def test_postgres_volume_claim_uses_storage_size_and_class(run_component: RunComponent) -> None:
    run = run_component(_postgres("postgres:18-alpine", storage_class="fast-ssd"))
    (claim,) = only(run, "StatefulSet")["spec"]["volumeClaimTemplates"]
    assert claim["spec"]["storageClassName"] == "fast-ssd"
    assert claim["spec"]["resources"]["requests"] == {"storage": "3Gi"}
    assert claim["spec"]["accessModes"] == ["ReadWriteOnce"]


def test_postgres_stopped_has_zero_replicas(run_component: RunComponent) -> None:
    run = run_component(_postgres("postgres:18-alpine", stopped=True))
    assert only(run, "StatefulSet")["spec"]["replicas"] == 0


def test_redis_service_has_the_contract_name(run_component: RunComponent) -> None:
    def body() -> None:
        Redis(
            "redis",
            RedisArgs(namespace=NS, environment="test", config=RedisConfig(), stopped=False),
        )

    run = run_component(body)
    service = only(run, "Service")
    assert service["metadata"]["name"] == "redis-db-svc"
    assert service["spec"]["ports"] == [{"name": "redis", "port": 6379, "targetPort": "redis"}]
    statefulset = only(run, "StatefulSet")
    assert statefulset["spec"]["serviceName"] == "redis-db-svc"


def test_valkey_image_is_probed_with_valkey_cli(run_component: RunComponent) -> None:
    config = RedisConfig(image="valkey/valkey:8.1-alpine")

    def body() -> None:
        Redis("redis", RedisArgs(namespace=NS, environment="test", config=config, stopped=False))

    (container,) = containers(only(run_component(body), "StatefulSet"))
    assert container["readinessProbe"]["exec"]["command"] == ["valkey-cli", "ping"]


def test_registry_pull_secret_component(run_component: RunComponent) -> None:
    def body() -> None:
        RegistryPullSecret(
            "pull",
            RegistryPullSecretArgs(
                namespace=NS,
                environment="test",
                owner="acme",
                token=pulumi.Output.secret("MOCKSECRET-token"),
            ),
        )

    run = run_component(body)
    (secret,) = [r for r in run.kubernetes_objects() if r.kind == "Secret"]
    assert secret.inputs["type"] == "kubernetes.io/dockerconfigjson"
    assert is_secret(secret.inputs["stringData"])
    document = json.loads(secret.manifest()["stringData"][".dockerconfigjson"])
    assert set(document["auths"]) == {"ghcr.io"}


def test_registry_pull_secret_logs_in_to_a_github_enterprise_registry(
    run_component: RunComponent,
) -> None:
    def body() -> None:
        RegistryPullSecret(
            "pull",
            RegistryPullSecretArgs(
                namespace=NS,
                environment="test",
                owner="acme",
                token=pulumi.Output.secret("MOCKSECRET-token"),
                registries=("containers.ghe.example.com",),
            ),
        )

    (secret,) = [r for r in run_component(body).kubernetes_objects() if r.kind == "Secret"]
    document = json.loads(secret.manifest()["stringData"][".dockerconfigjson"])
    assert set(document["auths"]) == {"containers.ghe.example.com"}, (
        f"pull secret {secret.name} must log in where the images are"
    )


def test_image_registries_are_the_hosts_of_both_repositories() -> None:
    images = ImagesConfig(
        source="prebuilt",
        backend="containers.ghe.example.com/acme/b",
        frontend="containers.ghe.example.com/acme/f",
        tag="1",
        private=True,
    )
    assert image_registries(images) == ("containers.ghe.example.com",)


def test_app_service_selects_by_name_and_instance(run_component: RunComponent) -> None:
    run = run_component(
        lambda: AppService(
            "backend", AppServiceArgs(namespace=NS, environment="test", part=BACKEND)
        )
    )
    service = only(run, "Service")
    assert service["spec"]["selector"] == {
        "app.kubernetes.io/name": "backend",
        "app.kubernetes.io/instance": "test",
    }
    assert service["spec"]["ports"] == [
        {"name": "http", "port": 8000, "targetPort": "http", "protocol": "TCP"}
    ]


def _routing(kind: str, tls: bool = True) -> Callable[[], None]:
    routing = (
        RoutingConfig(kind="gateway", gateway="gw", gatewayNamespace="infra")
        if kind == "gateway"
        else RoutingConfig(kind="ingress", className="nginx")
    )

    def body() -> None:
        Routing(
            "routing",
            RoutingArgs(
                namespace=NS,
                environment="test",
                host="app.example.com",
                routing=routing,
                tls=tls,
                cluster_issuer="my-issuer",
                backend=RouteTarget(service_name="be", port=8000),
                frontend=RouteTarget(service_name="fe", port=3000),
            ),
        )

    return body


def test_routing_ingress_component(run_component: RunComponent) -> None:
    ingress = only(run_component(_routing("ingress")), "Ingress")
    assert ingress["spec"]["ingressClassName"] == "nginx"
    assert ingress["metadata"]["annotations"]["cert-manager.io/cluster-issuer"] == "my-issuer"
    paths = ingress["spec"]["rules"][0]["http"]["paths"]
    assert [(p["path"], p["backend"]["service"]["name"]) for p in paths] == [
        (path, "fe" if to == "frontend" else "be") for path, to in ROUTES
    ]


def test_routing_gateway_component(run_component: RunComponent) -> None:
    run = run_component(_routing("gateway"))
    assert objects(run, "Ingress") == []
    route = only(run, "HTTPRoute")
    assert route["spec"]["parentRefs"][0]["namespace"] == "infra"
    assert [r["backendRefs"] for r in route["spec"]["rules"]] == [
        [{"name": "fe", "port": 3000}],
        [{"name": "be", "port": 8000}],
    ]


def test_network_policies_component(run_component: RunComponent) -> None:
    def body() -> None:
        NetworkPolicies(
            "np",
            NetworkPoliciesArgs(
                namespace=NS,
                environment="test",
                client_pod_labels=pods.labels("test", "server", "backend"),
                protected={
                    "db": ProtectedService(pods.labels("test", "database", "postgres"), 5432)
                },
            ),
        )

    (policy,) = objects(run_component(body), "NetworkPolicy")
    assert policy["spec"]["podSelector"]["matchLabels"]["app.kubernetes.io/name"] == "postgres"
    assert policy["spec"]["ingress"][0]["ports"] == [{"protocol": "TCP", "port": 5432}]


def test_namespace_enforces_baseline_and_reports_below_restricted(
    run_component: RunComponent,
) -> None:
    run = run_component(lambda: Namespace("ns", NamespaceArgs(name=NS, environment="test")))
    labels = only(run, "Namespace")["metadata"]["labels"]
    assert labels["pod-security.kubernetes.io/enforce"] == "baseline"
    assert labels["pod-security.kubernetes.io/warn"] == "restricted"


@pytest.mark.parametrize(
    ("raw", "owner"),
    [
        ({"github:owner": "org"}, "org"),
        ({"tims-stack:build": {"repository": "team/app"}}, "team"),
        ({}, "acme"),
    ],
)
def test_registry_owner_falls_back_to_the_image_path(
    raw: dict[str, Any], owner: str, config_of: Callable[..., Any]
) -> None:
    base = {
        "tims-stack:images": {
            "source": "prebuilt",
            "backend": "ghcr.io/acme/b",
            "frontend": "ghcr.io/acme/f",
            "tag": "1",
        }
    }
    assert registry_owner(config_of({**base, **raw})) == owner


# ---------------------------------------------------------------- images


def test_app_images_in_build_mode_owns_the_github_provider_and_the_build(
    default_run: ProgramRun,
) -> None:
    assert children_of(default_run, "tims-stack:images:AppImages") == [
        "pulumi-python:dynamic/tims-stack:ImageBuild",
        "pulumi:providers:github",
    ]


def test_app_images_in_prebuilt_mode_registers_nothing(
    program_runs: Callable[[str], ProgramRun],
) -> None:
    assert children_of(program_runs("prebuilt"), "tims-stack:images:AppImages") == []
