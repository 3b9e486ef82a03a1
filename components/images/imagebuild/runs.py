"""One workflow run of a build: dispatch it, identify it, wait for it, explain its end.

Identification never guesses: the run id comes from the dispatch answer
(`return_run_details`), or else from the exact correlation id the run echoes in its
name. A server that refuses `return_run_details` (GitHub Enterprise Server before the
feature: 400 or 422 naming the key; nothing ran) is remembered per API base URL, and the
dispatch is sent again without it.

Time: every call honours the build's deadline, including calls that only add detail to
an error. Cancelling is cleanup, with its own short budget (`PollPolicy.cancel_wait`)
after the deadline, so a run is never left going because the deadline passed.
"""

from __future__ import annotations

import random
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime

from . import actions
from .actions import WorkflowRun
from .base import DEFAULT_API_URL, AmbiguousRequestError, GitHubApiError, ImageBuildError
from .rest import GitHubClient
from .run_errors import NO_CORRELATION_MESSAGE, dispatch_error, failure_error
from .spec import BuildSpec, expand_inputs


@dataclass(frozen=True)
class PollPolicy:
    """How the provider waits. Every number is in seconds of the injected clock."""

    initial: float = 1.0
    factor: float = 1.6
    # 304s cost no rate limit, so polling often is cheap: a 6 s cap (+/-20% jitter, so at
    # most 7.2 s) notices completion in ~3 s on average, well within the 15 s promised.
    cap: float = 6.0
    jitter: float = 0.2
    correlation_window: float = 180.0  # how long a dispatched run may take to show in the list
    created_slack: float = 120.0  # run-list `created` filter starts this long before dispatch
    cancel_wait: float = 120.0  # how long to wait for GitHub to confirm a cancellation
    delete_timeout: float = 900.0  # budget for destroy and refresh calls (rate limits included)
    verify_attempts: int = 3  # checks that a successful run pushed the images
    verify_interval: float = 5.0


