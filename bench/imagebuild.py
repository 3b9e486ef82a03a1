"""Benchmark: the ImageBuild provider vs. the seed script's strategy, on the GitHub emulator.

    python -m bench.imagebuild                  # print the table
    python -m bench.imagebuild --write-readme   # also rewrite the results in bench/README.md

Everything runs on virtual time (FakeClock): a 10-minute build takes about a
second. Both strategies talk HTTP to the same emulator, which counts each
request and whether it costs rate limit (a 304 does not).

The seed strategy, re-implemented faithfully from the original
`trigger_gh_action_wait_for_completion.sh`: dispatch (expects 204), sleep 10 s,
then every 10 s GET the workflow's runs list and read `workflow_runs[0]`; done
when that run is completed; give up after 400 s. No ETags, no retries.
"""

from __future__ import annotations

import argparse
import random
import statistics
import sys
import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
from pulumi.dynamic import ConfigureRequest
from pulumi.dynamic.config import Config

from components.images.imagebuild.base import ImageBuildError
from components.images.imagebuild.provider import PROVIDER_VERSION, ImageBuildProvider
from tests.github.clock import ConcurrentClock, FakeClock
from tests.github.emulator import GitHubEmulator, RunPlan
from tests.github.fixtures import APP_REPO, WORKFLOW_FILE, standard_world

README = Path(__file__).with_name("README.md")
BEGIN, END = "<!-- bench:begin -->", "<!-- bench:end -->"
SHA = "5d0c4a9f2e8b7c6d1a3f4e5b6c7d8e9f0a1b2c3d"  # head of main in the emulator's world
TAG = "dev-5d0c4a9f2e8b"
IMAGES = {"backend": "ghcr.io/acme/app-backend", "frontend": "ghcr.io/acme/app-frontend"}
PUSH = {"app-backend": "tag", "app-frontend": "tag"}
# Each scenario runs once per offset: builds of D, D+2.3 s, ... so that neither strategy's
# polling phase lines up with the build's end by luck. Run i also seeds our jitter with i.
OFFSETS = (0.0, 2.3, 4.6, 6.9, 9.2)

SEED_FIRST_WAIT = 10.0
SEED_INTERVAL = 10.0
SEED_GIVE_UP = 400.0


@dataclass
class Measurement:
    requests: int
    rate_limited: int
    delay: float | None
    """Seconds from the run completing to the strategy returning; None if it never noticed."""
    outcome: str
    run_correct: bool


class _DispatchClock(httpx.BaseTransport):
    """Notes the virtual time of the dispatch: the run is created at that instant."""

    def __init__(self, clock: FakeClock) -> None:
        self._inner = httpx.HTTPTransport()
        self._clock = clock
        self.dispatched_at: float | None = None

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        if request.method == "POST" and request.url.path.endswith("/dispatches"):
            self.dispatched_at = self._clock.time()
        return self._inner.handle_request(request)


def _world(clock: FakeClock) -> GitHubEmulator:
    emulator = GitHubEmulator(clock=clock)
    standard_world(emulator)
    emulator.start()
    return emulator


def _props(**overrides: Any) -> dict[str, Any]:
    props: dict[str, Any] = {
        "repository": APP_REPO,
        "workflow": WORKFLOW_FILE,
        "ref": "main",
        "commitSha": SHA,
        "inputs": None,
        "images": dict(IMAGES),
        "tag": TAG,
        "environment": "dev",
        "timeoutSeconds": 3600.0,
        "deleteImagesOnDestroy": True,
        "providerVersion": PROVIDER_VERSION,
    }
    props.update(overrides)
    return props


def _provider(
    emulator: GitHubEmulator, clock: FakeClock, seed: int, transport: Any = None
) -> ImageBuildProvider:
    provider = ImageBuildProvider(
        clock=clock,
        rng=random.Random(seed),
        out=lambda _line: None,
        transport=transport,
        registry_urls={"ghcr.io": emulator.registry_url},
    )
    config = {"github:token": emulator.token, "github:baseUrl": emulator.base_url}
    provider.configure(ConfigureRequest(Config(config, "tims-stack")))
    return provider


def _counts(emulator: GitHubEmulator) -> tuple[int, int]:
    return len(emulator.requests), sum(1 for r in emulator.requests if r.rate_limited)


def _foreign_run_after(emulator: GitHubEmulator, seconds: float) -> None:
    """Another environment dispatches the same workflow `seconds` after us (and it fails)."""
    emulator.start_foreign_run(
        APP_REPO,
        WORKFLOW_FILE,
        RunPlan(duration=30, conclusion="failure"),
        {"ref": "main", "sha": SHA, "tag": "pr-7", "environment": "pr-7", "correlation_id": "x"},
        offset=seconds,
    )


