"""The malformed-config table: every entry is rejected, by a message naming the key."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import pytest

from tests.config.conftest import (
    BUILD,
    FAKE_TOKEN,
    PREBUILT,
    ErrorFn,
    issue_message,
    with_overrides,
)

TOKEN_ENV = {"GITHUB_TOKEN": FAKE_TOKEN}


@dataclass(frozen=True)
class Case:
    id: str
    overrides: dict[str, Any]
    key: str
    """The full key the error must name."""
    says: str = ""
    """A fragment the message must contain (what is allowed, or a hint)."""
    base: dict[str, Any] = field(default_factory=lambda: PREBUILT)
    stack: str = "dev"
    env: dict[str, str] = field(default_factory=dict)


def build(**fields: Any) -> dict[str, Any]:
    return {"tims-stack:build": {"repository": "acme/app", **fields}}


def build_case(id: str, overrides: dict[str, Any], key: str, says: str = "") -> Case:
    """A build-mode case: valid apart from `overrides`, with a token in the environment."""
    return Case(id, overrides, key, says, base=BUILD, env=TOKEN_ENV)


def images(**fields: Any) -> dict[str, Any]:
    return {"tims-stack:images": {"tag": "v1", **fields}}


def app(name: str = "backend", **fields: Any) -> dict[str, Any]:
    return {f"tims-stack:{name}": fields}


def resources(**parts: Any) -> dict[str, Any]:
    return app(resources=parts)


NS = "tims-stack:"
B = NS + "backend"
M = NS + "migrations"
CASES = [
    # environment and namespace
    Case("environment-uppercase", {NS + "environment": "Dev"}, NS + "environment", "RFC 1123"),
    Case("environment-too-long", {NS + "environment": "a" * 64}, NS + "environment", "63"),
    Case("environment-leading-dash", {NS + "environment": "-dev"}, NS + "environment"),
    Case("environment-underscore", {NS + "environment": "pr_12"}, NS + "environment"),
    Case("stack-name-not-a-label", {}, NS + "environment", "pulumi config set", stack="PR_12"),
    Case("namespace-invalid", {NS + "namespace": "Tims_Stack"}, NS + "namespace", "RFC 1123"),
    Case("namespace-too-long", {NS + "namespace": "n" * 64}, NS + "namespace", "63"),
    # domain and host
    Case("domain-uppercase", {NS + "domain": "Example.com"}, NS + "domain", "lowercase"),
    Case("domain-trailing-dot", {NS + "domain": "example.com."}, NS + "domain", "trailing dot"),
    Case("domain-label-too-long", {NS + "domain": "a" * 64 + ".com"}, NS + "domain", "63"),
    Case("domain-too-long", {NS + "domain": ".".join(["a" * 60] * 5)}, NS + "domain", "253"),
    Case("domain-ip-address", {NS + "domain": "10.0.0.1"}, NS + "domain", "IP address"),
    Case("domain-wildcard", {NS + "domain": "*.example.com"}, NS + "domain", "wildcard"),
    Case("domain-underscore", {NS + "domain": "my_site.com"}, NS + "domain"),
    Case("domain-empty-label", {NS + "domain": "example..com"}, NS + "domain"),
    Case("host-without-domain", {NS + "host": "app.example.com"}, NS + "host", "tims-stack:domain"),
    Case(
        "host-outside-domain",
        {NS + "domain": "example.com", NS + "host": "app.example.org"},
        NS + "host",
        "under it",
    ),
    Case(
        "host-invalid", {NS + "domain": "example.com", NS + "host": "a b.example.com"}, NS + "host"
    ),
    Case(
        "derived-host-label-too-long",
        {NS + "domain": "example.com", NS + "environment": "e" * 60},
        NS + "host",
        "shorter environment",
    ),
    # routing
    Case("routing-not-json", {NS + "routing": "ingress"}, NS + "routing", "not JSON"),
    Case("routing-array", {NS + "routing": [1]}, NS + "routing", "an object"),
    Case("routing-kind", {NS + "routing": {"kind": "nginx"}}, NS + "routing.kind", "'gateway'"),
    Case(
        "gateway-without-name",
        {NS + "routing": {"kind": "gateway"}},
        NS + "routing.gateway",
        "required",
    ),
    Case(
        "gateway-with-class-name",
        {NS + "routing": {"kind": "gateway", "gateway": "g", "className": "x"}},
        NS + "routing.className",
        "only to kind 'ingress'",
    ),
    Case(
        "ingress-with-gateway-name",
        {NS + "routing": {"kind": "ingress", "gateway": "g"}},
        NS + "routing.gateway",
        "only to kind 'gateway'",
    ),
    Case(
        "ingress-with-section-name",
        {NS + "routing": {"sectionName": "https"}},
        NS + "routing.sectionName",
        "only to kind 'gateway'",
    ),
    Case(
        "gateway-namespace-invalid",
        {NS + "routing": {"kind": "gateway", "gateway": "g", "gatewayNamespace": "GW_System"}},
        NS + "routing.gatewayNamespace",
    ),
    Case(
        "gateway-name-invalid",
        {NS + "routing": {"kind": "gateway", "gateway": "Shared Gateway"}},
        NS + "routing.gateway",
    ),
    Case(
        "routing-python-field-name",
        {NS + "routing": {"class_name": "x"}},
        NS + "routing.class_name",
        "did you mean 'className'",
    ),
    Case(
        "class-name-invalid", {NS + "routing": {"className": "My Class"}}, NS + "routing.className"
    ),
    Case("class-name-empty", {NS + "routing": {"className": ""}}, NS + "routing.className"),
    Case(
        "routing-unknown-key",
        {NS + "routing": {"clasName": "x"}},
        NS + "routing.clasName",
        "className",
    ),
    # tls, clusterIssuer, stopped, runAsNonRoot
    Case("tls-without-domain", {NS + "tls": "true"}, NS + "tls", "tims-stack:domain"),
    Case("tls-not-boolean", {NS + "tls": "yes"}, NS + "tls", "true or false"),
    Case("cluster-issuer-invalid", {NS + "clusterIssuer": "Lets Encrypt"}, NS + "clusterIssuer"),
    Case("cluster-issuer-empty", {NS + "clusterIssuer": ""}, NS + "clusterIssuer"),
    Case("stopped-not-boolean", {NS + "stopped": "1"}, NS + "stopped", "true or false"),
    Case("run-as-non-root-not-boolean", {NS + "runAsNonRoot": "yes"}, NS + "runAsNonRoot"),
    # replicas
    Case("replicas-negative", app(replicas=-1), B + ".replicas", ">= 0"),
    Case("replicas-float", app(replicas=1.5), B + ".replicas", "integer"),
    Case("replicas-integral-float", app(replicas=2.0), B + ".replicas", "integer"),
    Case("replicas-string", app(replicas="2"), B + ".replicas", "without quotes"),
    Case("replicas-boolean", app(replicas=True), B + ".replicas", "integer"),
    Case("frontend-replicas-word", app("frontend", replicas="one"), NS + "frontend.replicas"),
    # env maps
    Case("env-name-digit", app(env={"1BAD": "x"}), B + ".env.1BAD", "environment variable name"),
    Case("env-name-dash", app(env={"MY-VAR": "x"}), B + ".env.MY-VAR", "environment variable name"),
    Case("env-unique-id", app(env={"UNIQUE_ID": "x"}), B + ".env.UNIQUE_ID", "set by the program"),
    Case("env-db-host", app(env={"DB_HOST": "x"}), B + ".env.DB_HOST", "Postgres"),
    Case(
        "env-secret-key",
        app(env={"DJANGO_SECRET_KEY": "x"}),
        B + ".env.DJANGO_SECRET_KEY",
        "never be a literal",
    ),
    Case(
        "env-cookie-domain",
        app(env={"SESSION_COOKIE_DOMAIN": ".x"}),
        B + ".env.SESSION_COOKIE_DOMAIN",
        "set by the program",
    ),
    Case(
        "env-debug-not-boolean", app(env={"DJANGO_DEBUG": "yes"}), B + ".env.DJANGO_DEBUG", "true"
    ),
    Case(
        "env-origin-without-scheme",
        app(env={"EXTRA_TRUSTED_ORIGINS": "https://a.example.org,app.example.org"}),
        B + ".env.EXTRA_TRUSTED_ORIGINS",
        "'app.example.org'",
    ),
    Case(
        "env-origins-with-a-space",
        app(env={"EXTRA_TRUSTED_ORIGINS": "https://a.example.org, https://b.example.org"}),
        B + ".env.EXTRA_TRUSTED_ORIGINS",
        "scheme://host[:port]",
    ),
    Case(
        "env-origins-trailing-comma",
        app(env={"EXTRA_TRUSTED_ORIGINS": "https://a.example.org,"}),
        B + ".env.EXTRA_TRUSTED_ORIGINS",
        "comma list of origins",
    ),
    Case(
        "frontend-env-root-url",
        app("frontend", env={"ROOT_URL": "x"}),
        NS + "frontend.env.ROOT_URL",
        "set by the program",
    ),
    Case(
        "frontend-env-ws",
        app("frontend", env={"WEBSOCKET_PROTOCOL": "ws://"}),
        NS + "frontend.env.WEBSOCKET_PROTOCOL",
        "TLS",
    ),
    Case("env-value-boolean", app(env={"DEBUG": True}), B + ".env.DEBUG", "a string"),
    Case(
        "env-value-number",
        app("frontend", env={"PORT": 3000}),
        NS + "frontend.env.PORT",
        "a string",
    ),
    Case("env-not-object", app(env=["A=b"]), B + ".env", "an object"),
    # resources
    Case(
        "resources-unknown-part",
        resources(request={"cpu": "1"}),
        B + ".resources.request",
        "requests",
    ),
    Case(
        "resources-unknown-name",
        resources(requests={"gpu": "1"}),
        B + ".resources.requests.gpu",
        "cpu",
    ),
    Case(
        "resources-bad-quantity",
        resources(requests={"memory": "lots"}),
        B + ".resources.requests.memory",
    ),
    Case(
        "resources-memory-milli",
        resources(limits={"memory": "512m"}),
        B + ".resources.limits.memory",
        "512Mi",
    ),
    Case("resources-negative", resources(requests={"cpu": "-1"}), B + ".resources.requests.cpu"),
    Case("resources-boolean", resources(limits={"cpu": True}), B + ".resources.limits.cpu"),
    Case(
        "resources-request-over-limit",
        resources(requests={"memory": "2Gi"}, limits={"memory": "1Gi"}),
        B + ".resources.requests.memory",
        "request <= limit",
    ),
    Case(
        "postgres-resources-bad-quantity",
        {NS + "postgres": {"resources": {"limits": {"cpu": "2 cores"}}}},
        NS + "postgres.resources.limits.cpu",
    ),
    Case(
        "redis-resources-unknown-name",
        {NS + "redis": {"resources": {"limits": {"mem": "1Gi"}}}},
        NS + "redis.resources.limits.mem",
        "memory",
    ),
    # images
    Case("images-source", images(source="docker"), NS + "images.source", "'prebuilt'"),
    Case(
        "image-with-tag",
        images(backend="ghcr.io/acme/back:v1"),
        NS + "images.backend",
        "images.tag",
    ),
    Case(
        "image-with-digest",
        images(frontend="ghcr.io/acme/front@sha256:" + "0" * 64),
        NS + "images.frontend",
        "images.tag",
    ),
    Case(
        "image-uppercase", images(backend="ghcr.io/Acme/back"), NS + "images.backend", "lowercase"
    ),
    Case("image-malformed", images(backend="ghcr.io//back"), NS + "images.backend", "repository"),
    Case("image-not-string", images(backend=7), NS + "images.backend", "string"),
    Case("prebuilt-without-tag", {NS + "images": {}}, NS + "images.tag", "required"),
    Case("tag-invalid", images(tag="-v1"), NS + "images.tag", "Docker tag"),
    Case("tag-with-space", images(tag="v 1"), NS + "images.tag", "Docker tag"),
    Case("private-not-boolean", images(private="yes"), NS + "images.private", "true or false"),
    Case(
        "no-owner-for-default-images",
        {"github:owner": None},
        NS + "images.backend",
        "github:owner",
    ),
    Case(
        "build-source-without-repository",
        {NS + "images": {"source": "build"}},
        NS + "build.repository",
        "required",
        env=TOKEN_ENV,
    ),
    Case("build-with-tag", images(), NS + "images.tag", "not allowed", base=BUILD, env=TOKEN_ENV),
    Case(
        "build-images-off-ghcr",
        {NS + "images": {"backend": "docker.io/acme/back"}},
        NS + "images.backend",
        "ghcr.io",
        base=BUILD,
        env=TOKEN_ENV,
    ),
    Case(
        "private-images-off-ghcr",
        images(private=True, frontend="quay.io/acme/front"),
        NS + "images.frontend",
        "ghcr.io",
        env=TOKEN_ENV,
    ),
    Case("images-unknown-key", images(tags="v1"), NS + "images.tags", "did you mean 'tag'"),
    # build
    build_case(
        "repository-without-slash", build(repository="acme"), NS + "build.repository", "owner/name"
    ),
    build_case("repository-bad-owner", build(repository="-acme/app"), NS + "build.repository"),
    build_case("repository-bad-name", build(repository="acme/my app"), NS + "build.repository"),
    build_case("repository-dot-name", build(repository="acme/.."), NS + "build.repository"),
    build_case("workflow-extension", build(workflow="build.json"), NS + "build.workflow", ".yml"),
    build_case("workflow-path", build(workflow=".github/workflows/b.yml"), NS + "build.workflow"),
    build_case("ref-double-dot", build(ref="feature..x"), NS + "build.ref", "'..'"),
    build_case("ref-space", build(ref="my branch"), NS + "build.ref"),
    build_case("ref-lock", build(ref="release/v1.lock"), NS + "build.ref", ".lock"),
    build_case("ref-empty", build(ref=""), NS + "build.ref"),
    build_case(
        "ref-commit-sha",
        build(ref="0123456789abcdef" * 2 + "01234567"),
        NS + "build.ref",
        "commit sha",
    ),
    build_case("ref-sha256-commit", build(ref="ab" * 32), NS + "build.ref", "commit sha"),
    build_case(
        "ref-heads-qualified", build(ref="refs/heads/main"), NS + "build.ref", "refs/tags/<name>"
    ),
    build_case("ref-tag-empty-name", build(ref="refs/tags/"), NS + "build.ref"),
    build_case(
        "inputs-unknown-placeholder",
        build(inputs={"sha": "{commit}"}),
        NS + "build.inputs.sha",
        "{sha}",
    ),
    build_case("inputs-stray-brace", build(inputs={"sha": "{sha"}), NS + "build.inputs.sha", "'{'"),
    build_case("inputs-format-spec", build(inputs={"sha": "{sha:.7}"}), NS + "build.inputs.sha"),
    build_case("inputs-not-string", build(inputs={"n": 1}), NS + "build.inputs.n", "string"),
    build_case(
        "inputs-bad-name", build(inputs={"1x": "{sha}"}), NS + "build.inputs.1x", "input name"
    ),
    build_case(
        "inputs-too-many",
        build(inputs={f"i{n}": "{sha}" for n in range(26)}),
        NS + "build.inputs",
        "at most 25",
    ),
    build_case("inputs-not-object", build(inputs=["{sha}"]), NS + "build.inputs", "an object"),
    build_case(
        "inputs-without-tag",
        build(inputs={"ref": "{ref}", "sha": "{sha}"}),
        NS + "build.inputs",
        "{tag}",
    ),
    build_case("timeout-zero", build(timeout=0), NS + "build.timeout", ">= 1"),
    build_case("timeout-negative", build(timeout=-5), NS + "build.timeout", ">= 1"),
    build_case("timeout-over-job-limit", build(timeout=21601), NS + "build.timeout", "21600"),
    build_case("timeout-string", build(timeout="1800"), NS + "build.timeout", "without quotes"),
    build_case("timeout-float", build(timeout=1.5), NS + "build.timeout", "integer"),
    build_case(
        "delete-images-not-boolean",
        build(deleteImagesOnDestroy="yes"),
        NS + "build.deleteImagesOnDestroy",
    ),
    build_case(
        "build-unknown-key", build(repo="acme/app"), NS + "build.repo", "did you mean 'repository'"
    ),
    # postgres
    Case(
        "postgres-not-official",
        {NS + "postgres": {"image": "bitnami/postgresql:16"}},
        NS + "postgres.image",
        "official",
    ),
    Case(
        "postgres-other-image-behind-a-registry-host",
        {NS + "postgres": {"image": "mirror.gcr.io/someone/postgres:18"}},
        NS + "postgres.image",
        "official",
    ),
    Case(
        "postgres-latest",
        {NS + "postgres": {"image": "postgres:latest"}},
        NS + "postgres.image",
        "major",
    ),
    Case(
        "postgres-no-tag", {NS + "postgres": {"image": "postgres"}}, NS + "postgres.image", "major"
    ),
    Case(
        "postgres-unpinned-tag",
        {NS + "postgres": {"image": "postgres:alpine"}},
        NS + "postgres.image",
        "version",
    ),
    Case(
        "postgres-old-major",
        {NS + "postgres": {"image": "postgres:9.6"}},
        NS + "postgres.image",
        "before 10",
    ),
    Case(
        "postgres-bad-digest",
        {NS + "postgres": {"image": "postgres:18@sha256:xyz"}},
        NS + "postgres.image",
        "digest",
    ),
    Case("storage-zero", {NS + "postgres": {"storage": "0"}}, NS + "postgres.storage", "positive"),
    Case("redis-storage-zero", {NS + "redis": {"storage": "0"}}, NS + "redis.storage", "positive"),
    Case(
        "redis-storage-class-invalid",
        {NS + "redis": {"storageClass": "Fast_SSD"}},
        NS + "redis.storageClass",
        "StorageClass",
    ),
    Case(
        "storage-negative",
        {NS + "postgres": {"storage": "-1Gi"}},
        NS + "postgres.storage",
        "positive",
    ),
    Case(
        "storage-words", {NS + "postgres": {"storage": "lots"}}, NS + "postgres.storage", "quantity"
    ),
    Case("storage-number", {NS + "postgres": {"storage": 5}}, NS + "postgres.storage", "quantity"),
    Case(
        "storage-class-invalid",
        {NS + "postgres": {"storageClass": "Fast_SSD"}},
        NS + "postgres.storageClass",
    ),
    Case(
        "postgres-unknown-key", {NS + "postgres": {"size": "1Gi"}}, NS + "postgres.size", "Allowed"
    ),
    # redis
    Case(
        "redis-not-official",
        {NS + "redis": {"image": "bitnami/redis:7"}},
        NS + "redis.image",
        "official",
    ),
    Case("redis-latest", {NS + "redis": {"image": "redis:latest"}}, NS + "redis.image", "major"),
    Case("redis-no-tag", {NS + "redis": {"image": "redis"}}, NS + "redis.image", "major"),
    Case(
        "valkey-unpinned", {NS + "redis": {"image": "valkey/valkey:unstable"}}, NS + "redis.image"
    ),
    # github
    Case("owner-underscore", {"github:owner": "acme_corp"}, "github:owner", "login"),
    Case("owner-leading-dash", {"github:owner": "-acme"}, "github:owner", "login"),
    Case(
        "base-url-http",
        {"github:baseUrl": "http://ghe.example.com/api/v3"},
        "github:baseUrl",
        "https",
    ),
    Case("base-url-no-scheme", {"github:baseUrl": "api.github.com"}, "github:baseUrl"),
    Case(
        "base-url-query",
        {"github:baseUrl": "https://api.github.com/?x=1"},
        "github:baseUrl",
        "query",
    ),
    Case("build-without-token", {}, "github:token", "--secret github:token", base=BUILD),
    Case("private-without-token", images(private=True), "github:token", "GITHUB_TOKEN"),
    # unknown and non-object top-level keys
    Case("unknown-top-level-key", {NS + "colour": "blue"}, NS + "colour", "Allowed: environment"),
    Case(
        "object-field-as-top-level-key",
        {NS + "replicas": "2"},
        NS + "replicas",
        "did you mean tims-stack:backend.replicas or tims-stack:frontend.replicas",
    ),
    Case(
        "misspelt-top-level-key", {NS + "stoped": "true"}, NS + "stoped", "did you mean 'stopped'"
    ),
    Case("object-as-yaml-text", {NS + "backend": "{replicas: 2}"}, NS + "backend", "not JSON"),
    Case("object-as-number", {NS + "backend": "3"}, NS + "backend", "an object"),
    Case("object-as-string", {NS + "postgres": '"postgres:18"'}, NS + "postgres", "an object"),
    # migrations (issue 7)
    Case("migrations-not-an-object", {M: "true"}, M, "an object"),
    Case("migrations-unknown-field", {M: {"command": ["x"]}}, M + ".command", "steps"),
    Case("migrations-enabled-string", {M: {"enabled": "false"}}, M + ".enabled", "JSON boolean"),
    Case("migrations-steps-string", {M: {"steps": "migrate"}}, M + ".steps", "a list"),
    Case("migrations-steps-empty", {M: {"steps": []}}, M + ".steps", "1 to 20"),
    Case("migrations-steps-blank", {M: {"steps": ["  "]}}, M + ".steps", "non-empty"),
    Case("migrations-steps-argv-list", {M: {"steps": [["sh", "-c"]]}}, M + ".steps", "shell"),
    Case("migrations-steps-too-many", {M: {"steps": ["true"] * 21}}, M + ".steps", "1 to 20"),
    Case("migrations-timeout-short", {M: {"timeout": 5}}, M + ".timeout", ">= 60"),
    Case("migrations-timeout-long", {M: {"timeout": 86401}}, M + ".timeout", "<= 86400"),
    Case("migrations-timeout-string", {M: {"timeout": "900"}}, M + ".timeout", "JSON number"),
    Case("migrations-backoff-negative", {M: {"backoffLimit": -1}}, M + ".backoffLimit", ">= 0"),
    Case("migrations-backoff-large", {M: {"backoffLimit": 11}}, M + ".backoffLimit", "<= 10"),
]


@pytest.mark.parametrize("case", CASES, ids=[case.id for case in CASES])
def test_malformed_config_is_rejected_naming_the_key(case: Case, config_error: ErrorFn) -> None:
    error = config_error(with_overrides(case.base, case.overrides), stack=case.stack, env=case.env)
    message = issue_message(error, case.key, case.id)
    assert message in str(error), f"{case.id}: the error text does not list {message!r}"
    assert case.says in message, f"{case.id}: {message!r} does not say {case.says!r}"


def test_case_ids_are_unique() -> None:
    ids = [case.id for case in CASES]
    assert len(ids) == len(set(ids)), "duplicate ids in the malformed-config table"
