"""How errors are reported: all at once, with did-you-mean hints, never showing a secret."""

from __future__ import annotations

import pulumi
import pytest

from stack.config import ConfigError, ConfigIssue, Secrets
from tests.config.conftest import BUILD, FAKE_TOKEN, PREBUILT, ErrorFn, ParseFn

SECRET_VALUE = "s3cr3t-VALUE-that-must-not-leak"


def test_every_problem_is_reported_at_once(config_error: ErrorFn) -> None:
    values = {
        **PREBUILT,
        "tims-stack:environment": "Bad_Env",
        "tims-stack:backend": {"replicas": -1},
        "tims-stack:postgres": {"image": "postgres:latest", "storage": "lots"},
        "tims-stack:routing": {"kind": "gateway"},
        "github:baseUrl": "http://github.example.com",
    }
    error = config_error(values)
    expected = {
        "tims-stack:environment",
        "tims-stack:backend.replicas",
        "tims-stack:postgres.image",
        "tims-stack:postgres.storage",
        "tims-stack:routing.gateway",
        "github:baseUrl",
    }
    assert {issue.key for issue in error.issues} == expected, f"issues: {error.issues}"


def test_error_text_lists_one_issue_per_line(config_error: ErrorFn) -> None:
    error = config_error({**PREBUILT, "tims-stack:stopped": "maybe", "tims-stack:tls": "maybe"})
    lines = str(error).splitlines()
    assert len(lines) == 1 + len(error.issues), f"error text: {str(error)!r}"
    assert "2 problems" in lines[0], f"header {lines[0]!r} does not count the problems"
    assert all(any(str(issue) in line for line in lines) for issue in error.issues)


def test_error_names_the_stack(config_error: ErrorFn) -> None:
    error = config_error({**PREBUILT, "tims-stack:stopped": "maybe"}, stack="staging")
    assert "'staging'" in str(error).splitlines()[0], f"header: {str(error).splitlines()[0]!r}"


def test_config_error_is_a_pulumi_run_error(config_error: ErrorFn) -> None:
    """RunError makes the Pulumi CLI print the message without a Python traceback."""
    error = config_error({**PREBUILT, "tims-stack:stopped": "maybe"})
    assert isinstance(error, pulumi.RunError), "ConfigError is not a pulumi.RunError"


def test_long_values_are_truncated(config_error: ErrorFn) -> None:
    error = config_error({**PREBUILT, "tims-stack:namespace": "x" * 500})
    assert "x" * 100 not in str(error), "a 500-character value was printed whole"
    assert "..." in str(error), "truncated value is not marked"


def test_issue_str_is_key_then_message() -> None:
    issue = ConfigIssue("tims-stack:backend.replicas", "got -1; expected an integer >= 0")
    assert str(issue) == "tims-stack:backend.replicas: got -1; expected an integer >= 0"


def test_config_error_keeps_its_issues() -> None:
    issues = [ConfigIssue("a:b", "x"), ConfigIssue("a:c", "y")]
    assert ConfigError(issues).issues == issues, "issues attribute"


@pytest.mark.parametrize(
    ("values", "key", "suggestion"),
    [
        ({"tims-stack:backend": {"replica": 3}}, "tims-stack:backend.replica", "'replicas'"),
        ({"tims-stack:routing": {"classname": "x"}}, "tims-stack:routing.classname", "'className'"),
        ({"tims-stack:stoped": "true"}, "tims-stack:stoped", "'stopped'"),
        ({"tims-stack:clusterissuer": "x"}, "tims-stack:clusterissuer", "'clusterIssuer'"),
        (
            {"tims-stack:build": {"repository": "a/b", "deleteImages": False}},
            "tims-stack:build.deleteImages",
            "'deleteImagesOnDestroy'",
        ),
        ({"tims-stack:backend": {"replicsa": 3}}, "tims-stack:backend.replicsa", "'replicas'"),
        (
            {"tims-stack:postgres": {"mode": "external", "external": {"hots": "db"}}},
            "tims-stack:postgres.external.hots",
            "'host'",
        ),
        (
            {"tims-stack:frontend": {"autoscaling": {"min": 1, "max": 2, "cpus": 50}}},
            "tims-stack:frontend.autoscaling.cpus",
            "'cpu'",
        ),
        (
            {"tims-stack:postgres": {"cloudnativepg": {"backup": {"destinationPat": "s3://b/p"}}}},
            "tims-stack:postgres.cloudnativepg.backup.destinationPat",
            "'destinationPath'",
        ),
        ({"tims-stack:migrations": {"step": ["true"]}}, "tims-stack:migrations.step", "'steps'"),
    ],
    ids=[
        "misspelt-field",
        "wrong-case-field",
        "misspelt-key",
        "wrong-case-key",
        "prefix-of-field",
        "swapped-letters-field",
        "nested-field",
        "autoscaling-field",
        "backup-field",
        "migrations-field",
    ],
)
def test_unknown_keys_get_a_did_you_mean(
    config_error: ErrorFn, values: dict[str, object], key: str, suggestion: str
) -> None:
    error = config_error({**PREBUILT, **values}, env={"GITHUB_TOKEN": FAKE_TOKEN})
    messages = [issue.message for issue in error.issues if issue.key == key]
    assert messages, f"no issue for {key}: {error.issues}"
    assert f"did you mean {suggestion}" in messages[0], f"{key}: {messages[0]!r}"


