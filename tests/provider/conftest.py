"""Fixtures for the ImageBuild provider tests: a configured provider against the emulator.

The standard emulator world (tests/github/fixtures.py) has user `acme` (the token's
owner), org `acme-org`, repository `acme/app` with branch `main` and the workflow
`build-images.yml` declaring ref, sha, tag, environment and correlation_id.
"""

from __future__ import annotations

import asyncio
import os
import queue
import random
import subprocess
import sys
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import grpc
import httpx
import pytest
from pulumi.dynamic import ConfigureRequest, CreateResult, ResourceProvider
from pulumi.dynamic.config import Config
from pulumi.dynamic.dynamic import serialize_provider
from pulumi.runtime import rpc
from pulumi.runtime.proto import provider_pb2, provider_pb2_grpc

from components.images.imagebuild.provider import (
    PROVIDER_VERSION,
    ImageBuildProvider,
    PollPolicy,
)
from tests.github.clock import FakeClock
from tests.github.emulator import GitHubEmulator, RecordedRequest, RunPlan
from tests.github.fixtures import APP_REPO as APP_REPO
from tests.github.fixtures import (  # noqa: F401
    GHES_REGISTRY,
    assert_no_spec_violations,
    emulator,
    enterprise_server,
    fake_clock,
    github_openapi,
    real_emulator,
    standard_world,
)
from tests.github.fixtures import WORKFLOW_FILE as WORKFLOW_FILE

MAIN_SHA = "5d0c4a9f2e8b7c6d1a3f4e5b6c7d8e9f0a1b2c3d"  # head of acme/app main in the world
TAG = "dev-5d0c4a9f2e8b"
IMAGES = {"backend": "ghcr.io/acme/app-backend", "frontend": "ghcr.io/acme/app-frontend"}
PUSH = {"app-backend": "tag", "app-frontend": "tag"}  # RunPlan.push for IMAGES


def base_props(**overrides: Any) -> dict[str, Any]:
    """ImageBuild inputs as the engine passes them after Check (numbers as floats)."""
    props: dict[str, Any] = {
        "repository": APP_REPO,
        "workflow": WORKFLOW_FILE,
        "ref": "main",
        "commitSha": MAIN_SHA,
        "inputs": {
            "ref": "{ref}",
            "sha": "{sha}",
            "tag": "{tag}",
            "environment": "{environment}",
            "correlation_id": "{correlation_id}",
        },
        "images": dict(IMAGES),
        "tag": TAG,
        "environment": "dev",
        "timeoutSeconds": 1800.0,
        "deleteImagesOnDestroy": True,
        "providerVersion": PROVIDER_VERSION,
    }
    props.update(overrides)
    return props


def configure(provider: ImageBuildProvider, token: str, base_url: str) -> None:
    """Configure a provider as the dynamic provider host does (full, namespaced keys)."""
    provider.configure(
        ConfigureRequest(Config({"github:token": token, "github:baseUrl": base_url}, "tims-stack"))
    )


@dataclass
class Harness:
    """A configured provider, the emulator it talks to, and what it printed."""

    provider: ImageBuildProvider
    emulator: GitHubEmulator
    clock: FakeClock
    lines: list[str] = field(default_factory=list)
    images: dict[str, str] = field(default_factory=lambda: dict(IMAGES))
    """The `images` input `create` passes (GHES: on the instance's registry host)."""

    @property
    def output(self) -> str:
        return "\n".join(self.lines)

    def plan(self, **kwargs: Any) -> None:
        """Queue the behaviour of the next run of the build workflow (pushes IMAGES on success)."""
        kwargs.setdefault("push", dict(PUSH))
        self.emulator.plan_next_run(APP_REPO, WORKFLOW_FILE, RunPlan(**kwargs))

    def create(self, **overrides: Any) -> CreateResult:
        overrides.setdefault("images", dict(self.images))
        checked = self.provider.check({}, base_props(**overrides))
        assert not checked.failures, [f.reason for f in checked.failures]
        return self.provider.create(checked.inputs)

    def calls(self, method: str | None = None, path_contains: str = "") -> list[RecordedRequest]:
        return [
            r
            for r in self.emulator.requests
            if (method is None or r.method == method) and path_contains in r.path
        ]

    def dispatches(self) -> list[RecordedRequest]:
        return self.calls("POST", "/dispatches")


REGISTRY_HOSTS = ("ghcr.io", GHES_REGISTRY)


class RegistryRouter(httpx.BaseTransport):
    """Sends what the provider addresses to ghcr.io (or the GHES registry host) to the
    emulator's registry, so the provider runs unchanged, with no test hook of its own."""

    def __init__(
        self, registry: str | dict[str, str], inner: httpx.BaseTransport | None = None
    ) -> None:
        routes = registry if isinstance(registry, dict) else dict.fromkeys(REGISTRY_HOSTS, registry)
        self._routes = {host: httpx.URL(url) for host, url in routes.items()}
        self._inner = inner or httpx.HTTPTransport()

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        target = self._routes.get(request.url.host)
        if target is not None:
            request.url = request.url.copy_with(
                scheme=target.scheme, host=target.host, port=target.port
            )
        return self._inner.handle_request(request)


def make_provider(
    clock: Any,
    lines: list[str],
    *,
    registry: str | dict[str, str],
    poll: PollPolicy | None = None,
    transport: httpx.BaseTransport | None = None,
) -> ImageBuildProvider:
    """A provider on `clock` with seeded jitter, printing into `lines`; its registry
    requests go to `registry` (an emulator's `registry_url`, or one per registry host)."""
    return ImageBuildProvider(
        clock=clock,
        rng=random.Random(7),
        out=lines.append,
        poll=poll,
        transport=RegistryRouter(registry, transport),
    )


