"""Run the real program (`__main__.py`) under Pulumi mocks: no engine, cluster or network.

`run_program(raw_config)` executes the program with the given raw config (the
mapping `stack.config.parse_config` takes) and returns every registered
resource and the stack outputs. The mocks fill in what providers would:
- Kubernetes objects get `metadata.name` = `<resource name>-<7 hex>` when the
  program leaves it unset (Pulumi's auto-naming), deterministic per resource;
- `RandomPassword.result` is a known fake value (`fake_secret(name)`), and
  every output a resource declares secret comes back secret, as the engine
  does with `additionalSecretOutputs`;
- the pulumi-github `getBranch` and `getRef` invokes answer a fake sha
  (`fake_sha(repository, "<branch>")`, `fake_sha(repository, "tags/<tag>")`);
- `ImageBuild` answers `<repository>:<tag>` per image and a fake run URL.

The Kubernetes SDK wraps a Secret's whole `data`/`stringData` map in one
secret before it is sent, so the engine (and these mocks) cannot tell a
generated password from a port. `ProgramRun.readable_entries` keeps, per
Secret, the entries the program built from no secret, read as the program
passed them to the SDK, so an offline render can show those for review.

Each run happens in a fresh `contextvars.Context`: the Pulumi SDK keeps its
per-deployment state (settings, root stack, config) in context variables, so
runs in one process do not see each other's resources. Environment variables
the program would read (GITHUB_TOKEN, PULUMI_CONFIG*) are hidden for the run.
"""

from __future__ import annotations

import contextlib
import contextvars
import copy
import hashlib
import logging
import os
import runpy
import threading
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pulumi
import pulumi.runtime
import pulumi_kubernetes.core.v1 as k8s_core
from pulumi.runtime import rpc
from pulumi.runtime.mocks import MockCallArgs, MockMonitor, MockResourceArgs, Mocks
from pulumi.runtime.proto import resource_pb2
from pulumi.runtime.stack import run_pulumi_func
from pulumi.runtime.sync_await import _ensure_event_loop, _sync_await

from stack.config import runtime_string

REPO_ROOT = Path(__file__).resolve().parents[1]
PROGRAM = REPO_ROOT / "__main__.py"
PROJECT = "tims-stack"

SECRET_MARK = "MOCKSECRET"  # noqa: S105 - a marker inside fake values
"""Every fake secret value contains this, so tests can scan for leaks."""
FAKE_TOKEN = f"ghp_{SECRET_MARK}0000000000000000000000000000000"
"""Stands in for the GitHub token: tests and offline renders never use a real one."""

IMAGE_BUILD_TYPE = "pulumi-python:dynamic/tims-stack:ImageBuild"
GET_BRANCH = "github:index/getBranch:getBranch"
GET_REF = "github:index/getRef:getRef"
RANDOM_PASSWORD = "random:index/randomPassword:RandomPassword"  # noqa: S105 - a type token
FAKE_RUN_ID = 4242

_HIDDEN_ENV_PREFIXES = ("PULUMI_CONFIG", "GITHUB_TOKEN")


def fake_secret(resource_name: str) -> str:
    """The value the mocks give a RandomPassword named `resource_name`."""
    digest = hashlib.sha256(resource_name.encode()).hexdigest()[:16]
    return f"{SECRET_MARK}-{digest}"


def fake_sha(repository: str, ref: str) -> str:
    """The sha the mocked getBranch (branch name) or getRef (`tags/<name>`) returns."""
    return hashlib.sha1(f"{repository}@{ref}".encode(), usedforsecurity=False).hexdigest()


def auto_name(urn: str, name: str) -> str:
    """`<name>-<7 hex>`: Pulumi's auto-naming shape, deterministic per resource URN."""
    return f"{name}-{hashlib.sha256(urn.encode()).hexdigest()[:7]}"


def is_secret(value: Any) -> bool:
    return rpc.is_rpc_secret(value)


def reveal(value: Any) -> Any:
    """`value` with every secret wrapper removed (what the object holds once deployed)."""
    if is_secret(value):
        return reveal(value["value"])
    if isinstance(value, dict):
        return {k: reveal(v) for k, v in value.items()}
    if isinstance(value, list):
        return [reveal(v) for v in value]
    return value


def integral(value: Any) -> Any:
    """`value` with integral floats as ints: the mocks' protobuf numbers are all doubles."""
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, dict):
        return {k: integral(v) for k, v in value.items()}
    if isinstance(value, list):
        return [integral(v) for v in value]
    return value


