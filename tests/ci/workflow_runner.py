"""Run a workflow job's `run:` steps from the YAML, as a runner would, with fake tools.

A job's `if:`, its `env:`, each step's `if:` and `env:` and its job `outputs:`
are evaluated from the workflow text with GitHub's expression rules
(docs.github.com, "Evaluate expressions in workflows and actions": `||` and `&&`
return an operand, '' / 0 / null / false are falsy, string comparison ignores
case); each `run:` script runs with `bash --noprofile --norc -eo pipefail`, the
shell Actions uses for `run:` on Linux, with GITHUB_OUTPUT read back into
`steps.<id>.outputs`. `uses:` steps (checkout, setup-python, the Pulumi CLI
install, the kubeconfig action) and `make setup` are the runner's set-up: the
working directory already holds this checkout and its venv, and `pulumi` on
PATH is the test's. So editing a step's script, condition or environment in the
workflow changes what the test runs.
"""

from __future__ import annotations

import os
import re
import subprocess
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

_TOKEN = re.compile(
    r"\s*(?:(?P<str>'(?:[^']|'')*')|(?P<num>\d+(?:\.\d+)?)|(?P<op>\|\||&&|==|!=|!|\(|\)|,)"
    r"|(?P<name>[A-Za-z_][\w-]*(?:\.(?:[\w-]+|\*))*))"
)
_EXPRESSION = re.compile(r"\$\{\{(.*?)\}\}", re.S)


def _tokens(text: str) -> list[tuple[str, str]]:
    found: list[tuple[str, str]] = []
    at = 0
    while text[at:].strip():
        match = _TOKEN.match(text, at)
        assert match, f"cannot read the expression {text!r} at {text[at:]!r}"
        kind = match.lastgroup or ""
        found.append((kind, match.group(kind)))
        at = match.end()
    return found


def _truthy(value: Any) -> bool:
    return value not in ("", 0, None, False)


def _equal(left: Any, right: Any) -> bool:
    if isinstance(left, str) and isinstance(right, str):
        return left.lower() == right.lower()
    return bool(left == right)


@dataclass
class _Parser:
    tokens: list[tuple[str, str]]
    context: Mapping[str, Any]
    at: int = 0

    def peek(self) -> str | None:
        return self.tokens[self.at][1] if self.at < len(self.tokens) else None

    def take(self) -> tuple[str, str]:
        self.at += 1
        return self.tokens[self.at - 1]

    def or_(self) -> Any:
        value = self.and_()
        while self.peek() == "||":
            self.take()
            right = self.and_()
            value = value if _truthy(value) else right
        return value

    def and_(self) -> Any:
        value = self.compare()
        while self.peek() == "&&":
            self.take()
            right = self.compare()
            value = right if _truthy(value) else value
        return value

    def compare(self) -> Any:
        value = self.unary()
        if self.peek() in ("==", "!="):
            op = self.take()[1]
            same = _equal(value, self.unary())
            return same if op == "==" else not same
        return value

    def unary(self) -> Any:
        if self.peek() == "!":
            self.take()
            return not _truthy(self.unary())
        return self.primary()

    def primary(self) -> Any:
        kind, text = self.take()
        if text == "(":
            inner = self.or_()
            assert self.take()[1] == ")"
            return inner
        if kind == "str":
            return text[1:-1].replace("''", "'")
        if kind == "num":
            return float(text)
        if text in ("true", "false", "null"):
            return {"true": True, "false": False, "null": None}[text]
        if self.peek() == "(":
            self.take()
            args: list[Any] = []
            while self.peek() != ")":
                args.append(self.or_())
                if self.peek() == ",":
                    self.take()
            self.take()
            return self.call(text, args)
        value: Any = self.context
        for part in text.split("."):
            value = value.get(part) if isinstance(value, Mapping) else None
        return "" if value is None else value

    def call(self, name: str, args: list[Any]) -> Any:
        status = self.context.get("job", {}).get("status", "success")
        if name == "format":
            return re.sub(r"\{(\d+)\}", lambda m: str(args[int(m.group(1)) + 1]), args[0])
        if name in ("success", "failure", "cancelled"):
            return status == name
        if name == "always":
            return True
        raise AssertionError(f"the test runner does not know the function {name}()")


