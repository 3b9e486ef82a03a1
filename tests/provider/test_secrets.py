"""The token and the API URL never leak: not in messages, output, logs, reprs, state or pickles."""

from __future__ import annotations

import base64
import json
import logging
import pickle
import time
from collections.abc import Callable

import dill
import httpx
import pytest
from pulumi.dynamic.dynamic import serialize_provider

from components.images.imagebuild.base import ImageBuildError, Secret
from components.images.imagebuild.provider import ImageBuildProvider
from components.images.imagebuild.rest import GitHubClient
from tests.provider.conftest import TAG, Harness, configure


def failing_build(harness: Harness) -> None:
    harness.plan(duration=30, conclusion="failure")
    harness.create()


def timed_out_build(harness: Harness) -> None:
    harness.plan(duration=3600)
    harness.create(timeoutSeconds=60.0)


def rate_limited_past_deadline(harness: Harness) -> None:
    harness.emulator.inject(
        "GET", r"/actions/runs/\d+$", status=429, headers={"retry-after": "9999"}
    )
    harness.plan(duration=60)
    harness.create(timeoutSeconds=600.0)


def rejected_token(harness: Harness) -> None:
    # The configured (wrong) token must not leak either.
    configure(harness.provider, "ghp_" + "wrong" * 7, harness.emulator.base_url)
    harness.create()


def forbidden_delete(harness: Harness) -> None:
    harness.emulator.add_package("acme", "app-backend", [[TAG], ["other"]])
    harness.emulator.inject("DELETE", r"/versions/", status=403, body={"message": "Forbidden"})
    result_outs = {
        "tag": TAG,
        "environment": "dev",
        "deleteImagesOnDestroy": True,
        "imageRepositories": {"backend": "ghcr.io/acme/app-backend"},
    }
    harness.provider.delete("id", result_outs)


def registry_refusing_its_pull_token(harness: Harness) -> None:
    # The registry's own bearer token is a credential too (it reads the packages).
    harness.emulator.inject("*", r"^/v2/", status=401, times=20)
    harness.plan(duration=30, conclusion="failure")
    harness.create()


@pytest.mark.parametrize(
    "scenario",
    [
        failing_build,
        timed_out_build,
        rate_limited_past_deadline,
        rejected_token,
        forbidden_delete,
        registry_refusing_its_pull_token,
    ],
    ids=lambda f: f.__name__,
)
def test_token_is_in_no_error_output_log_or_repr(
    harness: Harness,
    scenario: Callable[[Harness], None],
    caplog: pytest.LogCaptureFixture,
    capsys: pytest.CaptureFixture[str],
) -> None:
    caplog.set_level(logging.DEBUG)
    # "emu-registry-": the prefix of every pull token the emulated registry hands out.
    secrets = [harness.emulator.token, "ghp_" + "wrong" * 7, "emu-registry-"]
    with pytest.raises(ImageBuildError) as error:
        scenario(harness)
    captured = capsys.readouterr()
    places = {
        "error message": str(error.value),
        "error repr": repr(error.value),
        "error chain": " ".join(repr(e) for e in _chain(error.value)),
        "provider output": harness.output,
        "stdout": captured.out,
        "stderr": captured.err,
        "log records": caplog.text,
        "provider repr": repr(harness.provider) + repr(vars(harness.provider)),
    }
    assert caplog.records, "httpx logs at DEBUG, so the log check has something to look at"
    for where, text in places.items():
        for secret in secrets:
            assert secret not in text, f"the token leaked into the {where}"


def _chain(exc: BaseException | None) -> list[BaseException]:
    found = []
    while exc is not None:
        found.append(exc)
        exc = exc.__cause__ or exc.__context__
    return found


def test_outputs_hold_neither_the_token_nor_the_api_url(harness: Harness) -> None:
    harness.plan(duration=60)
    built = harness.create().outs
    skipped = harness.create().outs  # the images now exist: the skip path
    for name, outs in (("built", built), ("skipped", skipped)):
        text = json.dumps(outs)
        assert harness.emulator.token not in text, f"token in the {name} outputs"
        assert harness.emulator.base_url not in text, f"API URL in the {name} outputs"
        assert "127.0.0.1" not in text, f"API host in the {name} outputs"


def test_the_serialized_provider_holds_neither_the_token_nor_the_api_url(harness: Harness) -> None:
    # Pulumi serializes before configure; also serialize a provider that ran a build.
    harness.plan(duration=60)
    harness.create()
    for name, provider in (("fresh", ImageBuildProvider()), ("used", harness.provider)):
        blob = base64.b64decode(serialize_provider(provider))
        assert harness.emulator.token.encode() not in blob, f"token in the {name} provider"
        assert harness.emulator.base_url.encode() not in blob, f"API URL in the {name} provider"
        assert b"127.0.0.1" not in blob, f"API host in the {name} provider"


def test_the_client_and_the_token_refuse_to_be_pickled(harness: Harness) -> None:
    client = GitHubClient(harness.emulator.token, harness.emulator.base_url)
    for thing in (client, Secret(harness.emulator.token)):
        with pytest.raises(TypeError, match="never be serialized"):
            pickle.dumps(thing)
        with pytest.raises(TypeError, match="never be serialized"):
            dill.dumps(thing)
    assert harness.emulator.token not in repr(client)
    client.close()


@pytest.mark.parametrize(
    "location",
    [
        # Run logs and artifacts answer with a redirect to a storage host.
        "https://storage.example.net/logs.zip?sig=abc",
        # Another scheme or port of the same host is another origin too.
        "http://api.github.test:8080/repos/acme/app",
    ],
)
def test_the_token_does_not_follow_a_redirect_to_another_origin(location: str) -> None:
    token = "ghp_" + "redirected" * 4
    seen: list[httpx.Request] = []

    def answer(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        if len(seen) == 1:
            return httpx.Response(302, headers={"location": location})
        return httpx.Response(200, json={})

    client = GitHubClient(token, "https://api.github.test", transport=httpx.MockTransport(answer))
    try:
        client.request("GET", "/repos/acme/app/actions/runs/1/logs", deadline=time.monotonic() + 60)
    finally:
        client.close()
    first, redirected = seen
    assert first.headers["authorization"] == f"Bearer {token}"
    assert str(redirected.url) == location
    assert "authorization" not in redirected.headers, f"the token went on to {location}"
