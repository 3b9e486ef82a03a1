"""A `pulumi` test double that keeps its state in a directory laid out as a DIY bucket.

It follows pulumi/pulumi's self-managed backend (pkg/backend/diy), read at the
newest snapshot available here, commit 1b59498 of 2026-08-21 (after v3.259.0;
the workflows install CLI 3.272.0, which could not be read here):

- backend.go, `Update`, `Destroy`, `RemoveStack`, `CreateStack`: take the lock
  first (`b.Lock`), so a locked stack refuses them before any change;
- backend.go, `Preview` and the `--preview-only` branch of `Destroy`: no lock
  taken and none checked;
- lock.go, `Lock`/`checkForLock`: a lock is `.pulumi/locks/<org>/<project>/<stack>/
  <id>.json` holding pid, username, hostname and timestamp; a refusal reads
  "the stack is currently locked by N lock(s). Either wait ... `pulumi cancel`."
  then one line per lock file;
- lock.go, `Lock`: checks, writes its own lock file, checks again (and removes
  its own when another appeared meanwhile);
- backend.go, `CancelCurrentUpdate` (`pulumi cancel`): deletes every lock file
  (pkg/cmd/pulumi/cancel/cancel.go prints "has been canceled!");
- pkg/cmd/pulumi/stack/stack_remove.go: a stack with resources is refused
  ("still has resources; removal rejected");
- stack_list.go, `formatStackSummariesJSON`: a DIY backend does not support
  progress, so `pulumi stack ls --json` never reports `updateInProgress`.

Use it in-process (`FakeDiyPulumi(bucket)(command)` returns (status, output))
or as an executable (`install_fake_pulumi(bin_dir, bucket)`). Setting
`die_during_up` (FAKE_PULUMI_DIE_DURING_UP=1) makes the next `up` leave its lock
behind and exit 137, as a job killed by its timeout does; FAKE_PULUMI_HOLD_UNTIL
names a file a command waits for before it starts (touching `<file>.held`): a
job that has not taken the lock yet. `stack output NAME`
prints one output, `stack output --json` all of them.
"""

from __future__ import annotations

import json
import os
import sys
import time
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

PROJECT = "tims-stack"
ORG = "organization"
STAMP = "2026-12-01T22:04:11Z"
OUTPUTS = {
    "url": "https://backend-{stack}.example.com",
    "backendImage": "ghcr.io/acme/tims-stack-backend-image-prod:{stack}",
    "frontendImage": "ghcr.io/acme/tims-stack-frontend-image-prod:{stack}",
}


