"""Which pull request events deploy or destroy an environment: the label rules, in one place.

    python -m scripts.labels --mode "$PR_ENVIRONMENTS" --action "$ACTION" \\
        --label "$LABEL" --labels-json "$LABELS" --same-repo true

Writes `deploy=true|false` and `destroy=true|false` to GITHUB_OUTPUT (when set)
and prints why. The repository variable PR_ENVIRONMENTS picks the mode:

- unset, empty or `all`: every pull request from a branch of this repository
  gets an environment;
- `label`: only pull requests carrying the `preview` label do. Adding the
  label deploys; a pull request without it gets no stack, no comment, and no
  destroy job when it closes (a stack left from an earlier label is removed by
  the sweep, since the pull request is closed).

Fork pull requests never get an environment (their runs get no secrets).
Labels other than `preview` never start a run of their own, so adding
`keep-running` or `bug` does not redeploy.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Collection, Sequence
from dataclasses import dataclass
from pathlib import Path

PREVIEW_LABEL = "preview"
"""In label mode, only pull requests with this label get an environment."""
KEEP_RUNNING_LABEL = "keep-running"
"""Environments of pull requests with this label are never stopped (nightly or TTL)."""
MODES = ("all", "label")
DEPLOY_ACTIONS = ("opened", "reopened", "synchronize")


class LabelRuleError(ValueError):
    pass


def check_mode(value: str) -> str:
    """The mode named by PR_ENVIRONMENTS; unset or empty means `all`."""
    mode = value.strip().lower() or "all"
    if mode not in MODES:
        raise LabelRuleError(
            f"repository variable PR_ENVIRONMENTS is {value!r}: use `label` (only PRs "
            f"labelled `{PREVIEW_LABEL}` get an environment), `all`, or leave it unset"
        )
    return mode


def wants_environment(mode: str, labels: Collection[str]) -> bool:
    """Whether a pull request with `labels` has an environment in this mode."""
    return check_mode(mode) == "all" or PREVIEW_LABEL in labels


@dataclass(frozen=True)
class Decision:
    deploy: bool
    destroy: bool
    reason: str


def decide(
    *, mode: str, action: str, label: str | None, labels: Collection[str], same_repo: bool
) -> Decision:
    """What one pull_request event does to the PR's environment."""
    check_mode(mode)
    if not same_repo:
        return Decision(False, False, "a fork's pull request gets no environment")
    wanted = wants_environment(mode, labels)
    if action == "closed":
        if wanted:
            return Decision(False, True, "the pull request was closed: destroy its environment")
        return Decision(
            False, False, f"label mode and no `{PREVIEW_LABEL}` label: no environment to destroy"
        )
    if action == "labeled":
        if label == PREVIEW_LABEL:
            return Decision(True, False, f"the `{PREVIEW_LABEL}` label was added: deploy")
        return Decision(False, False, f"label {label!r} does not change the environment")
    if action in DEPLOY_ACTIONS:
        if wanted:
            return Decision(True, False, f"pull request {action}: preview and deploy")
        return Decision(False, False, f"label mode and no `{PREVIEW_LABEL}` label: no environment")
    return Decision(False, False, f"event {action!r} does not change the environment")


def _labels(text: str) -> list[str]:
    try:
        loaded = json.loads(text or "[]")
    except ValueError as exc:
        raise LabelRuleError(f"--labels-json is not JSON: {exc}") from exc
    if not isinstance(loaded, list) or not all(isinstance(x, str) for x in loaded):
        raise LabelRuleError("--labels-json must be a JSON list of label names")
    return loaded


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--mode", default="", help="value of PR_ENVIRONMENTS")
    parser.add_argument("--action", required=True, help="github.event.action")
    parser.add_argument("--label", default="", help="github.event.label.name (labeled events)")
    parser.add_argument("--labels-json", default="[]", help="the PR's label names as JSON")
    parser.add_argument("--same-repo", choices=("true", "false"), required=True)
    args = parser.parse_args(argv)
    try:
        decision = decide(
            mode=args.mode,
            action=args.action,
            label=args.label or None,
            labels=_labels(args.labels_json),
            same_repo=args.same_repo == "true",
        )
    except LabelRuleError as exc:
        print(f"::error title=PR environment rules::{exc}", file=sys.stderr)
        return 2
    print(decision.reason)
    output = os.environ.get("GITHUB_OUTPUT", "")
    if output:
        with Path(output).open("a", encoding="utf-8") as handle:
            handle.write(f"deploy={str(decision.deploy).lower()}\n")
            handle.write(f"destroy={str(decision.destroy).lower()}\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
