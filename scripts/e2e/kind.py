"""The end-to-end run on a kind cluster, one subcommand per workflow step.

    python -m scripts.e2e.kind cluster --profile incluster|cloudnativepg
    python -m scripts.e2e.kind images --app-repo tbscode/tims-stack-anystack --ref main
    python -m scripts.e2e.kind stack-file --profile incluster
    python -m scripts.e2e.kind lifecycle --profile incluster

- `cluster`: a kind cluster whose node forwards host port 8080 to the ingress
  controller (ingress-nginx's kind manifest), plus the CloudNativePG operator
  for the `cloudnativepg` profile.
- `images`: clones the app repository and builds its images as
  templates/github/build-images.yml does (static files collected with the dev
  image first), then `kind load`s them: images.source prebuilt, no registry.
- `stack-file`: writes `Pulumi.e2e-<profile>.yaml` for those images.
- `lifecycle`: `pulumi up`, the HTTP checks (scripts/e2e/http_checks.py),
  `stop` (nothing running, data kept), `start`, the HTTP checks again,
  `destroy` (nothing left: scripts/e2e/namespace.py), `stack rm`.

Each subcommand runs a plan of commands built by a pure function (tested).
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import yaml

from scripts.e2e import http_checks, namespace
from scripts.stack_names import check_environment
from stack.naming import default_host, default_namespace

CLUSTER = "tims-stack-e2e"
PROFILES = ("incluster", "cloudnativepg")
HOST_PORT = 8080
DOMAIN = "e2e.test"
TAG = "e2e"
BACKEND_IMAGE = "localhost/tims-stack-backend"
FRONTEND_IMAGE = "localhost/tims-stack-frontend"
INGRESS_NGINX = (
    "https://raw.githubusercontent.com/kubernetes/ingress-nginx/controller-v1.12.1/"
    "deploy/static/provider/kind/deploy.yaml"
)
CNPG_OPERATOR = (
    "https://raw.githubusercontent.com/cloudnative-pg/cloudnative-pg/main/releases/cnpg-1.30.1.yaml"
)

Runner = Callable[[Sequence[str]], str]
"""Runs a command, returns its stdout, raises on a non-zero exit."""


def kind_config() -> dict[str, Any]:
    """One node labelled for ingress-nginx's kind manifest, its port 80 on the host's 8080."""
    return {
        "kind": "Cluster",
        "apiVersion": "kind.x-k8s.io/v1alpha4",
        "nodes": [
            {
                "role": "control-plane",
                "labels": {"ingress-ready": "true"},
                "extraPortMappings": [
                    {"containerPort": 80, "hostPort": HOST_PORT, "listenAddress": "127.0.0.1"}
                ],
            }
        ],
    }


def cluster_plan(profile: str, config_file: Path) -> list[list[str]]:
    check_profile(profile)
    wait = ["--for=condition=Available", "--timeout=300s"]
    plan = [
        [
            "kind",
            "create",
            "cluster",
            "--name",
            CLUSTER,
            "--config",
            str(config_file),
            "--wait",
            "120s",
        ],
        ["kubectl", "apply", "-f", INGRESS_NGINX],
        ["kubectl", "wait", "-n", "ingress-nginx", "deployment/ingress-nginx-controller", *wait],
    ]
    if profile == "cloudnativepg":
        plan += [
            # The operator's CRDs exceed the client-side last-applied annotation limit.
            ["kubectl", "apply", "--server-side", "-f", CNPG_OPERATOR],
            ["kubectl", "wait", "-n", "cnpg-system", "deployment/cnpg-controller-manager", *wait],
        ]
    return plan


def images_plan(app_repo: str, ref: str, workdir: Path) -> list[list[str]]:
    """Clone and build as the build template does, then load into kind."""
    app = workdir / "app"
    back, front = app / "back", app / "front"
    tools = "tims-stack-backend-collectstatic:local"
    backend, frontend = f"{BACKEND_IMAGE}:{TAG}", f"{FRONTEND_IMAGE}:{TAG}"
    collect = ["python3", "manage.py", "collectstatic", "--noinput"]
    source = f"https://github.com/{app_repo}.git"
    mount = ["--volume", f"{back}:/back", "--workdir", "/back", "--env", "HOME=/tmp"]
    return [
        ["git", "clone", "--depth", "1", "--branch", ref, source, str(app)],
        ["docker", "build", "-f", str(app / "Dockerfile.back_dev"), "-t", tools, str(back)],
        ["docker", "run", "--rm", "--network", "none", *mount, tools, *collect],
        ["docker", "build", "-f", str(app / "Dockerfile.back"), "-t", backend, str(back)],
        ["docker", "build", "-f", str(app / "Dockerfile.front"), "-t", frontend, str(front)],
        ["kind", "load", "docker-image", "--name", CLUSTER, backend, frontend],
    ]


def check_profile(profile: str) -> str:
    if profile not in PROFILES:
        raise ValueError(f"profile {profile!r} is not one of {', '.join(PROFILES)}")
    return profile


def stack_name(profile: str) -> str:
    return check_environment(f"e2e-{check_profile(profile)}")


def stack_config(profile: str) -> dict[str, Any]:
    """The e2e stack file: kind's ingress, the loaded images, small volumes, no TLS."""
    postgres: dict[str, Any] = {"storage": "1Gi"}
    if profile == "cloudnativepg":
        postgres |= {"mode": "cloudnativepg", "cloudnativepg": {"instances": 1}}
    return {
        "config": {
            "tims-stack:domain": DOMAIN,
            "tims-stack:tls": False,
            "tims-stack:routing": {"kind": "ingress", "className": "nginx"},
            "tims-stack:images": {
                "source": "prebuilt",
                "backend": BACKEND_IMAGE,
                "frontend": FRONTEND_IMAGE,
                "tag": TAG,
                "private": False,
            },
            "tims-stack:postgres": postgres,
            "tims-stack:redis": {"storage": "256Mi"},
            "tims-stack:runAsNonRoot": False,
        }
    }


