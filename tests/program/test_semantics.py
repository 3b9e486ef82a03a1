"""Cross-object checks on every scenario: selectors, ports, labels, names, env, secrets."""

from __future__ import annotations

from typing import Any

import pytest

from components.app import migrations
from components.kube.pods import ImageUser
from components.network.routing import WEBSOCKET_TIMEOUT_SECONDS
from scripts.mockrun import SECRET_MARK, ProgramRun, fake_secret, plaintext, run_program
from tests.program.conftest import SCENARIOS
from tests.program.k8s import (
    FRONTEND_ENV_CONTRACT,
    SPEC_ENV_CONTRACT,
    Runs,
    containers,
    env_of,
    ident,
    matches,
    obj,
    objects,
    pod_labels,
    strings,
    workloads,
)

STANDARD_LABELS = {
    "app.kubernetes.io/part-of": "tims-stack",
    "app.kubernetes.io/managed-by": "pulumi",
    "app.kubernetes.io/instance": "dev",
}
SERVICE_PORTS = {"backend": 8000, "frontend": 3000, "postgres": 5432, "redis": 6379}


def test_workload_selectors_match_their_pod_labels(scenario_run: ProgramRun) -> None:
    for workload in workloads(scenario_run):
        selector = workload["spec"]["selector"]["matchLabels"]
        assert matches(selector, pod_labels(workload)), f"{ident(workload)}: selector"


def test_each_service_selects_exactly_one_workload_and_targets_its_port(
    scenario_run: ProgramRun,
) -> None:
    for service in objects(scenario_run, "Service"):
        selected = [
            w
            for w in workloads(scenario_run)
            if matches(service["spec"]["selector"], pod_labels(w))
        ]
        assert len(selected) == 1, f"{ident(service)} selects {len(selected)} workloads"
        (container,) = containers(selected[0])
        by_name = {p["name"]: p["containerPort"] for p in container["ports"]}
        name = service["metadata"]["labels"]["app.kubernetes.io/name"]
        (port,) = service["spec"]["ports"]
        assert port["port"] == SERVICE_PORTS[name], f"{ident(service)}: port"
        assert by_name.get(port["targetPort"]) == SERVICE_PORTS[name], (
            f"{ident(service)}: targetPort {port['targetPort']!r} is not the container's port"
        )


def test_postgres_statefulset_is_governed_by_a_headless_service(default_run: ProgramRun) -> None:
    statefulset = obj(default_run, "StatefulSet", "postgres")
    (governing,) = [
        s
        for s in objects(default_run, "Service")
        if s["metadata"]["name"] == statefulset["spec"]["serviceName"]
    ]
    assert governing["spec"]["clusterIP"] == "None"


def test_every_object_and_pod_template_carries_the_standard_labels(
    scenario_run: ProgramRun,
) -> None:
    for o in objects(scenario_run):
        labels = o["metadata"]["labels"]
        assert STANDARD_LABELS.items() <= labels.items(), f"{ident(o)}: labels {labels}"
        assert labels.get("app.kubernetes.io/name"), f"{ident(o)}: name label"
        assert labels.get("app.kubernetes.io/component"), f"{ident(o)}: component label"
    for workload in workloads(scenario_run):
        assert STANDARD_LABELS.items() <= pod_labels(workload).items(), ident(workload)


def test_only_contract_names_are_fixed(scenario_run: ProgramRun) -> None:
    """Everything is auto-named except the namespace (UNIQUE_ID), `redis-db-svc` and
    Postgres's headless Service (an immutable StatefulSet field names it).

    The claim patches name the claims their StatefulSets create, so they are not
    names of their own (tests/program/test_data_safety.py checks them).
    """
    fixed = sorted(
        (r.kind, r.inputs["metadata"]["name"])
        for r in scenario_run.kubernetes_objects()
        if r.inputs.get("metadata", {}).get("name") and not r.type.endswith("Patch")
    )
    assert fixed == [
        ("Namespace", "tims-stack-dev"),
        ("Service", "postgres-headless"),
        ("Service", "redis-db-svc"),
    ]


# Empty on purpose: a host-only session cookie, and no CSRF trust for
# https://*.<ROOT_HOST> (see url_settings and tests/program/test_sessions.py).
MAY_BE_EMPTY = frozenset({"SESSION_COOKIE_DOMAIN", "ROOT_HOST"})


def test_backend_env_holds_the_full_contract(scenario_run: ProgramRun) -> None:
    env = env_of(scenario_run, "backend")
    missing = [
        name
        for name in SPEC_ENV_CONTRACT
        if name not in env or (not env[name] and name not in MAY_BE_EMPTY)
    ]
    assert missing == [], f"backend env lacks {missing}"


