r"""A GitHub REST API emulator: a real HTTP server on 127.0.0.1 for offline tests.

It serves the operations the ImageBuild provider uses (workflow dispatch, runs,
jobs, cancel, branches/commits/refs, users/orgs, rate limit, the Packages API)
with the status lifecycle of a run driven by an injected clock. With a loaded
OpenAPI description (`spec=`), every request it receives and every answer it
gives is checked against GitHub's description (see `openapi_check`); problems
land in `spec_violations`, and answers the description cannot judge (a status
it does not document for that operation) land in `unvalidated`.

It also serves the container registry at its root (`/v2/.../manifests/...` and
`/token`; see `tests.github.emulator.registry`), outside GitHub's description and rate limit,
and sends a `Date` header from its clock (GitHub's time, which clients must trust
over their own). `oauth_scopes` plays a classic token's `X-OAuth-Scopes`; GitHub
Enterprise Server is `tests.github.fixtures.enterprise_server`.

World set-up happens in Python (`add_account`, `add_repo`, `add_workflow`, `add_pull`,
`plan_next_run`, `add_package`); behaviour switches are plain attributes
(`return_run_details`, `rate_limit_total`, `cancel_latency`); faults are
queued with `inject`. Typical use, with the fixtures of `tests.github.fixtures`:

    def test_failure(emulator, fake_clock):        # acme/app, build-images.yml
        emulator.plan_next_run("acme/app", "build-images.yml",
                               RunPlan(conclusion="failure",
                                       failed_jobs={"build (backend)": ["Build and push"]}))
        emulator.inject("GET", r"/actions/runs/\d+$", status=502, times=2)
        ...  # point the client at emulator.base_url with emulator.token, and
             # give it fake_clock so its sleeps move the emulator's time

Modelling choices worth knowing:
- a run is invisible until its `created_at` (a foreign run may start later);
- a cancel request completes the run as cancelled `cancel_latency` seconds
  later (3 s; set it lower for real-time tests), while it stays in_progress;
- a job with failed steps stops after the last of them; the run ends at
  `RunPlan.duration`; a successful run pushes `RunPlan.push` tags on completion
  (a pushed tag moves off any older version, as in a registry);
- package versions are given oldest first and listed newest first;
- 304 answers, 401 answers and GET /rate_limit do not count against the budget.
"""

from __future__ import annotations

from tests.github.emulator.model import DEFAULT_TOKEN, RecordedRequest, RunPlan, iso
from tests.github.emulator.server import GitHubEmulator
from tests.github.emulator.wire import parse_link_header

__all__ = [
    "DEFAULT_TOKEN",
    "GitHubEmulator",
    "RecordedRequest",
    "RunPlan",
    "iso",
    "parse_link_header",
]
