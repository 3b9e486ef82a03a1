"""Render one environment's Kubernetes objects offline, as YAML manifests.

    python -m scripts.render --env dev [--config Pulumi.example.yaml] [--out DIR]

Runs the real program under the same mocks the tests use (scripts/mockrun/):
no Pulumi engine, no cluster, no GitHub token (a fake one stands in, and the
mocks answer every GitHub call). Writes one file per object under
build/manifests/<env>/, replaces every secret value with a placeholder,
validates each object against the Kubernetes schema (the oldest and newest
versions we support) and an HTTPRoute or CloudNativePG resource against its CRD
(scripts/manifest_schemas.py), and prints
a summary table. Exit status: 0 valid, 1 invalid output, 2 bad config or usage.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from scripts.manifest_schemas import KUBERNETES_VERSIONS, KubernetesSchema, validate
from scripts.mockrun import (
    FAKE_TOKEN,
    REPO_ROOT,
    ProgramRun,
    Registered,
    integral,
    is_secret,
    reveal,
    try_program,
)
from stack.config import PASSWORD_KEY, TOKEN_KEY, ConfigError
from stack.stackfile import (
    RawStackConfig,
    StackFileError,
    raw_config_for_stack,
    raw_config_from_project_file,
)

PLACEHOLDER = "<redacted>"
"""Written instead of every secret value."""
PROJECT_FILE = REPO_ROOT / "Pulumi.yaml"
KIND_ORDER = (
    "Namespace",
    "Secret",
    "Service",
    "StatefulSet",
    "PersistentVolumeClaim",
    "Cluster",
    "ScheduledBackup",
    "Deployment",
    "HorizontalPodAutoscaler",
    "PodDisruptionBudget",
    "Ingress",
    "HTTPRoute",
    "NetworkPolicy",
)
"""Files are numbered in the order `kubectl apply` would want them."""


# --------------------------------------------------------------------------- manifests


def _mask(value: Any) -> Any:
    """Every string leaf replaced by the placeholder, keeping the structure."""
    if isinstance(value, dict):
        return {k: _mask(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_mask(v) for v in value]
    if isinstance(value, str):
        return PLACEHOLDER
    return value


def _redact(value: Any) -> Any:
    """Secret-marked values masked, everything else as is."""
    if is_secret(value):
        return _mask(value["value"])
    if isinstance(value, dict):
        return {k: _redact(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_redact(v) for v in value]
    return value


def _secret_entries(resource: Registered, run: ProgramRun, field_name: str) -> Any:
    """A Secret's `data`/`stringData` with the entries the program built from secrets masked.

    The SDK makes the whole map one secret, so the state cannot tell entries
    apart; the program's own inputs can (`ProgramRun.readable_entries`). An
    entry from a secret Output (a generated password, the token, a secure
    config value) is masked; the rest (DB_PORT, ROOT_URL) stays readable for
    review. An entry render knows nothing about is masked.
    """
    entries = reveal(resource.outputs.get(field_name))
    readable = run.readable_entries.get(resource.urn, frozenset())
    if not isinstance(entries, dict):
        return _mask(entries)
    return {
        key: value if (field_name, key) in readable else _mask(value)
        for key, value in entries.items()
    }


def manifest(resource: Registered, run: ProgramRun) -> dict[str, Any]:
    """The object as it would be applied, with no secret value in it."""
    state = _redact(resource.outputs)
    if reveal(state.get("kind")) == "Secret":
        for key in ("data", "stringData"):
            if key in resource.outputs:
                state[key] = _secret_entries(resource, run, key)
    state = integral(state)
    return {k: v for k, v in state.items() if k not in ("id", "urn")}


def _sort_key(obj: Mapping[str, Any]) -> tuple[int, str]:
    kind = str(obj["kind"])
    rank = KIND_ORDER.index(kind) if kind in KIND_ORDER else len(KIND_ORDER)
    return rank, str(obj["metadata"].get("name", ""))


def replicas_of(obj: Mapping[str, Any]) -> str:
    spec = obj.get("spec")
    if isinstance(spec, dict) and "replicas" in spec:
        return str(spec["replicas"])
    return "-"


def images_of(obj: Mapping[str, Any]) -> str:
    spec = obj.get("spec")
    template = spec.get("template") if isinstance(spec, dict) else None
    if not isinstance(template, dict):
        return "-"
    containers = template.get("spec", {}).get("containers", [])
    return ", ".join(str(c.get("image")) for c in containers) or "-"


# --------------------------------------------------------------------------- rendering


@dataclass
class RenderResult:
    out_dir: Path
    files: list[Path] = field(default_factory=list)
    objects: list[dict[str, Any]] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    checks: list[str] = field(default_factory=list)
    """What the objects were validated against, or which check was skipped and why."""
    patches: list[bool] = field(default_factory=list)
    """Per object: a patch of an existing object (a PVC resize), not a whole one."""


def load_raw_config(env: str, config: Path | None) -> tuple[RawStackConfig, str]:
    """Pulumi.yaml's defaults under the stack file's values, and where they came from."""
    stack_file = config if config is not None else REPO_ROOT / f"Pulumi.{env}.yaml"
    if stack_file.is_file():
        try:
            return raw_config_for_stack(stack_file, PROJECT_FILE), str(stack_file)
        except ConfigError as exc:  # named after the file; --config may name another stack's
            raise ConfigError(exc.issues, stack=env) from None
    if config is not None:
        raise StackFileError(f"{config}: no such stack file")
    return raw_config_from_project_file(PROJECT_FILE), f"{PROJECT_FILE} (defaults only)"


def missing_stack_file(env: str, config: Path | None) -> str | None:
    """What to tell the user when the default stack file is absent, else None.

    Said on failure as well as on success: an error about a key the user did
    set means nothing until they know their file was not read.
    """
    if config is not None:
        return None
    stack_file = REPO_ROOT / f"Pulumi.{env}.yaml"
    if stack_file.is_file():
        return None
    return (
        f"{stack_file.name} does not exist, so only Pulumi.yaml's defaults were used; "
        f"create it (`pulumi config set --stack {env} ...`) or pass STACK_CONFIG=<file>"
    )


def offline_hint(exc: Exception) -> str | None:
    """How to give render the Postgres password it asks for, without the Pulumi CLI."""
    if not isinstance(exc, ConfigError) or all(i.key != PASSWORD_KEY for i in exc.issues):
        return None
    return (
        "render never decrypts secrets, so any `secure:` value stands in for one: without the "
        f"Pulumi CLI, render a copy of the stack file (STACK_CONFIG=<copy>) with "
        f"`{PASSWORD_KEY}: {{secure: placeholder}}`; `pulumi up` needs the real one"
    )


def run_offline(env: str, raw: RawStackConfig) -> ProgramRun:
    """The program under mocks, with a fake token: nothing real is ever contacted."""
    values: dict[str, Any] = {**raw.values, TOKEN_KEY: FAKE_TOKEN}
    return try_program(values, stack=env, secret_keys=set(raw.secret_keys) | {TOKEN_KEY})


def is_patch(resource: Registered) -> bool:
    """A `*Patch` resource: a partial object applied to an existing one, never created."""
    return resource.type.endswith("Patch")


def _header(obj: Mapping[str, Any], source: str, env: str, *, patch: bool = False) -> str:
    lines = [
        f"# Rendered offline by scripts/render.py for environment '{env}' from {source}.",
        "# Mocks stand in for Pulumi, the cluster and GitHub; names match a real `pulumi up`",
        "# only in shape (<name>-<suffix>), not in the random suffix.",
    ]
    if obj["kind"] == "Secret":
        lines += [
            f"# Secret values are replaced by {PLACEHOLDER!r}: render never writes secrets.",
            "# Entries that come from no secret (ports, URLs, plain config) are shown for",
            "# review. The deployed Secret holds the real (generated) values; Pulumi keeps",
            "# them encrypted in its state.",
        ]
    if patch:
        lines += [
            "# A patch, not a whole object: Pulumi applies these fields to the existing",
            f"# {obj['kind']} with server-side apply, as `kubectl apply --server-side",
            "# --force-conflicts` would. It is not a complete object: the target must exist.",
        ]
    return "\n".join(lines) + "\n"


FAILED_MARKER = "RENDER-FAILED.txt"
"""Left in the output directory by a failed or interrupted render."""
_MANIFEST_GLOB = "[0-9][0-9]-*.yaml"
"""Render's own files: only these (and the marker) are ever removed from the output directory."""


