"""`tims-stack:redis.mode` and the secret `tims-stack:redisUrl` (docs/production.md)."""

from __future__ import annotations

import asyncio
from typing import Any

import pulumi
import pytest

from stack.config import load_config
from stack.contract import SECRET_PLACEHOLDER
from stack.production import redis_url_problem
from tests.config.conftest import PREBUILT, ErrorFn, ParseFn, issue_message, raw_config

NS = "tims-stack:"
REDIS = NS + "redis"
URL_KEY = NS + "redisUrl"
PASSWORD = "hunter2-Zq8xv41kP"
HOST = "cache-7f3a.internal.example"
GOOD_URL = f"rediss://default:{PASSWORD}@{HOST}:6380/0"
EXTERNAL = {REDIS: {"mode": "external"}, URL_KEY: GOOD_URL}

BAD_URLS = {
    "no-scheme": f"{PASSWORD}@{HOST}:6379",
    "http": f"https://:{PASSWORD}@{HOST}",
    "unix-socket": f"unix:///run/{PASSWORD}.sock",
    "no-host": f"rediss://:{PASSWORD}@",
    "port-too-big": f"rediss://:{PASSWORD}@{HOST}:70000",
    "port-not-number": f"rediss://:{PASSWORD}@{HOST}:tls",
    "path-not-db": f"rediss://:{PASSWORD}@{HOST}/{PASSWORD}",
    "bad-host": f"rediss://:{PASSWORD}@{HOST.replace('.', '_')}",
    "space": f"rediss://:{PASSWORD} @{HOST}",
    "fragment": f"rediss://:{PASSWORD}@{HOST}#{PASSWORD}",
}


def _external(url: str) -> dict[str, Any]:
    return {**PREBUILT, REDIS: {"mode": "external"}, URL_KEY: url}


@pytest.mark.parametrize("url", list(BAD_URLS.values()), ids=list(BAD_URLS))
def test_a_bad_url_is_refused_naming_the_key_and_the_forms_and_not_the_value(
    url: str, config_error: ErrorFn
) -> None:
    error = config_error(_external(url), secret_keys=(URL_KEY,))
    message = issue_message(error, URL_KEY, url)
    assert "redis://" in message, message
    assert "rediss://" in message, message
    for fragment in (url, PASSWORD, HOST, HOST.split(".")[0], HOST.replace(".", "_")):
        assert fragment not in str(error), f"the error quotes {fragment!r}: {error}"


@pytest.mark.parametrize(
    "url",
    [
        GOOD_URL,
        f"redis://:{PASSWORD}@{HOST}",
        f"redis://{HOST}:6379",
        f"rediss://:{PASSWORD}@10.0.0.7:6380/3",
        f"rediss://:{PASSWORD}@[fd00::7]:6380",
        f"rediss://:{PASSWORD}@{HOST}:6380/0?ssl_cert_reqs=required",
        "rediss://:p%40ss%2Fword@cache.example.net",
    ],
)
def test_redis_and_rediss_urls_are_accepted(url: str, parse: ParseFn) -> None:
    config = parse(_external(url), secret_keys=(URL_KEY,))
    assert config.redis.mode == "external"


def test_external_without_the_url_is_refused(config_error: ErrorFn) -> None:
    error = config_error({**PREBUILT, REDIS: {"mode": "external"}})
    message = issue_message(error, URL_KEY, "missing")
    assert "required with redis.mode 'external'" in message
    assert f"pulumi config set --secret {URL_KEY}" in message


def test_a_plain_text_url_is_refused_without_quoting_it(config_error: ErrorFn) -> None:
    error = config_error(_external(GOOD_URL), secret_keys=())
    message = issue_message(error, URL_KEY, "plain")
    assert "plain text" in message
    assert f"config set --secret {URL_KEY}" in message
    assert PASSWORD not in str(error), str(error)
    assert HOST not in str(error), str(error)


