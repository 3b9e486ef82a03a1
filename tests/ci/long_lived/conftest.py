"""Fixtures for the long-lived stacks' scripts and workflows: preview digests, a fake
`pulumi` executable, the GitHub emulator with this repository and a PR."""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
import threading
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs

import pytest

from tests.ci.conftest import WORKFLOW_DIR, load_workflow
from tests.conftest import REPO_ROOT
from tests.github.emulator import GitHubEmulator
from tests.github.fixtures import emulator, fake_clock, github_openapi  # noqa: F401

REPO = "acme/tims-stack"
PR = 1
BOT = "github-actions[bot]"
STACK_TYPE = "tims-stack:k8s:Postgres$kubernetes:apps/v1:StatefulSet"


def urn(qualified_type: str, name: str, stack: str = "production") -> str:
    """A URN as Pulumi writes it: parent types joined by `$`, then the resource name."""
    return f"urn:pulumi:{stack}::tims-stack::{qualified_type}::{name}"


def step(op: str, qualified_type: str, name: str, **extra: Any) -> dict[str, Any]:
    """One `steps` entry of a preview digest (pulumi/pulumi pkg/display/json.go PreviewStep)."""
    entry: dict[str, Any] = {"op": op, "urn": urn(qualified_type, name), "detailedDiff": None}
    entry.update(extra)
    return entry


# What each step adds to `changeSummary`: the engine counts logical steps only, and a
# refresh step under its result (pulumi/pulumi pkg/engine/update.go,
# `updateActions.OnResourceStepPost`: `op, record := step.Op(), step.Logical()`, a
# RefreshStep counted as `ResultOp()`). Steps this fake's tests use that upstream does not
# count: create-replacement and delete-replaced (`Logical()` false when replacing).
_NOT_COUNTED = frozenset({"create-replacement", "delete-replaced"})


def digest(*steps: dict[str, Any], unchanged_refreshed: int = 0) -> dict[str, Any]:
    """A preview digest with its changeSummary counted from the steps, as the engine does.
    `unchanged_refreshed`: resources a refresh read and found unchanged (counted `same`)."""
    summary: dict[str, int] = {"same": unchanged_refreshed} if unchanged_refreshed else {}
    for entry in steps:
        op = "same" if entry["op"] == "refresh" else entry["op"]
        if op not in _NOT_COUNTED:
            summary[op] = summary.get(op, 0) + 1
    return {"steps": list(steps), "changeSummary": summary, "duration": 1}


def postgres_replacement(*, show_replacement_steps: bool = False) -> list[dict[str, Any]]:
    """The Postgres StatefulSet replaced, as `pulumi preview --json` prints it.

    By default the digest keeps only the logical `replace` step, the same for
    delete-before-replace and create-before-delete: `ShowPreviewDigest`
    (pkg/backend/display/json.go) drops what `shouldShow`
    (pkg/backend/display/display.go) refuses, every non-logical
    `deploy.IsReplacementStep` op unless --show-replacement-steps. With that flag the
    delete-before-replace order of `generateStepsFromDiff` (pkg/resource/deploy/
    step_generator.go) shows: delete-replaced, replace, create-replacement.
    """
    reasons = {"replaceReasons": ["spec.volumeClaimTemplates"]}
    replace = step("replace", STACK_TYPE, "postgres", **reasons)
    if not show_replacement_steps:
        return [replace]
    return [
        step("delete-replaced", STACK_TYPE, "postgres"),
        replace,
        step("create-replacement", STACK_TYPE, "postgres", **reasons),
    ]


def refreshed(name: str, qualified_type: str = STACK_TYPE) -> dict[str, Any]:
    """A resource `pulumi refresh --preview-only --json` read and found unchanged: its step
    keeps the op `refresh` (ShowPreviewDigest swaps in the result only for an update with a
    detailed diff or a delete)."""
    return step("refresh", qualified_type, name)