def _clear_own_files(out_dir: Path) -> None:
    for stale in out_dir.glob(_MANIFEST_GLOB):
        stale.unlink()


def mark_failed(out_dir: Path, env: str, reason: str) -> None:
    """Remove the previous render's manifests and leave a note saying why there are none.

    An older render left in place would look like the current one.
    """
    out_dir.mkdir(parents=True, exist_ok=True)
    _clear_own_files(out_dir)
    (out_dir / FAILED_MARKER).write_text(
        f"The render of environment '{env}' failed; the manifests here are not a valid render.\n"
        f"{reason}\n"
    )


def _install(staging: Path, out_dir: Path, failure: str | None) -> list[Path]:
    """Move the new files from `staging` into `out_dir`, replacing the previous render's.

    The marker is written first and removed last, so a render interrupted
    half-way never leaves a directory that looks complete.
    """
    marker = out_dir / FAILED_MARKER
    marker.write_text(failure or "A render was interrupted while writing these files.\n")
    _clear_own_files(out_dir)
    installed = []
    for new in sorted(staging.glob(_MANIFEST_GLOB)):
        installed.append(out_dir / new.name)
        os.replace(new, installed[-1])
    if failure is None:
        marker.unlink()
    return installed


def render(env: str, config: Path | None, out_dir: Path) -> RenderResult:
    """Render, write and validate; raises ConfigError/StackFileError for bad config.

    On success `out_dir` holds exactly the new manifests. On any failure the
    previous render's manifests are gone and FAILED_MARKER says why; with
    schema problems the new (invalid) manifests are there to inspect.
    """
    try:
        result = _render(env, config, out_dir)
    except (ConfigError, StackFileError) as exc:
        hints = [missing_stack_file(env, config), offline_hint(exc)]
        mark_failed(out_dir, env, "\n".join(filter(None, [str(exc), *hints])))
        raise
    except BaseException as exc:
        # Only the type: an unexpected error's text is not known to be free of secrets.
        mark_failed(out_dir, env, f"render stopped with {type(exc).__name__}; see its output")
        raise
    return result


