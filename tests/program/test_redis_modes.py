"""`tims-stack:redis.mode` external: no Redis in the cluster, the URL only ever in a Secret.

The in-cluster mode is the default of every other scenario; these run the
external-redis scenarios of conftest.DB_MODE_SCENARIOS (their generic checks, valid
objects, the whole env contract and no SECRET_MARK in plain text, run in
test_postgres_modes.py over every mode scenario; stop/start in test_stop_start.py).
"""

from __future__ import annotations

import base64
from typing import Any
from urllib.parse import unquote, urlsplit

import dill
import pytest

from components.data.redis import SERVICE_NAME
from scripts.mockrun import ProgramRun, Registered, plaintext, reveal, try_program
from tests.program.conftest import (
    _BUILD,
    EXTERNAL_REDIS,
    EXTERNAL_REDIS_HOST,
    EXTERNAL_REDIS_URL,
    SECRET_KEYS,
)
from tests.program.k8s import Runs, containers, env_of, ident, obj, objects, strings

EXTERNAL = ("external-redis", "external-redis-stopped", "external-all")
GUARD_TYPE = "pulumi-python:dynamic/tims-stack:RedisModeGuard"
REDIS_COMPONENT = "tims-stack:k8s:Redis"
PASSWORD = EXTERNAL_REDIS_URL.split(":")[2].split("@")[0]
FRAGMENTS = (EXTERNAL_REDIS_URL, PASSWORD, EXTERNAL_REDIS_HOST)
"""What of the URL may never be read in plain text: all of it, its password, its host."""


def _leaks(value: Any) -> list[str]:
    return [s for s in strings(value) if any(f in s for f in FRAGMENTS)]


def _redis_labelled(run: ProgramRun) -> list[str]:
    return [
        ident(o)
        for o in objects(run)
        if (o["metadata"].get("labels") or {}).get("app.kubernetes.io/name") == "redis"
        or o["metadata"].get("name") == SERVICE_NAME
    ]


# ------------------------------------------------------------------------- what exists


@pytest.mark.parametrize("name", EXTERNAL)
def test_external_redis_runs_no_redis_workload_claim_service_or_policy(
    program_runs: Runs, name: str
) -> None:
    run = program_runs(name)
    assert run.of_type(REDIS_COMPONENT) == [], f"{name}: the Redis component is registered"
    assert _redis_labelled(run) == [], f"{name}: Redis objects {_redis_labelled(run)}"
    policies = [
        p["metadata"]["labels"]["app.kubernetes.io/name"] for p in objects(run, "NetworkPolicy")
    ]
    assert "redis" not in policies, f"{name}: a Redis NetworkPolicy"


def test_in_cluster_redis_is_kept_beside_an_external_database(program_runs: Runs) -> None:
    run = program_runs("external-db")
    assert len(run.of_type(REDIS_COMPONENT)) == 1
    assert any(o["metadata"]["name"] == SERVICE_NAME for o in objects(run, "Service"))


# ------------------------------------------------------------------------- the URL


@pytest.mark.parametrize("name", ["external-redis", "external-all"])
def test_backend_gets_the_url_as_redis_url_from_its_env_secret(
    program_runs: Runs, name: str
) -> None:
    assert env_of(program_runs(name), "backend")["REDIS_URL"] == EXTERNAL_REDIS_URL


def test_migration_job_reads_the_same_env_secret_as_the_backend(program_runs: Runs) -> None:
    run = program_runs("external-redis")
    (job,) = objects(run, "Job")
    backend = obj(run, "Deployment", "backend")
    sources = [c["envFrom"] for c in (*containers(job), *containers(backend))]
    assert sources[0] == sources[1], f"Job envFrom {sources[0]}, backend envFrom {sources[1]}"
    for workload in (job, backend):
        for container in containers(workload):
            names = [e["name"] for e in container.get("env") or []]
            assert "REDIS_URL" not in names, f"{ident(workload)}: REDIS_URL beside the Secret"


def _env_secret(run: ProgramRun) -> Registered:
    (secret,) = [
        r
        for r in run.kubernetes_objects()
        if r.kind == "Secret" and "REDIS_URL" in (reveal(r.inputs).get("stringData") or {})
    ]
    return secret


def test_redis_url_is_a_secret_entry_and_the_plain_entries_stay_readable(
    program_runs: Runs,
) -> None:
    run = program_runs("external-redis")
    secret = _env_secret(run)
    readable = {key for _, key in run.readable_entries[secret.urn]}
    assert "REDIS_URL" not in readable, "REDIS_URL is built as a plain entry"
    assert {"DB_HOST", "UNIQUE_ID", "ROOT_URL"} <= readable, f"plain entries lost: {readable}"


def test_in_cluster_redis_url_stays_a_readable_entry(default_run: ProgramRun) -> None:
    secret = _env_secret(default_run)
    assert ("stringData", "REDIS_URL") in default_run.readable_entries[secret.urn]


@pytest.mark.parametrize("name", EXTERNAL)
def test_the_url_is_nowhere_in_plain_text(program_runs: Runs, name: str) -> None:
    """Not in plain state (inputs and outputs of every resource, Secrets included), not in a
    non-Secret object, not in a plain stack output, not in the logs."""
    run = program_runs(name)
    for r in run.resources:
        assert _leaks(plaintext(r.inputs)) == [], f"{r.type} {r.name}: URL in plain inputs"
        assert _leaks(plaintext(r.outputs)) == [], f"{r.type} {r.name}: URL in plain state"
    for o in objects(run):
        if o["kind"] != "Secret":
            assert _leaks(o) == [], f"{ident(o)} holds the URL or a part of it"
    assert _leaks(run.plaintext_outputs()) == [], "a plain stack output holds the URL"
    assert _leaks(run.logs) == [], "the program logged the URL"