def host(profile: str) -> str:
    return default_host(stack_name(profile), DOMAIN)


def lifecycle_commands(stack: str) -> dict[str, list[list[str]]]:
    yes = ["--yes", "--non-interactive", "--skip-preview"]

    def switch(value: str) -> list[list[str]]:
        return [
            ["pulumi", "config", "set", "--stack", stack, "tims-stack:stopped", value],
            ["pulumi", "up", "--stack", stack, *yes],
        ]

    return {
        "up": [
            ["pulumi", "stack", "select", "--create", stack],
            ["pulumi", "up", "--stack", stack, *yes],
        ],
        "stop": switch("true"),
        "start": switch("false"),
        "destroy": [
            ["pulumi", "destroy", "--stack", stack, *yes],
            ["pulumi", "stack", "rm", stack, "--yes", "--non-interactive"],
        ],
    }


def run_http_checks(base_url: str, profile: str, password: str, attempts: int) -> None:
    """The HTTP checks, retried while the ingress and pods settle after an up."""
    for attempt in range(attempts):
        results = http_checks.run_checks(
            http_checks.Session(base_url, host(profile)), "admin", password
        )
        for passed, line in results:
            print(("ok    " if passed else "FAIL  ") + line.replace(password, "***"))
        if all(passed for passed, _ in results):
            return
        if attempt + 1 < attempts:
            time.sleep(10)
    raise RuntimeError("the HTTP checks failed")


def lifecycle(
    profile: str,
    run: Runner,
    kubectl: namespace.Kubectl,
    *,
    base_url: str = f"http://127.0.0.1:{HOST_PORT}",
    attempts: int = 30,
) -> None:
    stack = stack_name(profile)
    commands = lifecycle_commands(stack)
    for command in commands["up"]:
        run(command)
    outputs = json.loads(
        run(["pulumi", "stack", "output", "--stack", stack, "--json", "--show-secrets"])
    )
    password = str(outputs.get("adminPassword") or "")
    if not password:
        raise RuntimeError("the stack has no adminPassword output")
    print(f"::add-mask::{password}")
    run_http_checks(base_url, profile, password, attempts)
    ns = default_namespace(stack)
    for phase, expect in (("stop", "stopped"), ("start", None), ("destroy", "gone")):
        for command in commands[phase]:
            run(command)
        if expect is not None:
            # Pods of a workload scaled to zero may still be terminating when `up` returns.
            for attempt in range(attempts):
                problems = namespace.check(expect, ns, kubectl)
                if not problems or attempt + 1 == attempts:
                    break
                time.sleep(10)
            if problems:
                raise RuntimeError(f"after {phase}: " + "; ".join(problems))
            print(f"ok    after {phase}: {ns} is {expect}")
        else:
            run_http_checks(base_url, profile, password, attempts)


def subprocess_run(command: Sequence[str]) -> str:
    print("+ " + " ".join(command), flush=True)
    done = subprocess.run(list(command), stdout=subprocess.PIPE, text=True, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"`{command[0]} {command[1]}` exited with status {done.returncode}")
    return done.stdout


def main(argv: Sequence[str] | None = None, *, run: Runner = subprocess_run) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    sub = parser.add_subparsers(dest="step", required=True)
    for name in ("cluster", "stack-file", "lifecycle"):
        sub.add_parser(name).add_argument("--profile", required=True, choices=PROFILES)
    images = sub.add_parser("images")
    images.add_argument("--app-repo", required=True)
    images.add_argument("--ref", default="main")
    images.add_argument("--workdir", type=Path, default=Path("build/e2e"))
    args = parser.parse_args(argv)
    try:
        if args.step == "cluster":
            config = Path("build/e2e/kind.yaml")
            config.parent.mkdir(parents=True, exist_ok=True)
            config.write_text(yaml.safe_dump(kind_config()), encoding="utf-8")
            for command in cluster_plan(args.profile, config):
                run(command)
        elif args.step == "images":
            args.workdir.mkdir(parents=True, exist_ok=True)
            for command in images_plan(args.app_repo, args.ref, args.workdir):
                run(command)
        elif args.step == "stack-file":
            path = Path(f"Pulumi.{stack_name(args.profile)}.yaml")
            path.write_text(yaml.safe_dump(stack_config(args.profile)), encoding="utf-8")
            print(f"wrote {path}")
        else:
            lifecycle(args.profile, run, namespace.run_kubectl)
    except (RuntimeError, ValueError, OSError) as exc:
        print(f"::error title=e2e {args.step}::{exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