def _render(env: str, config: Path | None, out_dir: Path) -> RenderResult:
    raw, source = load_raw_config(env, config)
    run = run_offline(env, raw)
    if run.error is not None:
        raise run.error
    result = RenderResult(out_dir=out_dir)
    result.notes += [f"config: {source}", f"{TOKEN_KEY}: a fake token (nothing calls GitHub)"]
    result.notes += filter(None, [missing_stack_file(env, config)])
    result.notes += run.logs
    schemas = [KubernetesSchema(v) for v in KUBERNETES_VERSIONS]
    objects = sorted(
        ((manifest(r, run), is_patch(r)) for r in run.kubernetes_objects()),
        key=lambda pair: _sort_key(pair[0]),
    )
    out_dir.mkdir(parents=True, exist_ok=True)
    # Next to out_dir, so the files move in with an atomic rename on the same file system.
    with tempfile.TemporaryDirectory(dir=out_dir.parent, prefix=f".{out_dir.name}.") as tmp:
        staging = Path(tmp)
        for index, (obj, patch) in enumerate(objects, start=1):
            name = obj["metadata"].get("name", "unnamed")
            path = staging / f"{index:02d}-{str(obj['kind']).lower()}-{name}.yaml"
            # Sorted keys: protobuf maps have no stable order, and reviewers diff these files.
            text = _header(obj, source, env, patch=patch) + yaml.safe_dump(obj, sort_keys=True)
            path.write_text(text)
            # Validate what was written, parsed back, so the file itself is checked.
            written = yaml.safe_load(path.read_text())
            problems, checked = validate(written, schemas)
            if checked not in result.checks:
                result.checks.append(checked)
            result.patches.append(patch)
            result.problems += [f"{path.name}: {p}" for p in problems]
            result.objects.append(written)
        failure = None
        if result.problems:
            failure = "\n".join(
                [f"The render of environment '{env}' found schema problems:", *result.problems]
            )
        result.files = _install(staging, out_dir, failure and failure + "\n")
    result.notes += [check for check in result.checks if check.startswith("skipped")]
    return result


def summary_table(objects: Sequence[Mapping[str, Any]], patches: Sequence[bool]) -> str:
    rows = [("KIND", "NAME", "REPLICAS", "IMAGE")]
    rows += [
        (f"{o['kind']}{' (patch)' * p}", str(o["metadata"]["name"]), replicas_of(o), images_of(o))
        for o, p in zip(objects, patches, strict=True)
    ]
    widths = [max(len(row[i]) for row in rows) for i in range(3)]
    return "\n".join(
        "  ".join(cell.ljust(widths[i]) for i, cell in enumerate(row[:3])) + "  " + row[3]
        for row in rows
    )


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m scripts.render",
        description="Render one environment's Kubernetes manifests offline (no cluster, no token).",
    )
    parser.add_argument("--env", required=True, help="environment / stack name, e.g. dev")
    parser.add_argument(
        "--config",
        type=Path,
        help="stack file to read (default: Pulumi.<env>.yaml, else Pulumi.yaml defaults)",
    )
    parser.add_argument(
        "--out", type=Path, help="output directory (default: build/manifests/<env>)"
    )
    args = parser.parse_args(argv)
    out_dir = args.out or REPO_ROOT / "build" / "manifests" / args.env
    try:
        result = render(args.env, args.config, out_dir)
    except (ConfigError, StackFileError) as exc:
        print(f"render: {exc}", file=sys.stderr)
        for hint in filter(None, [missing_stack_file(args.env, args.config), offline_hint(exc)]):
            print(f"render: note: {hint}", file=sys.stderr)
        print(f"render: no manifests written; see {out_dir / FAILED_MARKER}", file=sys.stderr)
        return 2
    for note in result.notes:
        print(f"note: {note}")
    print(summary_table(result.objects, result.patches))
    print(f"\n{len(result.files)} manifests in {result.out_dir}")
    if result.problems:
        print(f"\n{len(result.problems)} schema problems:", file=sys.stderr)
        for problem in result.problems:
            print(f"  {problem}", file=sys.stderr)
        print(f"the invalid manifests are kept, marked by {FAILED_MARKER}", file=sys.stderr)
        return 1
    print(f"all valid; checked against {'; '.join(result.checks)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