# A stand-in for the Pulumi CLI, run as a real executable on PATH. As upstream:
# `preview`/`refresh --preview-only` with --json print the digest on stdout
# (ShowPreviewDigest); with --expect-no-changes, a changeSummary `engine.HasChanges`
# counts (every op but same, read, discard, read-replacement: pkg/engine/update.go)
# exits 7 after printing it (preview.go/refresh.go return NoChangesExpectedError,
# which pkg/cmd/pulumi/cmd/exit_codes.go `ExitCodeFor` maps to `ExitNoChanges`);
# `stack output --json` prints the outputs. Answers come from FAKE_PULUMI_DIR:
# `<command>-<stack>.json`, and `<command>-<stack>.status` for a failure.
FAKE_PULUMI = """\
import json, os, sys
args = sys.argv[1:]
root = os.environ["FAKE_PULUMI_DIR"]
with open(os.path.join(root, "calls.log"), "a") as log:
    log.write(json.dumps(args) + "\\n")
stack = args[args.index("--stack") + 1]
command = "output" if args[:2] == ["stack", "output"] else args[0]
base = os.path.join(root, f"{command}-{stack}")
if os.path.exists(base + ".status"):
    sys.exit(int(open(base + ".status").read()))
text = open(base + ".json").read() if os.path.exists(base + ".json") else "{}"
print(text)
if "--expect-no-changes" in args:
    summary = json.loads(text).get("changeSummary", {})
    quiet = {"same", "read", "discard", "read-replacement"}
    if any(n for op, n in summary.items() if op not in quiet):
        sys.exit(7)
"""


class FakePulumi:
    def __init__(self, directory: Path) -> None:
        self.dir = directory
        self.bin = directory / "bin"
        self.bin.mkdir(parents=True)
        executable = self.bin / "pulumi"
        executable.write_text(f"#!{sys.executable}\n{FAKE_PULUMI}", encoding="utf-8")
        executable.chmod(executable.stat().st_mode | stat.S_IXUSR)

    def answer(self, command: str, stack: str, document: dict[str, Any]) -> None:
        (self.dir / f"{command}-{stack}.json").write_text(json.dumps(document), encoding="utf-8")
        (self.dir / f"{command}-{stack}.status").unlink(missing_ok=True)

    def fail(self, command: str, stack: str, status: int) -> None:
        (self.dir / f"{command}-{stack}.status").write_text(str(status), encoding="utf-8")

    def calls(self) -> list[list[str]]:
        log = self.dir / "calls.log"
        if not log.exists():
            return []
        return [json.loads(line) for line in log.read_text(encoding="utf-8").splitlines()]


@pytest.fixture
def fake_pulumi(tmp_path: Path) -> FakePulumi:
    return FakePulumi(tmp_path / "pulumi")


@pytest.fixture
def repo_emulator(emulator: GitHubEmulator) -> GitHubEmulator:  # noqa: F811
    """The emulator with this repository and its open PR #1; the token is the run's, so
    what it writes is written by github-actions[bot], the author the scripts look for."""
    emulator.add_repo(REPO)
    emulator.add_account(BOT, "User")
    emulator.authenticated_login = BOT
    assert emulator.add_issue(REPO, "Change the program", pull_request=True) == PR
    return emulator


@pytest.fixture
def long_lived_workflows() -> dict[str, dict[str, Any]]:
    return {
        name: load_workflow(WORKFLOW_DIR / name)
        for name in ("long-lived.yml", "drift.yml", "e2e-kind.yml")
    }


StepRunner = Callable[[dict[str, Any], dict[str, str]], subprocess.CompletedProcess[str]]