def test_backend_session_cookie_is_host_only_without_a_domain(program_runs: Runs) -> None:
    env = env_of(program_runs("no-domain"), "backend")
    assert env["SESSION_COOKIE_DOMAIN"] == "", (
        "backend Secret: SESSION_COOKIE_DOMAIN must be empty without a domain, got "
        f"{env['SESSION_COOKIE_DOMAIN']!r} (a browser on a port-forward rejects it)"
    )


def test_backend_env_values_point_at_this_environment(default_run: ProgramRun) -> None:
    env = env_of(default_run, "backend")
    namespace = "tims-stack-dev"
    frontend = obj(default_run, "Service", "frontend")["metadata"]["name"]
    postgres = obj(default_run, "Service", "postgres")["metadata"]["name"]
    assert env["UNIQUE_ID"] == namespace
    assert env["REDIS_URL"] == f"redis://redis-db-svc.{namespace}.svc.cluster.local:6379"
    assert env["NEXTJS_HOST_URL"] == f"http://{frontend}.{namespace}.svc.cluster.local:3000"
    assert env["DB_HOST"] == f"{postgres}.{namespace}.svc.cluster.local"
    assert (env["DB_PORT"], env["DB_NAME"], env["DB_USER"]) == ("5432", "tims_stack", "tims_stack")
    assert env["DB_ENGINE"] == "django.db.backends.postgresql_psycopg2"
    assert env["DB_PASSWORD"] == fake_secret("postgres-password")
    assert env["DJANGO_SECRET_KEY"] == fake_secret("backend-django-secret-key")
    assert env["BASE_ADMIN_USER_PASSWORD"] == fake_secret("backend-admin-password")
    assert env["ROOT_URL"] == env["EXTRA_TRUSTED_ORIGINS"] == "https://backend-dev.example.com"
    assert env["ROOT_HOST"] == ""
    assert env["SESSION_COOKIE_DOMAIN"] == ""
    assert env["PRODUCTION"] == "true"
    assert env["DJANGO_DEBUG"] == "false"
    # The contract's default: health checks that send the pod IP as Host must pass.
    assert env["DJANGO_ALLOWED_HOSTS"] == "*"


def test_backend_extra_env_is_merged(default_run: ProgramRun) -> None:
    assert env_of(default_run, "backend")["LOG_LEVEL"] == "info"


def test_postgres_password_is_the_one_the_backend_uses(default_run: ProgramRun) -> None:
    statefulset = obj(default_run, "StatefulSet", "postgres")
    (container,) = containers(statefulset)
    (password,) = [e for e in container["env"] if e["name"] == "POSTGRES_PASSWORD"]
    reference = password["valueFrom"]["secretKeyRef"]
    (secret,) = [
        s for s in objects(default_run, "Secret") if s["metadata"]["name"] == reference["name"]
    ]
    assert secret["stringData"][reference["key"]] == env_of(default_run, "backend")["DB_PASSWORD"]


def test_frontend_env_holds_its_contract(scenario_run: ProgramRun) -> None:
    env = env_of(scenario_run, "frontend")
    assert all(env.get(name) for name in FRONTEND_ENV_CONTRACT), f"frontend env: {env}"


def test_no_secret_value_is_stored_unencrypted(scenario_run: ProgramRun) -> None:
    """Fake passwords and the fake token only ever appear inside secret values."""
    for r in scenario_run.resources:
        leaked = [s for s in strings(plaintext(r.inputs)) if SECRET_MARK in s]
        leaked += [s for s in strings(plaintext(r.outputs)) if SECRET_MARK in s]
        assert leaked == [], f"{r.type} {r.name}: plaintext secret"
    visible = scenario_run.plaintext_outputs()
    assert [s for s in strings(visible) if SECRET_MARK in s] == [], "stack outputs"


def test_secret_values_reach_kubernetes_only_in_secrets(scenario_run: ProgramRun) -> None:
    for o in objects(scenario_run):
        if o["kind"] != "Secret":
            assert [s for s in strings(o) if SECRET_MARK in s] == [], f"{ident(o)} holds a secret"


def test_pod_env_never_carries_literal_secrets(scenario_run: ProgramRun) -> None:
    """Secrets reach containers through secretKeyRef/envFrom only."""
    for workload in workloads(scenario_run):
        for container in containers(workload):
            for entry in container.get("env", []):
                if "PASSWORD" in entry["name"] or "SECRET" in entry["name"]:
                    assert "value" not in entry, f"{ident(workload)}: {entry['name']} literal"