@pytest.fixture
def harness(emulator: GitHubEmulator, fake_clock: FakeClock) -> Harness:  # noqa: F811
    """A provider on virtual time, configured with the emulator's token and URL."""
    lines: list[str] = []
    provider = make_provider(fake_clock, lines, registry=emulator.registry_url)
    configure(provider, emulator.token, emulator.base_url)
    return Harness(provider, emulator, fake_clock, lines)


def clean_env(**extra: str) -> dict[str, str]:
    """The environment of a child process that must find neither the repo nor a token."""
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "GITHUB_TOKEN")}
    env.update(extra)
    return env


@pytest.fixture
def stale_checkout(tmp_path: Path) -> Path:
    """A working directory whose `components` package fails on import, as if the checkout
    had moved on (or broken) since the resource was created."""
    package = tmp_path / "components"
    package.mkdir()
    (package / "__init__.py").write_text('raise ImportError("components/ of another commit")\n')
    return tmp_path


GOLDEN_DIR = Path(__file__).parent / "golden"


GOLDEN_VERSIONS = sorted(
    path.stem.removeprefix("provider-v") for path in GOLDEN_DIR.glob("provider-v*.b64")
)


def golden_provider(version: str) -> str:
    """The serialized provider of release `version`, as state holds it (golden/README.md)."""
    return (GOLDEN_DIR / f"provider-v{version}.b64").read_text(encoding="ascii").strip()


@dataclass
class ProviderHost:
    """`python -m pulumi.dynamic` as Pulumi starts it, and a gRPC stub to drive it."""

    process: subprocess.Popen[str]
    stub: Any
    stdout: list[str]
    stderr: list[str]


def _drain(stream: Any, sink: list[str]) -> None:
    for line in stream:
        sink.append(line.rstrip("\n"))


@pytest.fixture
def provider_host(stale_checkout: Path) -> Iterator[ProviderHost]:
    """A dynamic provider host started like the Pulumi engine does: it prints its port."""
    # `-u` as Pulumi's own launcher (pulumi-resource-pulumi-python) passes it: the host
    # writes its port without flushing, so a buffered stdout would never show it.
    process = subprocess.Popen(
        [sys.executable, "-u", "-m", "pulumi.dynamic"],
        cwd=stale_checkout,
        env=clean_env(PULUMI_PROJECT="tims-stack"),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert process.stdout is not None
    assert process.stderr is not None
    first_line: queue.Queue[str] = queue.Queue()
    threading.Thread(
        target=lambda: first_line.put(process.stdout.readline() if process.stdout else ""),
        daemon=True,
    ).start()
    try:
        port_line = first_line.get(timeout=30).strip()
    except queue.Empty:
        process.kill()
        pytest.fail("the provider host printed no port within 30 s")
    assert port_line.isdigit(), f"the provider host did not print its port: {port_line!r}"
    stdout: list[str] = []
    stderr: list[str] = []
    for stream, sink in ((process.stdout, stdout), (process.stderr, stderr)):
        threading.Thread(target=_drain, args=(stream, sink), daemon=True).start()
    channel = grpc.insecure_channel(f"127.0.0.1:{port_line}")
    grpc.channel_ready_future(channel).result(timeout=30)
    try:
        yield ProviderHost(process, provider_pb2_grpc.ResourceProviderStub(channel), stdout, stderr)
    finally:
        channel.close()
        process.terminate()
        process.wait(timeout=10)


def wire_properties(values: dict[str, Any]) -> Any:
    """`values` as the engine sends them to a provider (a Struct), on a private event loop."""
    loop = asyncio.new_event_loop()
    try:
        return loop.run_until_complete(rpc.serialize_properties(values, {}))
    finally:
        loop.close()


def check_in_host(
    host: ProviderHost,
    urn: str,
    provider: ResourceProvider,
    olds: dict[str, Any],
    news: dict[str, Any],
) -> Any:
    """The host's Check of a dynamic resource whose inputs carry `provider` serialized, as
    the engine passes recorded and new inputs (no olds on the first `up`)."""
    serialized = serialize_provider(provider)
    return host.stub.Check(
        provider_pb2.CheckRequest(
            urn=urn,
            olds=wire_properties({**olds, "__provider": serialized} if olds else {}),
            news=wire_properties({**news, "__provider": serialized}),
        )
    )


GHES_IMAGES = {name: repo.replace("ghcr.io", GHES_REGISTRY) for name, repo in IMAGES.items()}


@pytest.fixture(params=["3.19", "3.20"])
def ghes(
    request: pytest.FixtureRequest,
    fake_clock: FakeClock,  # noqa: F811
    github_openapi: Any,  # noqa: F811
) -> Iterator[Harness]:
    """A provider against an emulated GitHub Enterprise Server (see `enterprise_server`):
    3.19 refuses `return_run_details` with 422, 3.20 with 400; images on its registry host."""
    server = enterprise_server({"clock": fake_clock, "spec": github_openapi}, version=request.param)
    with server:
        lines: list[str] = []
        provider = make_provider(fake_clock, lines, registry=server.registry_url)
        configure(provider, server.token, server.base_url + "/")
        yield Harness(provider, server, fake_clock, lines, images=GHES_IMAGES)
    assert_no_spec_violations(server)
