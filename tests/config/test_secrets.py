"""Secret config keys: no part of a secret value in any error; secrets only where kept secret.

Also: namespaces the program must not own are refused.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

import pytest

from stack.errors import Reporter
from tests.config.conftest import BUILD, FAKE_TOKEN, PREBUILT, ErrorFn, ParseFn

# 12 labels of 20 characters: a valid 251-character domain whose default host
# (backend-dev.<domain>) is longer than 253 characters.
_LONG_DOMAIN = ".".join(f"confidential{i:02d}labels" for i in range(12))


@dataclass(frozen=True)
class Leak:
    """A config whose error would, without scrubbing, quote a fragment of a secret value."""

    values: dict[str, Any]
    secret_keys: tuple[str, ...]
    key: str  # the issue that must be reported
    allowed: str  # text of what is allowed, which must stay in that issue
    fragments: tuple[str, ...]  # parts of the secret value that must not appear
    env: dict[str, str] = field(default_factory=lambda: {"GITHUB_TOKEN": FAKE_TOKEN})


LEAKS: dict[str, Leak] = {
    # dns_name_problem quotes the bad label.
    "domain-label": Leak(
        {**PREBUILT, "tims-stack:domain": "my_domain.com"},
        ("tims-stack:domain",),
        "tims-stack:domain",
        "lowercase DNS host name",
        ("my_domain.com", "my_domain"),
    ),
    "host-label": Leak(
        {
            **PREBUILT,
            "tims-stack:domain": "example.com",
            "tims-stack:host": "api.hid_den.example.com",
        },
        ("tims-stack:host",),
        "tims-stack:host",
        "lowercase DNS host name",
        ("api.hid_den", "hid_den"),
    ),
    # The host check quotes the (secret) domain in an issue about the (plain) host.
    "host-outside-secret-domain": Leak(
        {**PREBUILT, "tims-stack:domain": "privatecorp.net", "tims-stack:host": "api.other.org"},
        ("tims-stack:domain",),
        "tims-stack:host",
        "itself or a name under it",
        ("privatecorp.net", "privatecorp"),
    ),
    # The default host, built from the secret domain, is quoted in an issue about the host.
    "default-host-from-secret-domain": Leak(
        {**PREBUILT, "tims-stack:domain": _LONG_DOMAIN},
        ("tims-stack:domain",),
        "tims-stack:host",
        "backend-<environment>.<domain>",
        ("confidential", "confidential00labels"),
    ),
    # git_ref_problem quotes the offending path component.
    "build-ref-component": Leak(
        {"tims-stack:build": {"repository": "acme/app", "ref": "release/.hiddenpart"}},
        ("tims-stack:build",),
        "tims-stack:build.ref",
        "a branch name (e.g. main)",
        (".hiddenpart", "hiddenpart", "release"),
    ),
    # git_ref_problem quotes the offending character.
    "build-ref-character": Leak(
        {"tims-stack:build": {"repository": "acme/app", "ref": "feature/x~y"}},
        ("tims-stack:build",),
        "tims-stack:build.ref",
        "a branch name (e.g. main)",
        ("'~'", "feature", "x~y"),
    ),
    # _placeholder_problem quotes the unknown placeholder.
    "build-inputs-placeholder": Leak(
        {"tims-stack:build": {"repository": "acme/app", "inputs": {"tag": "{tag}-{classified}"}}},
        ("tims-stack:build",),
        "tims-stack:build.inputs.tag",
        "only the placeholders",
        ("classified",),
    ),
    "images-tag": Leak(
        {"github:owner": "acme", "tims-stack:images": {"tag": "-restrictedtag"}},
        ("tims-stack:images",),
        "tims-stack:images.tag",
        "a Docker tag",
        ("restrictedtag",),
    ),
    # _official_image_problem quotes the image tag.
    "postgres-image-tag": Leak(
        {**PREBUILT, "tims-stack:postgres": {"image": "postgres:undisclosed"}},
        ("tims-stack:postgres",),
        "tims-stack:postgres.image",
        "pinning a supported major version",
        ("undisclosed",),
    ),
    # A secure app env makes the whole tims-stack:backend/frontend object secret: the
    # rules between its fields must not quote its numbers and quantities either.
    "backend-autoscaling-max-below-min": Leak(
        {
            **PREBUILT,
            "tims-stack:backend": {
                "env": {"API_KEY": "k"},
                "autoscaling": {"min": 37, "max": 29},
            },
        },
        ("tims-stack:backend",),
        "tims-stack:backend.autoscaling.max",
        "max >= min",
        ("37", "29"),
    ),
    "frontend-request-above-limit": Leak(
        {
            **PREBUILT,
            "tims-stack:frontend": {
                "env": {"API_KEY": "k"},
                "resources": {"requests": {"memory": "1234Mi"}, "limits": {"memory": "999Mi"}},
            },
        },
        ("tims-stack:frontend",),
        "tims-stack:frontend.resources.requests.memory",
        "a request no larger than the limit",
        ("1234Mi", "999Mi"),
    ),
    # The 'm' hint on a memory quantity rebuilt the value ('777m' -> '777Mi') in the
    # allowed text, which is all a secret key's issue keeps.
    "backend-memory-in-thousandths": Leak(
        {
            **PREBUILT,
            "tims-stack:backend": {
                "env": {"API_KEY": "k"},
                "resources": {"requests": {"memory": "777m"}},
            },
        },
        ("tims-stack:backend",),
        "tims-stack:backend.resources.requests.memory",
        "'m' means thousandths here",
        ("777",),
    ),
    # origins_problem quotes the entry without a scheme.
    "backend-trusted-origins": Leak(
        {
            **PREBUILT,
            "tims-stack:backend": {
                "env": {"EXTRA_TRUSTED_ORIGINS": "https://ok.example.org,hushhush.internal"}
            },
        },
        ("tims-stack:backend",),
        "tims-stack:backend.env.EXTRA_TRUSTED_ORIGINS",
        "a comma list of origins",
        ("hushhush", "ok.example.org"),
    ),
}


def _messages(error: Any, key: str) -> list[str]:
    return [issue.message for issue in error.issues if issue.key == key]


@pytest.mark.parametrize("leak", LEAKS.values(), ids=LEAKS.keys())
def test_errors_show_no_fragment_of_a_secret_value(config_error: ErrorFn, leak: Leak) -> None:
    error = config_error(leak.values, secret_keys=leak.secret_keys, env=leak.env)
    text = str(error)
    for fragment in leak.fragments:
        assert fragment.lower() not in text.lower(), (
            f"{leak.key}: fragment {fragment!r} of secret {leak.secret_keys} shown: {text}"
        )


@pytest.mark.parametrize("leak", LEAKS.values(), ids=LEAKS.keys())
def test_errors_about_secret_values_keep_the_key_and_what_is_allowed(
    config_error: ErrorFn, leak: Leak
) -> None:
    error = config_error(leak.values, secret_keys=leak.secret_keys, env=leak.env)
    messages = _messages(error, leak.key)
    assert messages, f"no issue for {leak.key}: {error.issues}"
    assert any(leak.allowed in message for message in messages), (
        f"{leak.key}: what is allowed ({leak.allowed!r}) is missing: {messages}"
    )


def test_same_errors_for_plain_keys_still_show_the_value(config_error: ErrorFn) -> None:
    """Scrubbing is for secrets only: a plain key's error still says what was found."""
    error = config_error({**PREBUILT, "tims-stack:domain": "my_domain.com"})
    messages = _messages(error, "tims-stack:domain")
    assert messages, f"no tims-stack:domain issue: {error.issues}"
    assert "'my_domain'" in messages[0], f"tims-stack:domain: {messages[0]!r}"