def _restricted(workload: dict[str, Any], user: ImageUser) -> None:
    pod = workload["spec"]["template"]["spec"]
    security = pod["securityContext"]
    assert security["runAsNonRoot"] is True, ident(workload)
    assert (security["runAsUser"], security["runAsGroup"]) == (user.uid, user.gid), ident(workload)
    assert security["fsGroup"] == user.gid, f"{ident(workload)}: volume must be writable"
    assert security["seccompProfile"] == {"type": "RuntimeDefault"}, ident(workload)
    init_containers = list(workload["spec"]["template"]["spec"].get("initContainers", []))
    for container in containers(workload) + init_containers:
        context = container["securityContext"]
        assert context["allowPrivilegeEscalation"] is False, ident(workload)
        assert context["capabilities"] == {"drop": ["ALL"]}, ident(workload)
        assert context.get("privileged") is not True, ident(workload)


def test_postgres_and_redis_meet_the_restricted_pod_security_standard(
    default_run: ProgramRun,
) -> None:
    _restricted(obj(default_run, "StatefulSet", "postgres"), ImageUser(70, 70))
    _restricted(obj(default_run, "StatefulSet", "redis"), ImageUser(999, 1000))


@pytest.mark.parametrize(("name", "non_root"), [("default", False), ("non-root", True)])
def test_app_containers_are_hardened(name: str, non_root: bool, program_runs: Runs) -> None:
    run = program_runs(name)
    for app in ("backend", "frontend"):
        deployment = obj(run, "Deployment", app)
        pod = deployment["spec"]["template"]["spec"]
        assert pod["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}, app
        assert pod["securityContext"].get("runAsNonRoot", False) is non_root, app
        assert pod["automountServiceAccountToken"] is False, app
        (container,) = containers(deployment)
        context = container["securityContext"]
        assert context["allowPrivilegeEscalation"] is False, app
        assert context["capabilities"] == {"drop": ["ALL"]}, app
        assert context.get("runAsNonRoot", False) is non_root, app


def test_postgres_uses_the_pg18_data_layout(default_run: ProgramRun) -> None:
    (container,) = containers(obj(default_run, "StatefulSet", "postgres"))
    env = {e["name"]: e.get("value") for e in container["env"]}
    (mount,) = [m for m in container["volumeMounts"] if m["name"] == "data"]
    assert mount["mountPath"] == "/var/lib/postgresql"
    assert env["PGDATA"] == "/var/lib/postgresql/18/docker"


def test_probes_check_each_service(default_run: ProgramRun) -> None:
    (postgres,) = containers(obj(default_run, "StatefulSet", "postgres"))
    for probe in ("readinessProbe", "livenessProbe"):
        assert postgres[probe]["exec"]["command"][0] == "pg_isready", probe
    (redis,) = containers(obj(default_run, "StatefulSet", "redis"))
    assert redis["readinessProbe"]["exec"]["command"] == ["redis-cli", "ping"]
    for app in ("backend", "frontend"):
        (container,) = containers(obj(default_run, "Deployment", app))
        for probe in ("startupProbe", "livenessProbe"):
            assert container[probe]["tcpSocket"]["port"] == "http", f"{app} {probe}"
        assert container["readinessProbe"]["httpGet"]["port"] == "http", f"{app} readinessProbe"
    (backend,) = containers(obj(default_run, "Deployment", "backend"))
    startup = backend["startupProbe"]
    assert startup["periodSeconds"] * startup["failureThreshold"] >= 600, "migrations need time"


def test_app_rollouts_keep_serving(default_run: ProgramRun) -> None:
    for app in ("backend", "frontend"):
        strategy = obj(default_run, "Deployment", app)["spec"]["strategy"]
        assert strategy == {
            "type": "RollingUpdate",
            "rollingUpdate": {"maxUnavailable": 0, "maxSurge": 1},
        }, app


def test_every_container_has_resources(scenario_run: ProgramRun) -> None:
    for workload in workloads(scenario_run):
        for container in containers(workload):
            resources = container["resources"]
            assert resources["requests"]["memory"], ident(workload)
            assert resources["limits"]["memory"], ident(workload)


def test_network_policies_let_only_backend_pods_reach_postgres_and_redis(
    scenario_run: ProgramRun,
) -> None:
    policies = objects(scenario_run, "NetworkPolicy")
    backend_pods = pod_labels(obj(scenario_run, "Deployment", "backend"))
    migration_pods = migrations.labels("dev")
    guarded = {}
    for policy in policies:
        spec = policy["spec"]
        assert spec["policyTypes"] == ["Ingress"], ident(policy)
        (rule,) = spec["ingress"]
        backend_peer, job_peer = rule["from"]
        for peer in (backend_peer, job_peer):
            assert set(peer) == {"podSelector"}, f"{ident(policy)}: only pods of this namespace"
            for kind, other in (("Deployment", "frontend"), ("StatefulSet", "redis")):
                other_pods = pod_labels(obj(scenario_run, kind, other))
                assert not matches(peer["podSelector"]["matchLabels"], other_pods), (
                    f"{ident(policy)} lets {other} in"
                )
        assert matches(backend_peer["podSelector"]["matchLabels"], backend_pods), ident(policy)
        # The backend's migration Job (absent while stopped) runs the same code.
        assert matches(job_peer["podSelector"]["matchLabels"], migration_pods), ident(policy)
        (port,) = rule["ports"]
        for workload in workloads(scenario_run):
            if matches(spec["podSelector"]["matchLabels"], pod_labels(workload)):
                guarded[workload["metadata"]["labels"]["app.kubernetes.io/name"]] = port["port"]
    assert guarded == {"postgres": 5432, "redis": 6379}


def _service_names(run: ProgramRun) -> dict[str, str]:
    return {app: obj(run, "Service", app)["metadata"]["name"] for app in ("backend", "frontend")}


def expected_routes(run: ProgramRun) -> set[tuple[str, str, int]]:
    names = _service_names(run)
    return {
        ("/_next/", names["frontend"], 3000),
        ("/_nstat/", names["frontend"], 3000),
        ("/static/", names["backend"], 8000),
        ("/", names["backend"], 8000),
    }


@pytest.mark.parametrize("name", ["default", "tls-off", "prebuilt"])
def test_ingress_routes_are_exactly_the_seeds(name: str, program_runs: Runs) -> None:
    run = program_runs(name)
    (ingress,) = objects(run, "Ingress")
    (rule,) = ingress["spec"]["rules"]
    assert rule["host"] == "backend-dev.example.com"
    paths = rule["http"]["paths"]
    assert {p["pathType"] for p in paths} == {"Prefix"}
    routes = [
        (p["path"], p["backend"]["service"]["name"], p["backend"]["service"]["port"]["number"])
        for p in paths
    ]
    assert len(routes) == 4
    assert set(routes) == expected_routes(run)


def test_httproute_routes_are_exactly_the_seeds(program_runs: Runs) -> None:
    run = program_runs("gateway")
    (route,) = objects(run, "HTTPRoute")
    routes = []
    for rule in route["spec"]["rules"]:
        (target,) = rule["backendRefs"]
        for match in rule["matches"]:
            assert match["path"]["type"] == "PathPrefix"
            routes.append((match["path"]["value"], target["name"], target["port"]))
    assert len(routes) == 4
    assert set(routes) == expected_routes(run)


def test_httproute_timeouts_are_long_and_consistent(program_runs: Runs) -> None:
    (route,) = objects(program_runs("gateway"), "HTTPRoute")
    for rule in route["spec"]["rules"]:
        timeouts = rule["timeouts"]
        assert timeouts["request"] == f"{WEBSOCKET_TIMEOUT_SECONDS}s"
        assert timeouts["backendRequest"] == f"{WEBSOCKET_TIMEOUT_SECONDS}s"


def test_ingress_has_websocket_timeouts_for_common_controllers(default_run: ProgramRun) -> None:
    (ingress,) = objects(default_run, "Ingress")
    annotations = ingress["metadata"]["annotations"]
    assert annotations["nginx.ingress.kubernetes.io/proxy-read-timeout"] == "3600"
    assert annotations["nginx.ingress.kubernetes.io/proxy-send-timeout"] == "3600"
    assert annotations["nginx.org/proxy-read-timeout"] == "3600s"
    assert annotations["haproxy-ingress.github.io/timeout-tunnel"] == "3600s"


def test_ingress_without_a_class_uses_the_cluster_default(program_runs: Runs) -> None:
    (ingress,) = objects(program_runs("default"), "Ingress")
    assert "ingressClassName" not in ingress["spec"]


def test_ingress_class_comes_from_config() -> None:
    raw = {
        **SCENARIOS["prebuilt"],
        "tims-stack:routing": {"kind": "ingress", "className": "traefik"},
    }
    (ingress,) = objects(run_program(raw), "Ingress")
    assert ingress["spec"]["ingressClassName"] == "traefik"


def test_every_custom_resource_is_a_child_of_a_component(scenario_run: ProgramRun) -> None:
    """`__main__.py` only wires components: no Kubernetes object, build or provider at top level."""
    components = {r.urn for r in scenario_run.resources if not r.custom}
    orphans = [r.urn for r in scenario_run.resources if r.custom and r.parent not in components]
    assert orphans == [], f"registered outside any component: {orphans}"