def run_provider(duration: float, seed: int, *, foreign_after: float | None = None) -> Measurement:
    clock = FakeClock()
    emulator = _world(clock)
    try:
        emulator.plan_next_run(APP_REPO, WORKFLOW_FILE, RunPlan(duration=duration, push=dict(PUSH)))
        if foreign_after is not None:
            _foreign_run_after(emulator, foreign_after)
        stopwatch = _DispatchClock(clock)
        provider = _provider(emulator, clock, seed, stopwatch)
        try:
            outs = provider.create(provider.check({}, _props()).inputs).outs or {}
            outcome = "success"
        except ImageBuildError as exc:
            outs, outcome = {}, f"error: {str(exc)[:60]}"
        ours = max(r["id"] for r in emulator.runs(APP_REPO) if r["display_title"].find(TAG) >= 0)
        delay = None
        if stopwatch.dispatched_at is not None and outcome == "success":
            delay = clock.time() - (stopwatch.dispatched_at + duration)
        total, counted = _counts(emulator)
        return Measurement(total, counted, delay, outcome, outs.get("runId") == ours)
    finally:
        emulator.stop()


def run_seed_strategy(duration: float, *, foreign_after: float | None = None) -> Measurement:
    clock = FakeClock()
    emulator = _world(clock)
    try:
        emulator.plan_next_run(APP_REPO, WORKFLOW_FILE, RunPlan(duration=duration, push=dict(PUSH)))
        if foreign_after is not None:
            _foreign_run_after(emulator, foreign_after)
        headers = {
            "Authorization": f"token {emulator.token}",
            "Accept": "application/vnd.github+json",
        }
        workflow = f"/repos/{APP_REPO}/actions/workflows/{WORKFLOW_FILE}"
        with httpx.Client(base_url=emulator.base_url, headers=headers) as http:
            inputs = {
                "ref": "main",
                "sha": SHA,
                "tag": TAG,
                "environment": "dev",
                "correlation_id": "-",
            }
            started = clock.time()
            dispatched = http.post(f"{workflow}/dispatches", json={"ref": "main", "inputs": inputs})
            if dispatched.status_code != 204:
                raise RuntimeError(f"seed dispatch failed: {dispatched.status_code}")
            clock.sleep(SEED_FIRST_WAIT)
            taken: dict[str, Any] = {}
            while True:
                taken = http.get(f"{workflow}/runs").json()["workflow_runs"][0]
                if taken["status"] == "completed":
                    outcome = "success" if taken["conclusion"] == "success" else "failure"
                    break
                if clock.time() - started >= SEED_GIVE_UP:
                    outcome = f"gave up at {SEED_GIVE_UP:.0f} s"
                    break
                clock.sleep(SEED_INTERVAL)
        ours = max(r["id"] for r in emulator.runs(APP_REPO) if TAG in r["display_title"])
        right_run = taken.get("id") == ours
        delay = clock.time() - (started + duration) if outcome == "success" and right_run else None
        total, counted = _counts(emulator)
        return Measurement(total, counted, delay, outcome, right_run)
    finally:
        emulator.stop()


def calls_for_no_change_up() -> int:
    """A `pulumi up` with nothing changed: Configure, Check and Diff only."""
    clock = FakeClock()
    emulator = _world(clock)
    try:
        emulator.add_package("acme", "app-backend", [[TAG]])
        emulator.add_package("acme", "app-frontend", [[TAG]])
        provider = _provider(emulator, clock, 0)
        state = provider.create(provider.check({}, _props()).inputs).outs or {}
        emulator.requests.clear()
        fresh = _provider(emulator, clock, 0)
        checked = fresh.check(state, _props()).inputs
        fresh.diff("id", state, checked)
        return len(emulator.requests)
    finally:
        emulator.stop()


def calls_for_skip_existing() -> tuple[int, int]:
    clock = FakeClock()
    emulator = _world(clock)
    try:
        emulator.add_package("acme", "app-backend", [[f"pr-{n}"] for n in range(40)] + [[TAG]])
        emulator.add_package("acme", "app-frontend", [[TAG]])
        provider = _provider(emulator, clock, 0)
        provider.create(provider.check({}, _props()).inputs)
        return _counts(emulator)
    finally:
        emulator.stop()


ENVIRONMENTS = 20