def test_plain_text_token_is_refused_without_echoing_it(config_error: ErrorFn) -> None:
    error = config_error({**BUILD, "github:token": FAKE_TOKEN})  # not in secret_keys
    messages = [issue.message for issue in error.issues if issue.key == "github:token"]
    assert messages, f"no github:token issue: {error.issues}"
    assert "--secret" in messages[0], f"github:token: {messages[0]!r}"
    assert FAKE_TOKEN not in str(error), "the plain token was echoed in the error"


def test_secret_token_never_appears_in_errors(config_error: ErrorFn) -> None:
    values = {**BUILD, "github:token": FAKE_TOKEN, "tims-stack:backend": {"replicas": "x"}}
    error = config_error(values, secret_keys=("github:token",))
    assert FAKE_TOKEN not in str(error), "token in str(error)"
    assert FAKE_TOKEN not in repr(error), "token in repr(error)"
    assert all(FAKE_TOKEN not in str(issue) for issue in error.issues), "token in an issue"


def test_environment_token_never_appears_in_errors(config_error: ErrorFn) -> None:
    error = config_error({**BUILD, "tims-stack:stopped": "maybe"}, env={"GITHUB_TOKEN": FAKE_TOKEN})
    assert FAKE_TOKEN not in str(error), "GITHUB_TOKEN value in the error"


@pytest.mark.parametrize(
    ("key", "value", "bad_key"),
    [
        (
            "tims-stack:backend",
            {"env": {"API_KEY": 12345, "OK": SECRET_VALUE}, "replicas": SECRET_VALUE},
            "tims-stack:backend.replicas",
        ),
        (
            "tims-stack:frontend",
            {"env": {"bad-name": SECRET_VALUE}},
            "tims-stack:frontend.env.bad-name",
        ),
        ("tims-stack:build", {"repository": SECRET_VALUE}, "tims-stack:build.repository"),
        ("tims-stack:domain", SECRET_VALUE, "tims-stack:domain"),
        ("tims-stack:backend", "{" + SECRET_VALUE, "tims-stack:backend"),
    ],
    ids=["object-field", "env-name", "build-field", "scalar", "not-json"],
)
def test_values_of_secret_keys_never_appear_in_errors(
    config_error: ErrorFn, key: str, value: object, bad_key: str
) -> None:
    error = config_error({**PREBUILT, key: value}, secret_keys=(key,))
    assert bad_key in [issue.key for issue in error.issues], (
        f"no issue for {bad_key}: {error.issues}"
    )
    assert SECRET_VALUE not in str(error), f"secret value of {key} shown: {error}"


def test_credentials_in_base_url_are_not_echoed(config_error: ErrorFn) -> None:
    error = config_error(
        {**PREBUILT, "github:baseUrl": f"https://user:{SECRET_VALUE}@ghe.example.com"}
    )
    assert "github:baseUrl" in [issue.key for issue in error.issues], f"issues: {error.issues}"
    assert SECRET_VALUE not in str(error), "the password in github:baseUrl was echoed"


def test_secrets_repr_hides_the_token() -> None:
    token = pulumi.Output.secret(FAKE_TOKEN)
    assert FAKE_TOKEN not in repr(Secrets(github_token=token)), "Secrets repr shows the token"