def test_a_plain_text_url_is_refused_in_in_cluster_mode_too(config_error: ErrorFn) -> None:
    error = config_error({**PREBUILT, URL_KEY: GOOD_URL}, secret_keys=())
    assert "plain text" in issue_message(error, URL_KEY, "plain-in-cluster")


def test_an_encrypted_url_read_offline_is_not_judged(parse: ParseFn) -> None:
    """Render reads `secure:` values as a placeholder: set, but its form is unknown."""
    config = parse(_external(SECRET_PLACEHOLDER), secret_keys=(URL_KEY,))
    assert config.redis.mode == "external"


def test_mode_defaults_to_in_cluster_without_override(parse: ParseFn) -> None:
    config = parse(PREBUILT)
    assert (config.redis.mode, config.redis.allow_mode_change) == ("inCluster", False)


def test_an_unknown_mode_is_refused(config_error: ErrorFn) -> None:
    error = config_error({**PREBUILT, REDIS: {"mode": "managed"}})
    assert "external" in issue_message(error, REDIS + ".mode", "unknown-mode")


def test_unused_url_draws_a_note_without_the_value(parse: ParseFn) -> None:
    notes: list[str] = []
    parse({**PREBUILT, URL_KEY: GOOD_URL}, secret_keys=(URL_KEY,), warn=notes.append)
    assert any("redisUrl is set but redis.mode is 'inCluster'" in n for n in notes), notes
    assert not any(PASSWORD in n or HOST in n for n in notes), notes


def test_in_cluster_fields_with_external_draw_a_note(parse: ParseFn) -> None:
    notes: list[str] = []
    values = {**EXTERNAL, REDIS: {"mode": "external", "storage": "1Gi"}}
    parse({**PREBUILT, **values}, secret_keys=(URL_KEY,), warn=notes.append)
    assert any("redis.storage not used with redis.mode 'external'" in n for n in notes), notes


def test_allow_mode_change_left_on_draws_a_note(parse: ParseFn) -> None:
    notes: list[str] = []
    parse({**PREBUILT, REDIS: {"allowModeChange": True}}, warn=notes.append)
    assert any("redis.allowModeChange is true" in n and "config rm" in n for n in notes), notes


def test_the_urls_scheme_is_not_scrubbed_from_messages(config_error: ErrorFn) -> None:
    """The Reporter scrubs word pieces of secrets; a redis:// URL's scheme is no secret, and
    scrubbing it would turn every "redis" of the messages into "<secret>"."""
    error = config_error(_external(f"redis://:{PASSWORD}@{HOST}/x"), secret_keys=(URL_KEY,))
    message = issue_message(error, URL_KEY, "scheme")
    assert "expected redis://" in message, message
    assert "not a Redis URL" in message, message


def test_the_form_check_says_nothing_of_the_value() -> None:
    for name, url in BAD_URLS.items():
        problem = redis_url_problem(url)
        assert problem is not None, f"{name} accepted"
        assert PASSWORD not in problem, f"{name}: {problem}"
        assert HOST not in problem, f"{name}: {problem}"


def test_load_config_reads_the_url_as_a_secret_output(
    mocked_runtime: asyncio.AbstractEventLoop,
) -> None:
    pulumi.runtime.set_all_config(raw_config(_external(GOOD_URL)), [URL_KEY])
    config, secrets = load_config()
    assert config.redis.mode == "external"
    assert secrets.redis_url is not None, "no URL Output with redis.mode external"

    async def both() -> tuple[str | None, bool]:
        assert secrets.redis_url is not None
        return await secrets.redis_url.future(), await secrets.redis_url.is_secret()

    assert mocked_runtime.run_until_complete(both()) == (GOOD_URL, True)
    assert PASSWORD not in repr(secrets), repr(secrets)


def test_load_config_leaves_the_url_unread_in_cluster(
    mocked_runtime: asyncio.AbstractEventLoop,
) -> None:
    pulumi.runtime.set_all_config(raw_config({**PREBUILT, URL_KEY: GOOD_URL}), [URL_KEY])
    _, secrets = load_config()
    assert secrets.redis_url is None