def evaluate(expression: str, context: Mapping[str, Any]) -> Any:
    """The value of one expression (without `${{ }}`)."""
    parser = _Parser(_tokens(expression), context)
    value = parser.or_()
    assert parser.at == len(parser.tokens), f"trailing text in {expression!r}"
    return value


def substitute(text: Any, context: Mapping[str, Any]) -> str:
    """A YAML value with every `${{ }}` replaced by its value, as GitHub renders it."""

    def one(match: re.Match[str]) -> str:
        value = evaluate(match.group(1), context)
        if isinstance(value, bool):
            return "true" if value else "false"
        if isinstance(value, float) and value.is_integer():
            return str(int(value))
        return str(value)

    return _EXPRESSION.sub(one, str(text)).strip()


_STATUS_CHECK = re.compile(r"\b(success|failure|cancelled|always)\(\)")


def condition(text: Any, context: Mapping[str, Any]) -> bool:
    """An `if:`: an expression, with or without `${{ }}`. Without a status check function
    in it GitHub applies `success() && (...)`; no `if:` at all is `success()`."""
    body = str(text if text is not None else "success()").strip()
    match = _EXPRESSION.fullmatch(body)
    body = match.group(1) if match else body
    if not _STATUS_CHECK.search(body):
        body = f"success() && ({body})"
    return _truthy(evaluate(body, context))


@dataclass
class JobResult:
    ran: bool
    status: str
    outputs: dict[str, str] = field(default_factory=dict)
    log: str = ""


def run_job(
    job: Mapping[str, Any],
    context: dict[str, Any],
    *,
    cwd: Path,
    base_env: Mapping[str, str],
    step_env: Mapping[str, Mapping[str, str]] | None = None,
) -> JobResult:
    """Run `job`'s `run:` steps in order; `context` holds github, inputs, vars, secrets,
    runner and needs. `step_env` adds variables to a named step (a fake tool's switch)."""
    context = {**context, "steps": {}, "job": {"status": "success"}}
    if not condition(job.get("if", "success()"), context):
        return JobResult(ran=False, status="skipped")
    job_env = {k: substitute(v, context) for k, v in (job.get("env") or {}).items()}
    log: list[str] = []
    runner_temp = Path(str(context["runner"]["temp"]))
    for index, step in enumerate(job["steps"]):
        script = step.get("run")
        if script is None or script.strip() == "make setup":
            continue
        context["env"] = job_env
        if not condition(step.get("if"), context):
            continue
        output_file = runner_temp / f"output-{index}"
        output_file.write_text("")
        env = {
            **base_env,
            **job_env,
            **{k: substitute(v, context) for k, v in (step.get("env") or {}).items()},
            **(step_env or {}).get(str(step.get("name")), {}),
            "GITHUB_OUTPUT": str(output_file),
            "GITHUB_STEP_SUMMARY": str(runner_temp / "summary.md"),
            "RUNNER_TEMP": str(runner_temp),
        }
        done = subprocess.run(
            ["bash", "--noprofile", "--norc", "-eo", "pipefail", "-c", script],
            cwd=cwd,
            env=env,
            capture_output=True,
            text=True,
            check=False,
            timeout=120,
        )
        log.append(f"## {step.get('name', script.splitlines()[0])}\n{done.stdout}{done.stderr}")
        outputs = dict(
            line.split("=", 1) for line in output_file.read_text().splitlines() if "=" in line
        )
        if "id" in step:
            context["steps"][step["id"]] = {"outputs": outputs}
        if done.returncode != 0:
            context["job"]["status"] = "failure"
    status = str(context["job"]["status"])
    outputs = {k: substitute(v, context) for k, v in (job.get("outputs") or {}).items()}
    return JobResult(ran=True, status=status, outputs=outputs, log="\n".join(log))


def os_path_with(bin_dir: Path) -> str:
    return f"{bin_dir}:{os.environ['PATH']}"
