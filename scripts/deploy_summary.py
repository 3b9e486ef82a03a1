"""Write what a long-lived stack now runs into the job summary.

    python -m scripts.deploy_summary --stack production --commit <sha> [--outputs-json FILE]

Reads `pulumi stack output --stack <stack> --json` (run here unless
--outputs-json names its saved output; secret outputs print as "[secret]"
there, so none reaches the summary) and appends to GITHUB_STEP_SUMMARY (or
prints) the stack, the commit, the URL and the image references with their
tags. Output parsing is scripts/pr_comment.py's.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Sequence
from pathlib import Path

from scripts.pr_comment import EnvironmentOutputs
from scripts.pulumi_cli import CommandError, Runner, subprocess_runner
from scripts.stack_names import check_environment


def image_tag(reference: str | None) -> str | None:
    """The tag of `repo[:tag][@digest]`, or None when it has none."""
    if not reference:
        return None
    name = reference.split("@", 1)[0]
    last = name.rsplit("/", 1)[-1]
    return last.split(":", 1)[1] if ":" in last else None


def _cell(value: str | None) -> str:
    if not value:
        return "_not set_"
    return "`" + value.replace("`", "'").replace("|", "\\|").replace("\n", " ") + "`"


def render(stack: str, commit: str, outputs: EnvironmentOutputs, run_url: str | None) -> str:
    lines = [
        f"### Deployed `{check_environment(stack)}`",
        "",
        "| | |",
        "|---|---|",
        f"| Commit | {_cell(commit)} |",
        f"| URL | {_cell(outputs.url)} |",
        f"| Backend image | {_cell(outputs.backend_image)} |",
        f"| Backend tag | {_cell(image_tag(outputs.backend_image))} |",
        f"| Frontend image | {_cell(outputs.frontend_image)} |",
        f"| Frontend tag | {_cell(image_tag(outputs.frontend_image))} |",
    ]
    if run_url:
        lines += ["", f"[Workflow run]({run_url})"]
    return "\n".join(lines) + "\n"


def stack_outputs(run: Runner, stack: str) -> EnvironmentOutputs:
    text = run(["pulumi", "stack", "output", "--stack", stack, "--json"])
    loaded = json.loads(text)
    if not isinstance(loaded, dict):
        raise ValueError(f"`pulumi stack output --json` for {stack} printed no JSON object")
    return EnvironmentOutputs.from_stack_outputs(loaded)


def main(argv: Sequence[str] | None = None, *, run: Runner | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--stack", required=True)
    parser.add_argument("--commit", required=True)
    parser.add_argument("--outputs-json", type=Path)
    parser.add_argument("--run-url")
    args = parser.parse_args(argv)
    try:
        if args.outputs_json is not None:
            loaded = json.loads(args.outputs_json.read_text(encoding="utf-8"))
            if not isinstance(loaded, dict):
                raise ValueError(f"{args.outputs_json} does not hold a JSON object")
            outputs = EnvironmentOutputs.from_stack_outputs(loaded)
        else:
            outputs = stack_outputs(run or subprocess_runner(), args.stack)
        text = render(args.stack, args.commit, outputs, args.run_url)
    except (CommandError, ValueError, OSError) as exc:
        print(f"::error title=Deploy summary of {args.stack}::{exc}", file=sys.stderr)
        return 1
    summary = os.environ.get("GITHUB_STEP_SUMMARY")
    if summary:
        with open(summary, "a", encoding="utf-8") as handle:
            handle.write(text)
    print(text, end="")
    return 0


if __name__ == "__main__":
    sys.exit(main())