def iso(epoch: float) -> str:
    return datetime.fromtimestamp(epoch, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def web_base(api_base: str) -> str:
    """The web UI of an API base URL (no call: error text must not cost time)."""
    base = api_base.rstrip("/")
    if base == DEFAULT_API_URL:
        return "https://github.com"
    return base.removesuffix("/api/v3")


class _Run:
    """The run this create started, as far as we know it."""

    def __init__(self, run_id: int, html_url: str) -> None:
        self.id = run_id
        self.html_url = html_url
        self.completed = False
        # When an uncertain dispatch may have started other runs with our correlation id: the
        # time (GitHub's epoch) of the first dispatch, to cancel any such run showing up later.
        self.sweep_since: float | None = None


class RunDriver:
    """Runs the build workflow once for `spec`; see the module docstring."""

    def __init__(
        self,
        client: GitHubClient,
        spec: BuildSpec,
        *,
        poll: PollPolicy,
        rng: random.Random,
        say: Callable[[str], None],
        no_run_details: set[str],
    ) -> None:
        self._gh = client
        self._spec = spec
        self._poll = poll
        self._rng = rng
        self._say = say
        self._no_run_details = no_run_details
        self._clock = client.clock

    def _jittered(self, seconds: float) -> float:
        spread = self._poll.jitter
        return seconds * self._rng.uniform(1.0 - spread, 1.0 + spread)

    def _cleanup_deadline(self, deadline: float) -> float:
        return max(deadline, self._clock.monotonic() + self._poll.cancel_wait)

    @property
    def actions_page(self) -> str:
        spec = self._spec
        return f"{web_base(self._gh.base_url)}/{spec.repository}/actions/workflows/{spec.workflow}"

    def build(self, deadline: float) -> WorkflowRun:
        spec = self._spec
        correlation_id = uuid.uuid4().hex
        inputs = expand_inputs(
            spec.inputs,
            {
                "ref": spec.ref,
                "sha": spec.commit_sha,
                "tag": spec.tag,
                "environment": spec.environment,
                "owner": spec.owner,
                "correlation_id": correlation_id,
            },
        )
        run = self._dispatch(inputs, correlation_id, deadline)
        try:
            self._cancel_extras(run, correlation_id, deadline)
            current = actions.get_run(self._gh, spec.repository, run.id, deadline=deadline)
            run.html_url = current.html_url or run.html_url
            self._say(f"workflow run {run.html_url} started ({current.status})")
            self._note_moved_branch(current)
            final = self._wait(run, current, deadline)
            run.completed = True
            if final.conclusion != "success":
                raise failure_error(self._gh, spec, final, deadline)
            return final
        except ImageBuildError as exc:
            if run.completed:
                raise
            raise ImageBuildError(f"{exc} {self.cancel_quietly(run, deadline)}") from exc
        except BaseException:
            if not run.completed:
                self.cancel_quietly(run, deadline)
            raise
        finally:
            # A run from an uncertain dispatch may show up only while ours runs.
            self._cancel_extras(run, correlation_id, deadline)

    def _note_moved_branch(self, current: WorkflowRun) -> None:
        spec = self._spec
        if not current.head_sha or current.head_sha == spec.commit_sha:
            return
        if spec.passes_sha:
            self._say(
                f"note: {spec.ref!r} moved to {current.head_sha} since the program resolved "
                f"it, so the workflow file comes from {current.head_sha}; the run still "
                f"builds {spec.commit_sha}, which it receives in its inputs."
            )
        else:
            self._say(
                f"WARNING: the run builds {current.head_sha}, not {spec.commit_sha} that "
                f"{spec.ref!r} pointed to when the program ran: the branch moved in between. "
                f"The images tagged {spec.tag} contain {current.head_sha}; outputs report both "
                "(commitSha, requestedSha). Run `pulumi up` again to build the new head."
            )

    def _dispatch(self, inputs: dict[str, str], correlation_id: str, deadline: float) -> _Run:
        spec = self._spec
        attempts = 0
        # Set once a dispatch was uncertain: runs it may have started can show up late, so
        # every run carrying our correlation id since then is swept (see `_cancel_extras`).
        first_uncertain: float | None = None
        while True:
            attempts += 1
            try:
                result = actions.dispatch_workflow(
                    self._gh,
                    spec.repository,
                    spec.workflow,
                    spec.ref,
                    inputs,
                    return_run_details=self._gh.base_url not in self._no_run_details,
                    deadline=deadline,
                )
            except GitHubApiError as exc:
                if actions.refuses_run_details(exc):
                    self._run_details_refused(exc, correlation_id)
                    continue
                explained = dispatch_error(self._gh, spec, inputs, exc, deadline)
                if explained is exc:
                    raise
                raise explained from exc
            except AmbiguousRequestError as exc:
                dispatched_at = self._gh.server_time()
                first_uncertain = first_uncertain or dispatched_at
                found = self._after_uncertain_dispatch(exc, correlation_id, attempts, deadline)
                if found is None:
                    continue
                found.sweep_since = first_uncertain
                return found
            if result.run_id is not None:
                run = _Run(result.run_id, result.html_url or "")
                run.sweep_since = first_uncertain
                return run
            found = self._identify(correlation_id, self._gh.server_time(), deadline)
            found.sweep_since = first_uncertain
            return found

    def _run_details_refused(self, exc: GitHubApiError, correlation_id: str) -> None:
        spec = self._spec
        self._no_run_details.add(self._gh.base_url)
        if not spec.uses_correlation_id:
            raise ImageBuildError(
                f"GitHub refused to dispatch {spec.workflow} in {spec.repository} "
                f"({exc.status}: {exc.github_message or 'no message'}): this server cannot "
                "return run details (GitHub Enterprise Server before the feature), and no run "
                f"was started. {NO_CORRELATION_MESSAGE}"
            ) from exc
        self._say(
            f"GitHub answered {exc.status} ({exc.github_message or 'no message'}): no "
            "support for return_run_details on this server (GitHub Enterprise Server); "
            "dispatching again without it and finding the run by its correlation id "
            f"{correlation_id}"
        )

    def _after_uncertain_dispatch(
        self, exc: AmbiguousRequestError, correlation_id: str, attempts: int, deadline: float
    ) -> _Run | None:
        """The run an uncertain dispatch started, or None to dispatch again."""
        spec = self._spec
        if not spec.uses_correlation_id:
            # Nothing could tell a run this dispatch started from anybody else's, so
            # dispatching again could leave an untracked run behind: stop here.
            raise ImageBuildError(
                f"Dispatching {spec.workflow} in {spec.repository} gave an uncertain answer "
                f"({exc}), and without a correlation id in tims-stack:build.inputs this "
                f"deployment cannot tell whether it started a run. Check {self.actions_page} "
                "for a run it may have started and cancel it, then run `pulumi up` again."
            ) from exc
        # GitHub may have started a run: give it as long to show up as any dispatched run.
        try:
            found = self._find_by_correlation(correlation_id, self._gh.server_time(), deadline)
        except ImageBuildError as error:
            raise ImageBuildError(
                f"{error} An uncertain dispatch ({exc}) may have started a run: find the run "
                f"carrying correlation id {correlation_id} at {self.actions_page} and cancel it."
            ) from error
        if found is not None:
            return found
        if attempts >= 3:
            raise ImageBuildError(
                f"Dispatching {spec.workflow} in {spec.repository} failed {attempts} times "
                f"({exc}). Check {self.actions_page} for runs carrying correlation id "
                f"{correlation_id}, cancel them, then run `pulumi up` again."
            ) from exc
        self._say(f"dispatch uncertain ({exc}); dispatching again")
        return None

    def _identify(self, correlation_id: str, dispatched_at: float, deadline: float) -> _Run:
        """The run a dispatch without run details started; never left going unidentified."""
        spec = self._spec
        if not spec.uses_correlation_id:
            raise ImageBuildError(
                "GitHub started the workflow but did not say which run it is (no run details "
                f"in its answer), and nothing identifies our run. {NO_CORRELATION_MESSAGE} "
                f"Meanwhile, find the run this dispatch started at {self.actions_page} and "
                "cancel it if needed."
            )
        self._say(f"GitHub gave no run details; finding the run by correlation id {correlation_id}")
        try:
            found = self._find_by_correlation(correlation_id, dispatched_at, deadline)
        except ImageBuildError as exc:
            raise ImageBuildError(
                f"{exc} The dispatch at {iso(dispatched_at)} started a run that could not be "
                f"identified: find the run carrying correlation id {correlation_id} at "
                f"{self.actions_page} and cancel it."
            ) from exc
        if found is None:
            raise ImageBuildError(
                f"No run of {spec.workflow} in {spec.repository} showed correlation id "
                f"{correlation_id} within {self._poll.correlation_window:.0f} s of the "
                "dispatch. Check that the workflow's `run-name` echoes "
                "`${{ inputs.correlation_id }}` (see README), then look for the run at "
                f"{self.actions_page} and cancel it if it is running."
            )
        return found

    def _find_by_correlation(
        self, correlation_id: str, dispatched_at: float, deadline: float
    ) -> _Run | None:
        """The run whose title or name carries our correlation id; never "the newest run".

        `dispatched_at` is on GitHub's clock (the dispatch answer's `Date`), as the filter is.
        """
        since = iso(dispatched_at - self._poll.created_slack)
        give_up = min(self._clock.monotonic() + self._poll.correlation_window, deadline)
        interval = self._poll.initial
        while True:
            matches = [
                run
                for run in actions.list_dispatched_runs(
                    self._gh,
                    self._spec.repository,
                    self._spec.workflow,
                    created_since=since,
                    deadline=deadline,
                )
                if run.carries(correlation_id)
            ]
            if matches:
                # Only a repeated dispatch can match twice: keep the first, cancel the others.
                matches.sort(key=lambda run: run.id)
                for extra in matches[1:]:
                    self.cancel_quietly(_Run(extra.id, extra.html_url), deadline)
                return _Run(matches[0].id, matches[0].html_url)
            now = self._clock.monotonic()
            if now >= give_up:
                return None
            self._clock.sleep(min(self._jittered(interval), give_up - now))
            interval = min(interval * self._poll.factor, self._poll.cap)

    def _cancel_extras(self, run: _Run, correlation_id: str, deadline: float) -> None:
        """Cancel every other run carrying our correlation id, after an uncertain dispatch."""
        if run.sweep_since is None:
            return
        limit = self._cleanup_deadline(deadline)
        try:
            extras = [
                found
                for found in actions.list_dispatched_runs(
                    self._gh,
                    self._spec.repository,
                    self._spec.workflow,
                    created_since=iso(run.sweep_since - self._poll.created_slack),
                    deadline=limit,
                )
                if found.id != run.id and found.status != "completed"
                if found.carries(correlation_id)
            ]
        except ImageBuildError as exc:
            self._say(
                f"WARNING: could not look for duplicate runs of an uncertain dispatch ({exc}); "
                f"check {self.actions_page} for runs with correlation id {correlation_id} and "
                f"cancel all but {run.html_url}"
            )
            return
        for extra in extras:
            self._say(
                f"run {extra.html_url} was started by an uncertain dispatch too: "
                + self.cancel_quietly(_Run(extra.id, extra.html_url), deadline)
            )

    def _wait(self, run: _Run, current: WorkflowRun, deadline: float) -> WorkflowRun:
        interval = self._poll.initial
        while current.status != "completed":
            now = self._clock.monotonic()
            if now >= deadline:
                return self._cancel_for_timeout(run)
            self._clock.sleep(min(self._jittered(interval), deadline - now))
            interval = min(interval * self._poll.factor, self._poll.cap)
            if self._clock.monotonic() >= deadline:
                # The cancel takes the last look, on its own budget.
                return self._cancel_for_timeout(run)
            previous = current.status
            current = actions.get_run(self._gh, self._spec.repository, run.id, deadline=deadline)
            if current.status != previous:
                suffix = f" ({current.conclusion})" if current.conclusion else ""
                self._say(f"run {run.html_url} is {current.status}{suffix}")
        return current

    def _cancel_for_timeout(self, run: _Run) -> WorkflowRun:
        spec = self._spec
        self._say(f"timeoutSeconds={spec.timeout_seconds} passed: cancelling run {run.html_url}")
        limit = self._clock.monotonic() + self._poll.cancel_wait
        accepted = actions.cancel_run(self._gh, spec.repository, run.id, deadline=limit)
        current = actions.get_run(self._gh, spec.repository, run.id, deadline=limit)
        if not accepted and current.status == "completed":
            # It finished just as the deadline passed: report what it really did.
            return current
        interval = self._poll.initial
        while current.status != "completed" and self._clock.monotonic() < limit:
            self._clock.sleep(
                min(self._jittered(interval), max(0.0, limit - self._clock.monotonic()))
            )
            interval = min(interval * self._poll.factor, self._poll.cap)
            current = actions.get_run(self._gh, spec.repository, run.id, deadline=limit)
        run.completed = True
        confirmed = (
            "GitHub confirmed the cancellation"
            if current.status == "completed"
            else f"GitHub had not confirmed the cancellation after {self._poll.cancel_wait:.0f} s: "
            "check the run page"
        )
        raise ImageBuildError(
            f"The image build for {spec.environment} did not finish within timeoutSeconds="
            f"{spec.timeout_seconds}, so its workflow run {run.html_url} was cancelled "
            f"({confirmed}). If builds legitimately take longer, raise "
            "tims-stack:build.timeout (seconds); then run `pulumi up` again."
        )

    def cancel_quietly(self, run: _Run, deadline: float) -> str:
        """Best-effort cancel so no run outlives a failed create; says what happened."""
        try:
            limit = self._cleanup_deadline(deadline)
            if actions.cancel_run(self._gh, self._spec.repository, run.id, deadline=limit):
                self._say(f"cancelled run {run.html_url}")
                return f"The workflow run {run.html_url} was cancelled."
            return f"The workflow run {run.html_url} had already completed."
        except Exception as exc:  # report it, but keep the original error
            return (
                f"Cancelling the workflow run {run.html_url} failed too ({exc}); cancel it by hand."
            )