def plaintext(value: Any) -> Any:
    """`value` with every secret wrapper dropped: what state would hold unencrypted."""
    if is_secret(value):
        return None
    if isinstance(value, dict):
        return {k: plaintext(v) for k, v in value.items()}
    if isinstance(value, list):
        return [plaintext(v) for v in value]
    return value


@dataclass(frozen=True)
class Registered:
    """One resource the program registered."""

    urn: str
    type: str
    name: str
    parent: str | None
    """URN of the parent resource (the stack's URN for top-level resources)."""
    custom: bool
    """False for component resources."""
    inputs: dict[str, Any]
    """As the SDK sent them (camelCase keys, secrets wrapped)."""
    outputs: dict[str, Any]
    """What the mocks returned, i.e. what the program saw as this resource's state."""
    dependencies: tuple[str, ...]
    """URNs this resource depends on."""
    ignore_changes: tuple[str, ...] = ()
    """Property paths the engine ignores in updates (`ignore_changes`, camelCase paths)."""
    retain_on_delete: bool = False
    """True when removing the resource from the program leaves the cluster object alone."""
    delete_before_replace: bool = False
    """True when a replacement deletes the old object before creating the new one."""

    @property
    def is_kubernetes(self) -> bool:
        return self.custom and self.type.startswith("kubernetes:")

    @property
    def kind(self) -> str:
        return str(reveal(self.outputs).get("kind", ""))

    def manifest(self) -> dict[str, Any]:
        """The Kubernetes object this resource would create: auto-name set, secrets revealed."""
        state = integral(reveal(self.outputs))
        return {k: v for k, v in state.items() if k not in ("id", "urn")}


@dataclass(frozen=True)
class ProgramRun:
    resources: list[Registered]
    outputs: dict[str, Any]
    """Stack outputs, resolved; secret ones included with their value."""
    secret_outputs: frozenset[str]
    invokes: list[tuple[str, dict[str, Any]]] = field(default_factory=list)
    """Provider functions the program called: (token, arguments)."""
    logs: list[str] = field(default_factory=list)
    """Warnings and errors the program logged."""
    error: BaseException | None = None
    """What the program raised, if anything (resources hold what it registered before)."""
    readable_entries: Mapping[str, frozenset[tuple[str, str]]] = field(default_factory=dict)
    """Per Secret URN, its (`data`|`stringData`, key) entries built from no secret value."""

    def kubernetes_objects(self) -> list[Registered]:
        return [r for r in self.resources if r.is_kubernetes]

    def of_type(self, type_: str) -> list[Registered]:
        return [r for r in self.resources if r.type == type_]

    def by_urn(self, urn: str) -> Registered:
        return next(r for r in self.resources if r.urn == urn)

    def plaintext_outputs(self) -> dict[str, Any]:
        """Outputs as `pulumi stack output` shows them without --show-secrets."""
        return {k: v for k, v in self.outputs.items() if k not in self.secret_outputs}


class _ProviderMocks(Mocks):
    """Answers resource registrations and invokes the way the real providers would."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, dict[str, Any]]] = []

    def new_resource(self, args: MockResourceArgs) -> tuple[str | None, dict[str, Any]]:
        # Unused: _RecordingMonitor needs the parent and the declared secret
        # outputs, which MockResourceArgs does not carry.
        raise NotImplementedError

    def call(self, args: MockCallArgs) -> tuple[dict[str, Any], list[tuple[str, str]]]:
        self.calls.append((args.token, dict(args.args)))
        if args.token == GET_BRANCH:
            repository = str(args.args.get("repository"))
            branch = str(args.args.get("branch"))
            sha = fake_sha(repository, branch)
            return {
                "branch": branch,
                "repository": repository,
                "ref": f"refs/heads/{branch}",
                "sha": sha,
                "etag": f'W/"{sha}"',
                "id": f"{repository}:{branch}",
            }, []
        if args.token == GET_REF:
            repository = str(args.args.get("repository"))
            ref = str(args.args.get("ref"))
            sha = fake_sha(repository, ref)
            return {
                "owner": args.args.get("owner"),
                "repository": repository,
                "ref": ref,
                "sha": sha,
                "etag": f'W/"{sha}"',
                "id": f"{repository}:{ref}",
            }, []
        raise NotImplementedError(f"no mock for invoke {args.token}")


def _state_for(type_: str, name: str, urn: str, inputs: dict[str, Any]) -> dict[str, Any]:
    """A provider's answer: the inputs plus whatever the provider computes."""
    state = copy.deepcopy(inputs)
    if type_.startswith("kubernetes:"):
        metadata = state.setdefault("metadata", {})
        if is_secret(metadata):  # never for metadata, but keep the wrapper intact
            return state
        if not metadata.get("name"):
            metadata["name"] = auto_name(urn, name)
    elif type_ == RANDOM_PASSWORD:
        state["result"] = fake_secret(name)
    elif type_ == IMAGE_BUILD_TYPE:
        plain = reveal(inputs)
        tag = plain["tag"]
        state["imageRepositories"] = dict(plain["images"])
        state["images"] = {image: f"{repo}:{tag}" for image, repo in plain["images"].items()}
        state["requestedSha"] = plain["commitSha"]
        state["missingImages"] = []
        state["runId"] = FAKE_RUN_ID
        state["runUrl"] = f"https://github.com/{plain['repository']}/actions/runs/{FAKE_RUN_ID}"
        state["skipped"] = False
        state.pop("__provider", None)
    return state