def test_a_plain_app_config_keeps_the_hint_built_from_its_value(config_error: ErrorFn) -> None:
    """The 'Mi' hint hidden for a secure tims-stack:backend still helps a plain one."""
    key = "tims-stack:backend.resources.requests.memory"
    error = config_error(
        {**PREBUILT, "tims-stack:backend": {"resources": {"requests": {"memory": "777m"}}}}
    )
    messages = _messages(error, key)
    assert messages, f"no {key} issue: {error.issues}"
    assert "did you mean '777Mi'?" in messages[0], f"{key}: hint lost: {messages[0]!r}"


def test_the_reporter_shows_no_value_of_a_field_of_a_secret_key() -> None:
    """The second net under `add`: `show` itself never renders a secret key's value."""
    report = Reporter(("tims-stack:backend",), {"tims-stack:backend": '{"replicas": 31337}'})
    assert report.show("tims-stack:backend.replicas", 31337) == "<secret value>"


def test_secret_token_pasted_into_a_plain_key_is_not_echoed(config_error: ErrorFn) -> None:
    """The value of a secret key is scrubbed from every message, whatever key it is about."""
    url = f"https://api.github.com/?access_token={FAKE_TOKEN}"
    error = config_error(
        {**PREBUILT, "github:token": FAKE_TOKEN, "github:baseUrl": url},
        secret_keys=("github:token",),
    )
    messages = _messages(error, "github:baseUrl")
    assert messages, f"no github:baseUrl issue: {error.issues}"
    assert "has a query" in messages[0], f"github:baseUrl: the problem is missing: {messages[0]!r}"
    for fragment in (FAKE_TOKEN, FAKE_TOKEN[:20], "FAKE0TOKEN"):
        assert fragment not in str(error), f"github:baseUrl: token fragment {fragment!r} shown"


# ------------------------------------------------------------ where secrets are allowed

