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

The package's modules, one job each: `values` (fake values and the helpers
that unwrap secrets), `records` (what a run returns), `providers` (the mocked
providers and the monitor that records registrations), `secret_inputs` (which
Secret entries hold no secret) and `runner` (running a body or the program).
"""

from __future__ import annotations

from scripts.mockrun.providers import _ProviderMocks, _RecordingMonitor, _state_for
from scripts.mockrun.records import ProgramRun, Registered
from scripts.mockrun.runner import run_function, run_program, try_program
from scripts.mockrun.values import (
    FAKE_RUN_ID,
    FAKE_TOKEN,
    GET_BRANCH,
    GET_REF,
    IMAGE_BUILD_TYPE,
    PROGRAM,
    PROJECT,
    RANDOM_PASSWORD,
    REPO_ROOT,
    SECRET_MARK,
    auto_name,
    fake_secret,
    fake_sha,
    integral,
    is_secret,
    plaintext,
    reveal,
)

__all__ = [
    "FAKE_RUN_ID",
    "FAKE_TOKEN",
    "GET_BRANCH",
    "GET_REF",
    "IMAGE_BUILD_TYPE",
    "PROGRAM",
    "PROJECT",
    "RANDOM_PASSWORD",
    "REPO_ROOT",
    "SECRET_MARK",
    "ProgramRun",
    "Registered",
    "_ProviderMocks",
    "_RecordingMonitor",
    "_state_for",
    "auto_name",
    "fake_secret",
    "fake_sha",
    "integral",
    "is_secret",
    "plaintext",
    "reveal",
    "run_function",
    "run_program",
    "try_program",
]