class _RecordingMonitor(MockMonitor):
    """A MockMonitor that keeps what the SDK sent for every registration."""

    def __init__(self, mocks: Mocks) -> None:
        super().__init__(mocks)
        self.records: list[Registered] = []
        self._lock = threading.Lock()

    def RegisterResource(self, request: Any) -> Any:
        if request.type == "pulumi:pulumi:Stack":
            return super().RegisterResource(request)  # type: ignore[no-untyped-call]
        # Deserialising resource references needs an event loop on this thread.
        _ensure_event_loop()  # type: ignore[no-untyped-call]
        urn = self.make_urn(request.parent, request.type, request.name)
        inputs = rpc.deserialize_properties(request.object)
        state = _state_for(request.type, request.name, urn, inputs)
        for key in request.additionalSecretOutputs:
            if key in state and not is_secret(state[key]):
                state[key] = rpc.wrap_rpc_secret(state[key])
        resource_id = (
            str(reveal(state).get("metadata", {}).get("name", request.name))
            if request.custom
            else ""
        )
        record = Registered(
            urn=urn,
            type=request.type,
            name=request.name,
            parent=request.parent or None,
            custom=bool(request.custom),
            inputs=inputs,
            outputs=state,
            dependencies=tuple(request.dependencies),
            ignore_changes=tuple(request.ignoreChanges),
            retain_on_delete=bool(request.retainOnDelete),
            delete_before_replace=bool(request.deleteBeforeReplace),
        )
        with self._lock:
            self.records.append(record)
            self.resources[urn] = MockMonitor.ResourceRegistration(urn, resource_id, state)
        obj = _sync_await(rpc.serialize_properties(state, {}))
        return resource_pb2.RegisterResourceResponse(urn=urn, id=resource_id, object=obj)


_SECRET_FIELDS = {"data": "data", "string_data": "stringData"}
_SECRET_INPUTS: contextvars.ContextVar[list[tuple[pulumi.Resource, dict[str, Any]]] | None] = (
    contextvars.ContextVar("tims_stack_mockrun_secret_inputs", default=None)
)


def _record_secret_inputs() -> None:
    """Wrap `Secret._internal_init` once, to see the entries before the SDK wraps them."""
    original = k8s_core.Secret._internal_init
    if getattr(original, "_tims_stack_recorder", False):
        return

    def recording(self: k8s_core.Secret, resource_name: str, *args: Any, **kwargs: Any) -> None:
        recorded = _SECRET_INPUTS.get()
        if recorded is not None:
            fields = {wire: kwargs.get(arg) for arg, wire in _SECRET_FIELDS.items()}
            recorded.append((self, {k: v for k, v in fields.items() if v is not None}))
        original(self, resource_name, *args, **kwargs)

    recording._tims_stack_recorder = True  # type: ignore[attr-defined]
    k8s_core.Secret._internal_init = recording  # type: ignore[method-assign,assignment]


def _readable(value: Any) -> bool:
    """Whether an entry as the program passed it is no secret (resolved after the run)."""
    if isinstance(value, pulumi.Output):
        return not bool(_sync_await(value.is_secret()))
    # A plain value is no secret; an awaitable or anything else is not known to be.
    return isinstance(value, (str, int, float, bool))


def _readable_entries(
    recorded: list[tuple[pulumi.Resource, dict[str, Any]]],
) -> dict[str, frozenset[tuple[str, str]]]:
    """Per Secret URN, the (field, key) entries that hold no secret value.

    A field passed as one Output (not a map of entries) counts as all secret.
    """
    readable: dict[str, frozenset[tuple[str, str]]] = {}
    for resource, fields in recorded:
        urn = str(_sync_await(resource.urn.future()))
        readable[urn] = frozenset(
            (field_name, str(key))
            for field_name, entries in fields.items()
            if isinstance(entries, Mapping)
            for key, value in entries.items()
            if _readable(value)
        )
    return readable