def run_many_environments(count: int = ENVIRONMENTS) -> tuple[int, int, bool]:
    """`count` environments build at once (one provider each, threads on one virtual
    clock): (rate-limited requests in all, total requests, each took its own run)."""
    clock = ConcurrentClock()
    emulator = _world(clock)
    outs: dict[str, dict[str, Any]] = {}
    errors: list[BaseException] = []

    def one(index: int) -> None:
        environment = f"pr-{index}"
        try:
            provider = _provider(emulator, clock, index)
            props = _props(environment=environment, tag=f"{environment}-5d0c4a9f2e8b")
            outs[environment] = provider.create(provider.check({}, props).inputs).outs or {}
        except BaseException as exc:  # reported below, after every thread ended
            errors.append(exc)
        finally:
            clock.leave()

    try:
        for index in range(count):
            emulator.plan_next_run(
                APP_REPO, WORKFLOW_FILE, RunPlan(duration=60 + 7.3 * index, push=dict(PUSH))
            )
        threads = [threading.Thread(target=one, args=(i,)) for i in range(count)]
        for _ in threads:
            clock.join()
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        if errors:
            raise errors[0]
        by_id = {run["id"]: run for run in emulator.runs(APP_REPO)}
        own = len({o["runId"] for o in outs.values()}) == count and all(
            o["tag"] in by_id[o["runId"]]["display_title"] for o in outs.values()
        )
        total, counted = _counts(emulator)
        return counted, total, own
    finally:
        emulator.stop()


def _fmt_delay(values: list[float | None]) -> str:
    known = [v for v in values if v is not None]
    if not known:
        return "never (see outcome)"
    if len(known) == 1:
        return f"{known[0]:.1f} s"
    return f"{statistics.median(known):.1f} s (max {max(known):.1f})"


def _ratio(baseline: float, ours: float) -> str:
    return "n/a" if ours == 0 else f"{baseline / ours:.1f}x"


def _median(values: list[int]) -> str:
    return f"{statistics.median(values):.0f}"


def build_table() -> str:
    rows = []
    for duration in (600.0, 60.0):
        ours = [run_provider(duration + o, i) for i, o in enumerate(OFFSETS)]
        seed = [run_seed_strategy(duration + o) for o in OFFSETS]
        label = f"{duration / 60:.0f}-minute build"
        for measure, pick in (
            ("rate-limited requests", lambda m: m.rate_limited),
            ("total requests (304s included)", lambda m: m.requests),
        ):
            our_values = [pick(m) for m in ours]
            seed_values = [pick(m) for m in seed]
            ratio = _ratio(statistics.median(seed_values), statistics.median(our_values))
            ours_text, seed_text = _median(our_values), _median(seed_values)
            rows.append(f"| {label} | {measure} | {ours_text} | {seed_text} | {ratio} |")
        rows.append(
            f"| {label} | completion -> create returns | {_fmt_delay([m.delay for m in ours])} | "
            f"{_fmt_delay([m.delay for m in seed])} | |"
        )
        rows.append(
            f"| {label} | outcome | {', '.join(sorted({m.outcome for m in ours}))} | "
            f"{', '.join(sorted({m.outcome for m in seed}))} | |"
        )

    ours_foreign = [run_provider(60.0, i, foreign_after=3.0) for i in range(len(OFFSETS))]
    seed_foreign = run_seed_strategy(60.0, foreign_after=3.0)
    seed_took = (
        "yes"
        if seed_foreign.run_correct
        else f"no: reported the other run's {seed_foreign.outcome}"
    )
    rows.append(
        "| 1-minute build, another run dispatched 3 s later | took its own run | "
        f"{'yes' if all(m.run_correct for m in ours_foreign) else 'NO'} | {seed_took} | |"
    )
    no_change = calls_for_no_change_up()
    skip_total, skip_counted = calls_for_skip_existing()
    rows.append(
        f"| no-change `pulumi up` (check + diff) | GitHub requests | {no_change} | "
        "a full build: the script always dispatches | |"
    )
    rows.append(
        f"| images already in GHCR (skip path) | GitHub requests (rate-limited) | "
        f"{skip_total} ({skip_counted}) | a full build | |"
    )
    # Total requests (304 polls) vary with thread scheduling; rate-limited ones do not.
    counted, _total, own = run_many_environments()
    rows.append(
        f"| {ENVIRONMENTS} environments building at once (1 to 3.4 min) | rate-limited "
        f"requests, all together | {counted} | not measured | |"
    )
    rows.append(
        f"| {ENVIRONMENTS} environments building at once | each took its own run | "
        f"{'yes' if own else 'NO'} | no: each reads the newest run | |"
    )
    header = (
        "| scenario | measure | our provider | seed strategy | seed / ours |\n|---|---|---|---|---|"
    )
    return header + "\n" + "\n".join(rows)


def write_readme(table: str) -> None:
    text = README.read_text(encoding="utf-8")
    if BEGIN not in text or END not in text:
        raise SystemExit(f"{README} lacks the {BEGIN} / {END} markers")
    head, rest = text.split(BEGIN, 1)
    _, tail = rest.split(END, 1)
    README.write_text(f"{head}{BEGIN}\n{table}\n{END}{tail}", encoding="utf-8")


def main(argv: list[str] | None = None, *, emit: Callable[[str], None] = print) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--write-readme", action="store_true", help=f"rewrite the table in {README}"
    )
    args = parser.parse_args(argv)
    table = build_table()
    emit(table)
    if args.write_readme:
        write_readme(table)
        emit(f"\nwrote {README}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