@pytest.mark.parametrize(
    ("key", "says"),
    [
        ("tims-stack:backend.replicas", "--path tims-stack:backend.replicas <value>"),
        ("tims-stack:backend.replicsa", "did you mean 'replicas'"),
        ("tims-stack:postgres.external.hots", "In tims-stack:postgres.external: unknown key"),
        ("tims-stack:backend.env.LOG_LEVEL", "--path tims-stack:backend.env.LOG_LEVEL <value>"),
    ],
    ids=["field", "misspelt-field", "misspelt-nested-field", "env-entry"],
)
def test_a_dotted_key_set_without_path_says_how_to_set_the_field(
    config_error: ErrorFn, key: str, says: str
) -> None:
    """`pulumi config set tims-stack:backend.replicas 3` (no --path) stores the dots as is."""
    error = config_error({**PREBUILT, key: "3"})
    messages = [issue.message for issue in error.issues if issue.key == key]
    assert messages, f"no issue for {key}: {error.issues}"
    assert "without --path" in messages[0], f"{key}: {messages[0]!r}"
    assert f"pulumi config rm {key}" in messages[0], f"{key}: {messages[0]!r}"
    assert says in messages[0], f"{key}: {messages[0]!r}"


@pytest.mark.parametrize(
    ("values", "key", "says"),
    [
        (
            {"tims-stack:backend": {"autoscaling": {"max": 3}}},
            "tims-stack:backend.autoscaling.min",
            "is required: fewest replicas",
        ),
        (
            {"tims-stack:postgres": {"mode": "external", "external": {"host": "db.example.com"}}},
            "tims-stack:postgres.external.database",
            "is required: database name",
        ),
    ],
    ids=["autoscaling-min", "external-database"],
)
def test_a_missing_field_says_what_it_holds_without_quoting_its_object(
    config_error: ErrorFn, values: dict[str, object], key: str, says: str
) -> None:
    error = config_error({**PREBUILT, **values}, secret_keys=("tims-stack:postgresPassword",))
    messages = [issue.message for issue in error.issues if issue.key == key]
    assert messages, f"no issue for {key}: {error.issues}"
    assert messages[0].startswith(says), f"{key}: {messages[0]!r}"
    assert "{" not in messages[0], f"{key}: the message quotes the object: {messages[0]!r}"


def test_a_number_where_a_string_belongs_says_how_to_keep_it_a_string(
    config_error: ErrorFn,
) -> None:
    """`pulumi config set --path tims-stack:backend.env.WORKERS 4` stores the number 4."""
    error = config_error({**PREBUILT, "tims-stack:backend": {"env": {"WORKERS": 4}}})
    messages = [i.message for i in error.issues if i.key == "tims-stack:backend.env.WORKERS"]
    assert messages, f"no issue for backend.env.WORKERS: {error.issues}"
    assert "--type string" in messages[0], messages[0]


@pytest.mark.parametrize(
    ("key", "fix"),
    [("timsstack:domain", "tims-stack:domain"), ("tims_stack:tls", "tims-stack:tls")],
)
def test_keys_of_a_misspelled_namespace_are_refused_with_the_fix(
    config_error: ErrorFn, key: str, fix: str
) -> None:
    """Pulumi hands the program every key; one nobody reads would be silently ignored."""
    error = config_error({**PREBUILT, key: "example.com"})
    messages = [issue.message for issue in error.issues if issue.key == key]
    assert messages, f"{key} accepted: no issue in {error.issues}"
    assert f"rename the key to {fix}" in messages[0], f"{key}: {messages[0]!r}"


@pytest.mark.parametrize("key", ["kubernetes:context", "random:x", "pulumi:tags"])
def test_keys_of_the_providers_in_use_are_accepted(parse: ParseFn, key: str) -> None:
    assert parse({**PREBUILT, key: "v"}).environment == "dev", f"{key} refused"


@pytest.mark.parametrize(
    "domain", ["https://Example.com/", "http://example.com:8080/app", "example.com/app"]
)
def test_a_domain_written_as_a_url_gets_one_message_with_the_corrected_value(
    config_error: ErrorFn, domain: str
) -> None:
    error = config_error({**PREBUILT, "tims-stack:domain": domain})
    messages = [issue.message for issue in error.issues if issue.key == "tims-stack:domain"]
    assert len(messages) == 1, f"tims-stack:domain {domain!r}: {error.issues}"
    assert "drop the scheme and the path" in messages[0], f"tims-stack:domain: {messages[0]!r}"
    assert "'example.com'" in messages[0], f"tims-stack:domain: no corrected value: {messages[0]!r}"