PLAIN_KEYS_SET_SECRET: dict[str, tuple[dict[str, Any], str]] = {
    # `pulumi config set --secret --path tims-stack:build.inputs.token ...`
    "build-input": (
        {"tims-stack:build": {"repository": "acme/app", "inputs": {"tag": "{tag}", "key": "x"}}},
        "tims-stack:build",
    ),
    "domain": ({**PREBUILT, "tims-stack:domain": "example.com"}, "tims-stack:domain"),
    "images": (PREBUILT, "tims-stack:images"),
    "github-owner": (PREBUILT, "github:owner"),
}


@pytest.mark.parametrize(
    ("values", "key"), PLAIN_KEYS_SET_SECRET.values(), ids=PLAIN_KEYS_SET_SECRET.keys()
)
def test_secret_value_under_a_key_read_as_plain_text_is_refused(
    config_error: ErrorFn, values: dict[str, Any], key: str
) -> None:
    error = config_error(values, secret_keys=(key,), env={"GITHUB_TOKEN": FAKE_TOKEN})
    messages = _messages(error, key)
    assert messages, f"secret {key} accepted: {error.issues}"
    message = messages[0]
    for needed in ("plain text", "state", "without --secret", "tims-stack:backend.env"):
        assert needed in message, f"{key}: {needed!r} missing from {message!r}"


@pytest.mark.parametrize("key", ["github:token", "tims-stack:backend", "tims-stack:frontend"])
def test_keys_the_program_keeps_secret_may_be_secret(parse: ParseFn, key: str) -> None:
    values = {
        **BUILD,
        "github:token": FAKE_TOKEN,
        "tims-stack:backend": {"env": {"API_KEY": "k"}},
        "tims-stack:frontend": {"env": {"API_KEY": "k"}},
    }
    secret_keys = tuple({"github:token", key})
    config = parse(values, secret_keys=secret_keys)
    assert config.github.has_token, f"secret {key}: config not loaded"


# ------------------------------------------------------------ namespaces


@pytest.mark.parametrize("namespace", ["default", "kube-system", "kube-public", "kube-node-lease"])
def test_namespaces_of_the_cluster_are_refused(config_error: ErrorFn, namespace: str) -> None:
    error = config_error({**PREBUILT, "tims-stack:namespace": namespace})
    messages = _messages(error, "tims-stack:namespace")
    assert messages, f"namespace {namespace!r} accepted: {error.issues}"
    assert re.search(r"destroy.*deletes", messages[0]), (
        f"namespace {namespace!r}: the reason (destroy deletes it) is missing: {messages[0]!r}"
    )


@pytest.mark.parametrize("namespace", ["kubernetes-dashboard", "my-kube-lab", "defaults"])
def test_namespaces_only_resembling_reserved_ones_are_accepted(
    parse: ParseFn, namespace: str
) -> None:
    config = parse({**PREBUILT, "tims-stack:namespace": namespace})
    assert config.namespace == namespace, f"namespace {namespace!r} not used"


def test_rules_between_app_fields_show_the_values_of_a_plain_app_config(
    config_error: ErrorFn,
) -> None:
    error = config_error(
        {
            **PREBUILT,
            "tims-stack:backend": {"autoscaling": {"min": 5, "max": 2}},
            "tims-stack:frontend": {
                "resources": {"requests": {"cpu": "2"}, "limits": {"cpu": "1"}}
            },
        }
    )
    (autoscaling,) = _messages(error, "tims-stack:backend.autoscaling.max")
    assert "got 2, which is less than min 5" in autoscaling
    (resources,) = _messages(error, "tims-stack:frontend.resources.requests.cpu")
    assert "got '2', which exceeds the limit '1'" in resources


# ------------------------------------------------------------ ordinary words next to secrets


def test_hints_keep_words_that_a_secret_value_also_contains(config_error: ErrorFn) -> None:
    """A message is built from keys and rules, so a word the password shares stays."""
    error = config_error(
        {
            **PREBUILT,
            "tims-stack:postgres": {"mode": "external", "externl": {}},
            "tims-stack:postgresPassword": "correct-horse-external-battery",
        },
        secret_keys=("tims-stack:postgresPassword",),
    )
    (message,) = _messages(error, "tims-stack:postgres.externl")
    assert "did you mean 'external'" in message, f"tims-stack:postgres.externl: {message!r}"
    assert "mode, external" in message, f"tims-stack:postgres.externl: list garbled: {message!r}"
    assert "<secret>" not in str(error), f"an ordinary word was scrubbed: {error}"
    assert "correct-horse" not in str(error), f"the password is shown: {error}"


def test_a_secure_app_env_does_not_scrub_words_it_contains(config_error: ErrorFn) -> None:
    error = config_error(
        {
            **PREBUILT,
            "tims-stack:backend": {"env": {"UPSTREAM": "http://frontend:3000/app"}},
            "tims-stack:frontnd": {},
        },
        secret_keys=("tims-stack:backend",),
    )
    (message,) = _messages(error, "tims-stack:frontnd")
    assert "did you mean 'frontend'" in message, f"tims-stack:frontnd: {message!r}"
    assert "<secret>" not in str(error), f"an ordinary word was scrubbed: {error}"
