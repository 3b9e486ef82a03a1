"""Defaults and derived values of a valid config."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from stack.config import DEFAULT_BUILD_INPUTS, RoutingConfig
from tests.config.conftest import (
    BUILD,
    FAKE_TOKEN,
    PREBUILT,
    ErrorFn,
    ParseFn,
    issue_message,
    with_overrides,
)

TOKEN_ENV = {"GITHUB_TOKEN": FAKE_TOKEN}


def test_environment_defaults_to_the_stack_name(parse: ParseFn) -> None:
    assert parse(PREBUILT, stack="staging").environment == "staging", "environment of stack staging"


def test_namespace_defaults_to_project_and_environment(parse: ParseFn) -> None:
    assert parse(PREBUILT, stack="pr-12").namespace == "tims-stack-pr-12", "namespace of pr-12"


def test_long_environment_gets_a_truncated_hashed_namespace(parse: ParseFn) -> None:
    environment = "e" * 63
    namespace = parse(PREBUILT, stack=environment).namespace
    assert len(namespace) <= 63, f"namespace {namespace!r} is longer than 63"
    assert namespace.startswith("tims-stack-eee"), f"namespace {namespace!r} lost its prefix"


def test_explicit_environment_and_namespace_win(parse: ParseFn) -> None:
    config = parse(
        {**PREBUILT, "tims-stack:environment": "qa", "tims-stack:namespace": "team-qa"},
        stack="PR_12",
    )
    assert (config.environment, config.namespace) == ("qa", "team-qa"), "explicit values"


def test_empty_strings_mean_derive(parse: ParseFn) -> None:
    """Pulumi.yaml declares "" defaults for the derived keys; "" must act as unset."""
    blanks = {f"tims-stack:{k}": "" for k in ("environment", "namespace", "domain", "host", "tls")}
    config = parse({**PREBUILT, **blanks}, stack="dev")
    assert (config.environment, config.namespace, config.domain, config.host, config.tls) == (
        "dev",
        "tims-stack-dev",
        None,
        None,
        False,
    ), "derived values when every derived key is the empty string"


def test_no_domain_means_no_host_no_tls_no_public_url(parse: ParseFn) -> None:
    config = parse(PREBUILT)
    assert (config.domain, config.host, config.tls, config.public_url) == (None, None, False, None)


def test_host_defaults_to_the_seed_pattern(parse: ParseFn) -> None:
    config = parse({**PREBUILT, "tims-stack:domain": "example.com"}, stack="pr-7")
    assert config.host == "backend-pr-7.example.com", "default host"


def test_tls_defaults_on_with_a_domain(parse: ParseFn) -> None:
    config = parse({**PREBUILT, "tims-stack:domain": "example.com"})
    assert config.tls is True, "tls with a domain"
    assert config.public_url == "https://backend-dev.example.com", "public URL with TLS"


def test_tls_can_be_switched_off_with_a_domain(parse: ParseFn) -> None:
    config = parse({**PREBUILT, "tims-stack:domain": "example.com", "tims-stack:tls": "false"})
    assert config.public_url == "http://backend-dev.example.com", "public URL without TLS"


def test_explicit_host_under_the_domain_is_kept(parse: ParseFn) -> None:
    values = {**PREBUILT, "tims-stack:domain": "example.com", "tims-stack:host": "app.example.com"}
    assert parse(values).host == "app.example.com", "explicit host"


def test_host_may_be_the_domain_itself(parse: ParseFn) -> None:
    values = {**PREBUILT, "tims-stack:domain": "example.com", "tims-stack:host": "example.com"}
    assert parse(values).host == "example.com", "host equal to the domain"


def test_routing_defaults_to_ingress_with_the_default_class(parse: ParseFn) -> None:
    assert parse(PREBUILT).routing == RoutingConfig(kind="ingress"), "default routing"


def test_gateway_routing_is_read_with_camel_case_fields(parse: ParseFn) -> None:
    routing = {
        "kind": "gateway",
        "gateway": "shared",
        "gatewayNamespace": "gw",
        "sectionName": "https",
    }
    config = parse({**PREBUILT, "tims-stack:routing": routing})
    assert (
        config.routing.gateway,
        config.routing.gateway_namespace,
        config.routing.section_name,
    ) == (
        "shared",
        "gw",
        "https",
    ), "gateway routing fields"


def test_scalar_defaults(parse: ParseFn) -> None:
    config = parse(PREBUILT)
    assert (config.cluster_issuer, config.stopped, config.run_as_non_root) == (
        "letsencrypt-prod",
        False,
        False,
    ), "clusterIssuer, stopped, runAsNonRoot defaults"


def test_booleans_are_read(parse: ParseFn) -> None:
    config = parse({**PREBUILT, "tims-stack:stopped": "true", "tims-stack:runAsNonRoot": "true"})
    assert (config.stopped, config.run_as_non_root) == (True, True), "stopped and runAsNonRoot"


def test_replicas_default_to_two_backends_and_one_frontend(parse: ParseFn) -> None:
    config = parse(PREBUILT)
    assert (config.backend.replicas, config.frontend.replicas) == (2, 1), "default replicas"


def test_zero_replicas_are_allowed(parse: ParseFn) -> None:
    config = parse({**PREBUILT, "tims-stack:backend": {"replicas": 0}})
    assert config.backend.replicas == 0, "backend replicas 0"


def test_app_env_and_resources_are_read(parse: ParseFn) -> None:
    backend = {
        "env": {"LOG_LEVEL": "info"},
        "resources": {"requests": {"cpu": "250m", "memory": "512Mi"}, "limits": {"cpu": 1}},
    }
    config = parse({**PREBUILT, "tims-stack:backend": backend})
    assert config.backend.env == {"LOG_LEVEL": "info"}, "backend env"
    assert config.backend.resources.requests == {"cpu": "250m", "memory": "512Mi"}, "requests"
    assert config.backend.resources.limits == {"memory": "1Gi", "cpu": "1"}, (
        "numeric quantity kept as a string, next to the default memory limit"
    )


def test_null_fields_inside_objects_count_as_unset(parse: ParseFn) -> None:
    config = parse({**PREBUILT, "tims-stack:postgres": {"storageClass": None, "storage": "2Gi"}})
    assert (config.postgres.storage_class, config.postgres.storage) == (None, "2Gi")


def test_source_is_prebuilt_without_a_build_repository(parse: ParseFn) -> None:
    images = parse(PREBUILT).images
    assert (images.source, images.tag, images.private) == ("prebuilt", "v1.2.3", False)


def test_prebuilt_repositories_default_to_ghcr_of_the_owner(parse: ParseFn) -> None:
    images = parse(with_overrides(PREBUILT, {"github:owner": "AcMe"})).images
    assert (images.backend, images.frontend) == (
        "ghcr.io/acme/tims-stack-backend-image-prod",
        "ghcr.io/acme/tims-stack-frontend-image-prod",
    ), "default repositories use the lowercased github:owner"


def test_source_is_build_when_a_build_repository_is_set(parse: ParseFn) -> None:
    images = parse(BUILD, env=TOKEN_ENV).images
    assert (images.source, images.tag) == ("build", None), "build mode has no fixed tag"


def test_build_images_are_private_by_default(parse: ParseFn) -> None:
    assert parse(BUILD, env=TOKEN_ENV).images.private is True, "build-mode images.private"


def test_build_repositories_default_to_the_repository_owner(parse: ParseFn) -> None:
    values = {"tims-stack:build": {"repository": "Tbscode/tims-stack-anystack"}}
    images = parse(values, env=TOKEN_ENV).images
    assert images.backend == "ghcr.io/tbscode/tims-stack-backend-image-prod", "owner from repo"


def test_github_owner_wins_over_the_repository_owner(parse: ParseFn) -> None:
    values = {**BUILD, "github:owner": "other-org"}
    images = parse(values, env=TOKEN_ENV).images
    assert images.frontend == "ghcr.io/other-org/tims-stack-frontend-image-prod"


def test_build_defaults(parse: ParseFn) -> None:
    build = parse(BUILD, env=TOKEN_ENV).build
    assert (build.workflow, build.ref, build.timeout, build.delete_images_on_destroy) == (
        "build-images.yml",
        "main",
        1800,
        True,
    ), "build defaults"
    assert build.inputs == DEFAULT_BUILD_INPUTS, "build.inputs defaults to the template mapping"


def test_build_ref_branch_has_no_tag(parse: ParseFn) -> None:
    values = {"tims-stack:build": {"repository": "acme/app", "ref": "release/v1"}}
    build = parse(values, env=TOKEN_ENV).build
    assert (build.ref, build.tag) == ("release/v1", None), "a branch name is not a tag"


def test_build_ref_refs_tags_names_a_tag(parse: ParseFn) -> None:
    values = {"tims-stack:build": {"repository": "acme/app", "ref": "refs/tags/v1.2.0"}}
    build = parse(values, env=TOKEN_ENV).build
    assert (build.ref, build.tag) == ("refs/tags/v1.2.0", "v1.2.0"), "refs/tags/<name> is a tag"


def test_backend_env_may_set_the_settings_the_contract_leaves_tunable(parse: ParseFn) -> None:
    env = {"DJANGO_DEBUG": "true", "DJANGO_ALLOWED_HOSTS": "x.example.com"}
    values = {**PREBUILT, "tims-stack:backend": {"env": env}}
    assert parse(values).backend.env == env, "DJANGO_DEBUG/ALLOWED_HOSTS are user settings"


def test_backend_env_trusts_origins_django_accepts(parse: ParseFn) -> None:
    # Each entry with a scheme (Django 4), wildcards and ports included.
    origins = "https://app.example.org,https://*.example.net,http://localhost:3000"
    values = {**PREBUILT, "tims-stack:backend": {"env": {"EXTRA_TRUSTED_ORIGINS": origins}}}
    assert parse(values).backend.env["EXTRA_TRUSTED_ORIGINS"] == origins


def test_build_inputs_replace_the_default_mapping(parse: ParseFn) -> None:
    inputs = {"branch": "{ref}", "git_user": "{owner}", "unique_id": "{tag}"}
    values = {"tims-stack:build": {"repository": "acme/app", "inputs": inputs}}
    assert parse(values, env=TOKEN_ENV).build.inputs == inputs, "the seed workflow's mapping"


def test_postgres_defaults_and_major(parse: ParseFn) -> None:
    postgres = parse(PREBUILT).postgres
    assert (postgres.image, postgres.storage, postgres.major) == ("postgres:18-alpine", "1Gi", 18)


def test_postgres_major_comes_from_the_tag(parse: ParseFn) -> None:
    values = {
        **PREBUILT,
        "tims-stack:postgres": {"image": "docker.io/library/postgres:17.6-bookworm"},
    }
    assert parse(values).postgres.major == 17, "major of 17.6-bookworm"


def test_postgres_image_may_pin_a_digest_too(parse: ParseFn) -> None:
    image = "postgres:16-alpine@sha256:" + "a" * 64
    assert parse({**PREBUILT, "tims-stack:postgres": {"image": image}}).postgres.major == 16


def test_valkey_is_accepted_for_redis(parse: ParseFn) -> None:
    values = {**PREBUILT, "tims-stack:redis": {"image": "valkey/valkey:8.1-alpine"}}
    assert parse(values).redis.major == 8, "valkey major"


def test_redis_default_major(parse: ParseFn) -> None:
    assert parse(PREBUILT).redis.major == 7, "default redis image major"


def test_github_defaults(parse: ParseFn) -> None:
    github = parse(PREBUILT).github
    assert (github.owner, github.base_url, github.has_token) == (
        "acme",
        "https://api.github.com",
        False,
    )


def test_base_url_trailing_slash_is_dropped(parse: ParseFn) -> None:
    values = {**PREBUILT, "github:baseUrl": "https://ghe.example.com/api/v3/"}
    assert parse(values).github.base_url == "https://ghe.example.com/api/v3"


def test_plain_http_base_url_is_allowed_on_loopback(parse: ParseFn) -> None:
    values = {**PREBUILT, "github:baseUrl": "http://127.0.0.1:8765"}
    assert parse(values).github.base_url == "http://127.0.0.1:8765", "emulator URL"


def test_token_from_the_environment_counts(parse: ParseFn) -> None:
    assert parse(PREBUILT, env=TOKEN_ENV).github.has_token is True, "GITHUB_TOKEN present"


def test_secret_token_in_config_counts(parse: ParseFn) -> None:
    values = {**BUILD, "github:token": FAKE_TOKEN}
    config = parse(values, secret_keys=("github:token",))
    assert config.github.has_token is True, "github:token present"
    assert FAKE_TOKEN not in repr(config), "the token value is not part of StackConfig"


def test_routing_without_a_domain_warns(parse: ParseFn) -> None:
    notes: list[str] = []
    parse(
        {**PREBUILT, "tims-stack:routing": {"kind": "gateway", "gateway": "g"}}, warn=notes.append
    )
    assert any("tims-stack:domain" in note for note in notes), f"warnings: {notes}"


def test_default_routing_without_a_domain_does_not_warn(parse: ParseFn) -> None:
    notes: list[str] = []
    parse({**PREBUILT, "tims-stack:routing": {"kind": "ingress"}}, warn=notes.append)
    assert notes == [], f"unexpected warnings: {notes}"


def test_inputs_without_correlation_id_warn(parse: ParseFn) -> None:
    notes: list[str] = []
    values = {
        "tims-stack:build": {
            "repository": "acme/app",
            "inputs": {"branch": "{ref}", "unique_id": "{tag}"},
        }
    }
    parse(values, env=TOKEN_ENV, warn=notes.append)
    assert any("{correlation_id}" in note for note in notes), f"warnings: {notes}"


def test_stack_config_is_frozen(parse: ParseFn) -> None:
    config = parse(PREBUILT)
    with pytest.raises(ValidationError, match="frozen"):
        config.stopped = True


def test_parse_config_reads_only_the_env_it_is_given(
    parse: ParseFn, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("GITHUB_TOKEN", FAKE_TOKEN)
    assert parse(PREBUILT, env={}).github.has_token is False, "process GITHUB_TOKEN was read"


def test_images_the_shipped_template_does_not_push_to_are_warned_about(parse: ParseFn) -> None:
    notes: list[str] = []
    values = {
        "tims-stack:build": {"repository": "acme/app"},
        "github:owner": "acme-org",  # images default to ghcr.io/acme-org/...
    }
    parse(values, env=TOKEN_ENV, warn=notes.append)
    assert any(
        "tims-stack:images.backend" in note and "ghcr.io/acme/tims-stack-backend-image-prod" in note
        for note in notes
    ), f"no note about the template pushing elsewhere: {notes}"


def test_default_build_images_match_where_the_template_pushes(parse: ParseFn) -> None:
    notes: list[str] = []
    parse({"tims-stack:build": {"repository": "Acme/app"}}, env=TOKEN_ENV, warn=notes.append)
    assert not [n for n in notes if "template pushes" in n], notes


@pytest.mark.parametrize(
    ("key", "image", "major"),
    [
        ("postgres", "mirror.gcr.io/library/postgres:18-alpine", 18),
        ("postgres", "public.ecr.aws/docker/library/postgres:17.6", 17),
        ("postgres", "library/postgres:18", 18),
        ("redis", "registry.internal:5000/dockerhub/library/redis:7.4-alpine", 7),
        ("redis", "harbor.example.com/proxy/valkey/valkey:8.1-alpine", 8),
    ],
)
def test_official_images_through_a_mirror_are_accepted(
    parse: ParseFn, key: str, image: str, major: int
) -> None:
    config = parse({**PREBUILT, f"tims-stack:{key}": {"image": image}})
    assert getattr(config, key).major == major, f"{key}.image {image}"


# ------------------------------------------------------------ resources: defaults merged

_BACKEND_DEFAULT = {"requests": {"cpu": "250m", "memory": "512Mi"}, "limits": {"memory": "1Gi"}}


def test_unset_backend_resources_are_the_documented_defaults(parse: ParseFn) -> None:
    resources = parse(PREBUILT).backend.resources
    assert resources.model_dump() == _BACKEND_DEFAULT, "tims-stack:backend.resources"


def test_a_partial_resources_override_keeps_the_other_defaults(parse: ParseFn) -> None:
    """Setting requests.cpu alone must not drop the memory request and the limit."""
    backend = {"resources": {"requests": {"cpu": "500m"}}}
    resources = parse({**PREBUILT, "tims-stack:backend": backend}).backend.resources
    assert resources.requests == {"cpu": "500m", "memory": "512Mi"}, "backend requests"
    assert resources.limits == {"memory": "1Gi"}, "backend limits"


def test_a_request_above_a_default_limit_says_to_raise_the_limit(config_error: ErrorFn) -> None:
    backend = {"resources": {"requests": {"memory": "2Gi"}}}
    error = config_error({**PREBUILT, "tims-stack:backend": backend})
    message = issue_message(error, "tims-stack:backend.resources.requests.memory", "2Gi")
    assert "exceeds the limit '1Gi'" in message, message
    assert "unless you set limits.memory" in message, message


@pytest.mark.parametrize(
    ("mode", "requests"),
    [
        ("inCluster", {"cpu": "100m", "memory": "256Mi"}),
        ("cloudnativepg", {"cpu": "250m", "memory": "512Mi"}),
    ],
)
def test_postgres_resources_default_by_mode(
    parse: ParseFn, mode: str, requests: dict[str, str]
) -> None:
    config = parse({**PREBUILT, "tims-stack:postgres": {"mode": mode}})
    assert config.postgres.resources.requests == requests, f"postgres mode {mode}"
    assert config.postgres.resources.limits == {"memory": "1Gi"}, f"postgres mode {mode}"
