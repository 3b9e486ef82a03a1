"""The mocked providers, and the monitor that records every registration."""

from __future__ import annotations

import copy
import threading
from typing import Any

from pulumi.runtime import rpc
from pulumi.runtime.mocks import MockCallArgs, MockMonitor, MockResourceArgs, Mocks
from pulumi.runtime.proto import resource_pb2
from pulumi.runtime.sync_await import _ensure_event_loop, _sync_await

from scripts.mockrun.records import Registered
from scripts.mockrun.values import (
    FAKE_RUN_ID,
    GET_BRANCH,
    GET_REF,
    IMAGE_BUILD_TYPE,
    RANDOM_PASSWORD,
    auto_name,
    fake_secret,
    fake_sha,
    is_secret,
    reveal,
)


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