class FakeDiyPulumi:
    def __init__(self, bucket: Path, lock_id: str = "me") -> None:
        self.bucket = bucket
        self.lock_id = lock_id
        self.commands: list[list[str]] = []
        self.die_during_up = False

    # ----------------------------------------------------------------- layout

    def stack_file(self, stack: str) -> Path:
        return self.bucket / ".pulumi" / "stacks" / PROJECT / f"{stack}.json"

    def lock_dir(self, stack: str) -> Path:
        return self.bucket / ".pulumi" / "locks" / ORG / PROJECT / stack

    def locks(self, stack: str) -> list[Path]:
        directory = self.lock_dir(stack)
        return sorted(directory.glob("*.json")) if directory.is_dir() else []

    def add_lock(
        self, stack: str, lock_id: str, user: str = "runner", host: str = "fv-az1"
    ) -> None:
        """A lock file written by another process (a live run, or a dead one's leftover)."""
        self.lock_dir(stack).mkdir(parents=True, exist_ok=True)
        content = {"pid": 2301, "username": user, "hostname": host, "timestamp": STAMP}
        (self.lock_dir(stack) / f"{lock_id}.json").write_text(json.dumps(content))

    def state(self, stack: str) -> dict[str, Any] | None:
        file = self.stack_file(stack)
        return json.loads(file.read_text()) if file.is_file() else None

    def _save(self, stack: str, state: dict[str, Any]) -> None:
        self.stack_file(stack).parent.mkdir(parents=True, exist_ok=True)
        self.stack_file(stack).write_text(json.dumps(state))

    # ----------------------------------------------------------------- locks (diy/lock.go)

    def _check_for_lock(self, stack: str) -> str | None:
        others = [p for p in self.locks(stack) if p.stem != self.lock_id]
        if not others:
            return None
        lines = [
            f"error: the stack is currently locked by {len(others)} lock(s). Either wait for the "
            "other process(es) to end or delete the lock file with `pulumi cancel`."
        ]
        for path in others:
            held = json.loads(path.read_text())
            key = path.relative_to(self.bucket).as_posix()
            lines.append(
                f"  s3://bucket/{key}: created by {held['username']}@{held['hostname']} "
                f"(pid {held['pid']}) at {held['timestamp']}"
            )
        return "\n".join(lines) + "\n"

    def _lock(self, stack: str) -> str | None:
        # lock.go, `Lock`: check, write this process's lock file, check again; a lock
        # another process wrote meanwhile wins, and this one is removed.
        refused = self._check_for_lock(stack)
        if refused is not None:
            return refused
        self.add_lock(stack, self.lock_id, "me", "this-runner")
        refused = self._check_for_lock(stack)
        if refused is not None:
            self._unlock(stack)
        return refused

    def _unlock(self, stack: str) -> None:
        (self.lock_dir(stack) / f"{self.lock_id}.json").unlink(missing_ok=True)

    # ----------------------------------------------------------------- commands

    def __call__(self, command: Sequence[str]) -> tuple[int, str]:
        args = list(command)
        assert args[0] == "pulumi", args
        self.commands.append(args)
        rest = args[1:]
        if "--cwd" in rest:
            at = rest.index("--cwd")
            del rest[at : at + 2]
        stack = rest[rest.index("--stack") + 1] if "--stack" in rest else ""
        verb = rest[0]
        if rest[:2] == ["stack", "ls"]:
            listing = [
                {"name": path.stem, "current": False, "lastUpdate": "2026-12-01T00:00:00.000Z"}
                for path in sorted((self.bucket / ".pulumi" / "stacks" / PROJECT).glob("*.json"))
            ]
            return 0, json.dumps(listing)
        if rest[:2] == ["stack", "select"]:
            if self.state(stack) is not None:
                return 0, ""
            if "--create" not in rest:
                return 255, f"error: no stack named '{stack}' found\n"
            return self._locked(stack, lambda: self._save(stack, {"resources": 0, "outputs": {}}))
        if rest[:2] == ["stack", "rm"]:
            stack = stack or rest[2]
            if self.state(stack) is None:
                return 255, f"error: no stack named '{stack}' found\n"
            if (self.state(stack) or {}).get("resources"):
                return 255, f"error: '{stack}' still has resources; removal rejected\n"
            return self._locked(stack, lambda: self.stack_file(stack).unlink())
        if rest[:2] == ["stack", "output"]:
            outputs = (self.state(stack) or {}).get("outputs", {})
            names = [a for a in rest[2:] if not a.startswith("-") and a != stack]
            return 0, f"{outputs[names[0]]}\n" if names else json.dumps(outputs)
        if rest[:2] == ["config", "set"]:
            state = self.state(stack) or {}
            state.setdefault("config", {})[rest[-2]] = rest[-1]
            self._save(stack, state)
            return 0, ""
        if verb == "cancel":
            for path in self.locks(stack):
                path.unlink()
            return 0, f"The currently running update for '{stack}' has been canceled!\n"
        if self.state(stack) is None:
            return 255, f"error: no stack named '{stack}' found\n"
        if verb == "preview" or (verb == "destroy" and "--preview-only" in rest):
            return 0, "Previewing (no lock taken)\n"
        if verb == "up":
            if self.die_during_up:
                self.die_during_up = False
                refused = self._lock(stack)
                return (255, refused) if refused else (137, "Killed\n")
            outputs = {key: value.format(stack=stack) for key, value in OUTPUTS.items()}
            stopped = (self.state(stack) or {}).get("config", {}).get("tims-stack:stopped")
            return self._locked(stack, lambda: self._update(stack, 12, outputs, stopped))
        if verb == "destroy":
            return self._locked(stack, lambda: self._update(stack, 0, {}, None))
        raise AssertionError(f"the fake pulumi does not know {args}")

    def _update(
        self, stack: str, resources: int, outputs: dict[str, str], stopped: str | None
    ) -> None:
        state = self.state(stack) or {}
        state.update(resources=resources, outputs=outputs, stopped=stopped)
        state["updates"] = state.get("updates", 0) + 1
        state["at"] = datetime.now(UTC).isoformat()
        self._save(stack, state)

    def _locked(self, stack: str, change: Any) -> tuple[int, str]:
        refused = self._lock(stack)
        if refused is not None:
            return 255, refused
        try:
            change()
        finally:
            self._unlock(stack)
        return 0, "Resources:\n    12 unchanged\n"


def install_fake_pulumi(bin_dir: Path, bucket: Path) -> Path:
    """Write an executable `pulumi` into `bin_dir` that runs FakeDiyPulumi on `bucket`."""
    bin_dir.mkdir(parents=True, exist_ok=True)
    root = Path(__file__).resolve().parents[2]
    script = bin_dir / "pulumi"
    script.write_text(
        f"#!/bin/sh\nPYTHONPATH={root} exec {sys.executable} -m tests.ci.fake_pulumi "
        f'{bucket} "$@"\n'
    )
    script.chmod(0o755)
    return script


def _wait_for(path: Path, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while not path.exists():
        assert time.monotonic() < deadline, f"{path} never appeared"
        time.sleep(0.02)


def main(argv: Sequence[str]) -> int:
    fake = FakeDiyPulumi(Path(argv[0]), lock_id=f"pid-{os.getpid()}")
    fake.die_during_up = os.environ.get("FAKE_PULUMI_DIE_DURING_UP") == "1"
    release = os.environ.get("FAKE_PULUMI_HOLD_UNTIL", "")
    if release:
        Path(f"{release}.held").touch()
        _wait_for(Path(release))
    status, output = fake(["pulumi", *argv[1:]])
    sys.stdout.write(output)
    return status


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