@contextlib.contextmanager
def _hidden_environment() -> Iterator[None]:
    """Hide variables a developer's shell may set, so only the given config counts."""
    saved = {k: v for k, v in os.environ.items() if k.startswith(_HIDDEN_ENV_PREFIXES)}
    for key in saved:
        del os.environ[key]
    try:
        yield
    finally:
        os.environ.update(saved)


class _LogCollector:
    """Keeps the warnings and errors the program logs (e.g. config notes)."""

    def __init__(self) -> None:
        self.lines: list[str] = []

    def logger(self) -> logging.Logger:
        lines = self.lines

        class _Handler(logging.Handler):
            def emit(self, record: logging.LogRecord) -> None:
                lines.append(f"{record.levelname.lower()}: {record.getMessage()}")

        logger = logging.getLogger(f"tims-stack.mockrun.{id(self)}")
        logger.propagate = False
        logger.setLevel(logging.WARNING)
        logger.addHandler(_Handler())
        return logger


def _run_in_fresh_context(
    raw: Mapping[str, str], secret_keys: frozenset[str], stack: str, body: Callable[[], object]
) -> ProgramRun:
    mocks = _ProviderMocks()
    monitor = _RecordingMonitor(mocks)
    logs = _LogCollector()
    pulumi.runtime.set_mocks(
        monitor.mocks,
        project=PROJECT,
        stack=stack,
        preview=False,
        monitor=monitor,
        logger=logs.logger(),
    )
    pulumi.runtime.set_all_config(dict(raw), sorted(secret_keys))
    recorded: list[tuple[pulumi.Resource, dict[str, Any]]] = []
    _SECRET_INPUTS.set(recorded)

    def program() -> None:
        body()

    error: BaseException | None = None
    try:
        _sync_await(run_pulumi_func(program))
    except Exception as exc:  # handed back to the caller with what was registered
        error = exc

    root = pulumi.runtime.get_root_resource()
    exported: dict[str, Any] = dict(getattr(root, "outputs", {}) or {})
    values: dict[str, Any] = {}
    secret: set[str] = set()
    readable = _readable_entries(recorded) if error is None else {}
    if error is None:
        for key, value in exported.items():
            output = pulumi.Output.from_input(value)
            values[key] = _sync_await(output.future())
            if _sync_await(output.is_secret()):
                secret.add(key)
    return ProgramRun(
        resources=list(monitor.records),
        outputs=values,
        secret_outputs=frozenset(secret),
        invokes=list(mocks.calls),
        logs=logs.lines,
        error=error,
        readable_entries=readable,
    )


def run_function(
    body: Callable[[], object],
    raw_config: Mapping[str, Any] | None = None,
    *,
    stack: str = "dev",
    secret_keys: frozenset[str] | set[str] = frozenset({"github:token"}),
) -> ProgramRun:
    """Run `body` (which registers resources) under the mocks, as `run_program` runs the program.

    An exception from `body` is returned in `ProgramRun.error`, not raised.
    """
    raw = {key: runtime_string(value) for key, value in (raw_config or {}).items()}
    keys = frozenset(k for k in secret_keys if k in raw)
    _record_secret_inputs()
    with _hidden_environment():
        context = contextvars.Context()
        return context.run(_run_in_fresh_context, raw, keys, stack, body)


def run_program(
    raw_config: Mapping[str, Any],
    *,
    stack: str = "dev",
    secret_keys: frozenset[str] | set[str] = frozenset({"github:token"}),
    program: Path = PROGRAM,
) -> ProgramRun:
    """Run `program` with `raw_config` under mocks and return what it registered.

    `raw_config` maps full keys (`tims-stack:domain`, `github:token`) to runtime
    strings; Python objects are converted as Pulumi would (JSON, "true").
    Exceptions from the program (e.g. ConfigError) propagate.
    """
    run = try_program(raw_config, stack=stack, secret_keys=secret_keys, program=program)
    if run.error is not None:
        raise run.error
    return run


def try_program(
    raw_config: Mapping[str, Any],
    *,
    stack: str = "dev",
    secret_keys: frozenset[str] | set[str] = frozenset({"github:token"}),
    program: Path = PROGRAM,
) -> ProgramRun:
    """Like `run_program`, but an exception is returned in `.error` with what was registered."""

    def body() -> None:
        runpy.run_path(str(program), run_name="__main__")

    return run_function(body, raw_config, stack=stack, secret_keys=secret_keys)