def test_redis_url_output_is_secret_with_external_and_plain_in_cluster(
    program_runs: Runs, default_run: ProgramRun
) -> None:
    run = program_runs("external-redis")
    assert "redisUrl" in run.secret_outputs
    assert run.outputs["redisUrl"] == EXTERNAL_REDIS_URL
    assert "redisUrl" not in default_run.secret_outputs
    assert default_run.outputs["redisUrl"] == (
        f"redis://{SERVICE_NAME}.tims-stack-dev.svc.cluster.local:6379"
    )


@pytest.mark.parametrize(
    "url",
    [
        # A password with reserved characters, percent-encoded as a URL needs them.
        "rediss://default:p%40ss%2Fw0rd%3Abackend@cache.example.net:6380/0",
        # A password made of words the program's keys and names use.
        "redis://:frontend-redis-backend-postgres@cache.example.net:6379",
    ],
)
def test_a_url_with_an_encoded_or_wordy_password_is_nowhere_in_plain_text(url: str) -> None:
    """Neither the URL nor its password, as written or decoded, in plain state, a non-Secret
    object, a plain output or the logs; its words elsewhere are not scrubbed away."""
    run = try_program(
        {**_BUILD, **EXTERNAL_REDIS, "tims-stack:redisUrl": url}, secret_keys=SECRET_KEYS
    )
    assert run.error is None, f"{url}: refused: {run.error}"
    password = urlsplit(url).password or ""
    fragments = (url, password, unquote(password))
    plain = [
        *(plaintext(r.inputs) for r in run.resources),
        *(plaintext(r.outputs) for r in run.resources),
        *(o for o in objects(run) if o["kind"] != "Secret"),
        run.plaintext_outputs(),
        run.logs,
    ]
    leaks = [s for s in strings(plain) if any(f in s for f in fragments)]
    assert leaks == [], f"{url}: in plain text: {leaks}"
    assert env_of(run, "backend")["REDIS_URL"] == url, "the URL reached the backend changed"


# ------------------------------------------------------------------------- guard and order


@pytest.mark.parametrize(
    ("name", "mode"),
    [("default", "inCluster"), ("external-redis", "external"), ("external-all", "external")],
)
def test_redis_mode_guard_records_the_mode(program_runs: Runs, name: str, mode: str) -> None:
    (guard,) = program_runs(name).of_type(GUARD_TYPE)
    assert (guard.inputs["mode"], guard.inputs["allowModeChange"]) == (mode, False)
    assert guard.urn.endswith("tims-stack:k8s:RedisMode$" + GUARD_TYPE + "::redis-mode")


def test_the_registered_redis_guard_refuses_in_redis_words(default_run: ProgramRun) -> None:
    """The provider as the host gets it: the `__provider` input, unpickled as pulumi's
    sdk/python/lib/pulumi/dynamic/__main__.py `get_provider` does (base64, dill)."""
    (guard,) = default_run.of_type(GUARD_TYPE)
    provider = dill.loads(base64.b64decode(reveal(guard.inputs)["__provider"]))  # noqa: S301 (our own state)
    result = provider.check({"mode": "inCluster"}, {"mode": "external", "allowModeChange": False})
    (failure,) = result.failures
    assert failure.reason.startswith("tims-stack:redis.mode changes"), failure.reason


def test_in_cluster_redis_waits_for_the_guard(default_run: ProgramRun) -> None:
    (guard,) = default_run.of_type(GUARD_TYPE)
    (redis,) = default_run.of_type(REDIS_COMPONENT)
    assert guard.urn in redis.dependencies, "the Redis component does not wait for the guard"


def test_migration_job_waits_for_the_redis_mode_guard_with_external(program_runs: Runs) -> None:
    """Depending on the RedisMode component, the SDK expands it to its child, the guard."""
    run = program_runs("external-redis")
    (guard,) = run.of_type(GUARD_TYPE)
    (job,) = [r for r in run.kubernetes_objects() if r.kind == "Job"]
    assert guard.urn in job.dependencies, f"the Job waits for {job.dependencies}"


# ------------------------------------------------------------------------- bad config


@pytest.mark.parametrize(
    "url",
    [
        "http://:hunter2hunter2@cache.internal:6379",
        "rediss://:hunter2hunter2@cache.internal:99999",
        "rediss://:hunter2hunter2@",
        "rediss://:hunter2hunter2@cache.internal/queue",
    ],
)
def test_a_bad_url_stops_the_program_before_any_resource_without_quoting_it(url: str) -> None:
    run = try_program(
        {**_BUILD, **EXTERNAL_REDIS, "tims-stack:redisUrl": url}, secret_keys=SECRET_KEYS
    )
    assert run.error is not None, "a bad tims-stack:redisUrl was accepted"
    message = str(run.error)
    assert "tims-stack:redisUrl" in message
    assert "rediss://" in message, f"the message does not say the allowed forms: {message}"
    for fragment in ("hunter2hunter2", "cache.internal", url):
        assert fragment not in message, f"the message quotes {fragment!r}"
        assert not [line for line in run.logs if fragment in line], f"logs quote {fragment!r}"
    assert run.resources == [], f"registered {[r.urn for r in run.resources]} first"