@pytest.fixture
def run_step(fake_pulumi: FakePulumi, repo_emulator: GitHubEmulator) -> StepRunner:
    """Run a workflow step's script as Actions would, against the fake pulumi and the
    emulator: its `env:` with the expressions replaced by `values`."""

    def run(step: dict[str, Any], values: dict[str, str]) -> subprocess.CompletedProcess[str]:
        env = {
            "PATH": f"{fake_pulumi.bin}:{os.environ['PATH']}",
            "FAKE_PULUMI_DIR": str(fake_pulumi.dir),
            "GITHUB_API_URL": repo_emulator.base_url,
            "GITHUB_REPOSITORY": REPO,
            "GITHUB_SERVER_URL": "https://github.com",
            "GITHUB_RUN_ID": "42",
        }
        for key, expression in step.get("env", {}).items():
            assert expression in values, f"step {step.get('name')}: no test value for {expression}"
            env[key] = values[expression]
        return subprocess.run(
            ["bash", "--noprofile", "--norc", "-eo", "pipefail", "-c", step["run"]],
            cwd=REPO_ROOT,
            env=env,
            capture_output=True,
            text=True,
            check=False,
            timeout=120,
        )

    return run


# --------------------------------------------------------------------------- e2e


class FakeApp:
    """What the deployed app answers, per its contract (docs: routes and run-time behaviour):
    `/` -> 302 /login, Django's admin login with CSRF, WhiteNoise static files, and the
    WebSocket `/api/core/ws` upgrading for a session only. Switches break one behaviour."""

    def __init__(self) -> None:
        self.static_collected = True
        self.password = "generated-admin-password"
        self.websocket_for_sessions = True
        self.hosts: set[str] = set()


def _app_handler(app: FakeApp) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args: object) -> None:
            pass

        def _send(self, status: int, headers: dict[str, str], body: bytes = b"") -> None:
            self.send_response(status)
            for key, value in headers.items():
                self.send_header(key, value)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def _session(self) -> bool:
            return "sessionid=s1" in self.headers.get("Cookie", "")

        def do_GET(self) -> None:
            app.hosts.add(self.headers.get("Host", ""))
            path = self.path.split("?")[0]
            if path == "/" or (path.startswith("/static/") and not app.static_collected):
                self._send(302, {"Location": "/login"})
            elif path == "/login":
                self._send(200, {"Content-Type": "text/html"}, b"<html>login</html>")
            elif path == "/static/admin/css/base.css":
                self._send(200, {"Content-Type": "text/css"}, b"body{}")
            elif path == "/admin/login/":
                form = b'<input type="hidden" name="csrfmiddlewaretoken" value="tok">'
                cookie = "csrftoken=c1; Path=/; Domain=.e2e.test"
                self._send(200, {"Content-Type": "text/html", "Set-Cookie": cookie}, form)
            elif path == "/admin/":
                self._send(
                    *((200, {}) if self._session() else (302, {"Location": "/admin/login/"}))
                )
            elif path == "/api/core/ws" and self.headers.get("Upgrade") == "websocket":
                if not (app.websocket_for_sessions and self._session()):
                    self._send(403, {})
                    return
                from scripts.e2e.http_checks import websocket_accept

                accept = websocket_accept(self.headers["Sec-WebSocket-Key"])
                self.send_response(101)
                self.send_header("Upgrade", "websocket")
                self.send_header("Connection", "Upgrade")
                self.send_header("Sec-WebSocket-Accept", accept)
                self.end_headers()
            else:
                self._send(404, {})

        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length", "0"))
            form = parse_qs(self.rfile.read(length).decode())
            valid = (
                self.path.startswith("/admin/login/")
                and "csrftoken=c1" in self.headers.get("Cookie", "")
                and form.get("csrfmiddlewaretoken") == ["tok"]
                and form.get("username") == ["admin"]
                and form.get("password") == [app.password]
            )
            if valid:
                cookie = "sessionid=s1; Path=/; HttpOnly; Domain=.e2e.test"
                self._send(302, {"Location": "/admin/", "Set-Cookie": cookie})
            else:
                self._send(200, {"Content-Type": "text/html"}, b"Please enter the correct")

    return Handler


@pytest.fixture
def fake_app() -> Iterator[tuple[FakeApp, str]]:
    """The fake app on 127.0.0.1 and its base URL."""
    app = FakeApp()
    server = ThreadingHTTPServer(("127.0.0.1", 0), _app_handler(app))
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.01})
    thread.start()
    try:
        yield app, f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)
