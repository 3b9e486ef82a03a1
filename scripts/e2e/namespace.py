"""What is left in an environment's namespace after `stop` and after `destroy`, from kubectl.

    python -m scripts.e2e.namespace --namespace tims-stack-e2e --expect stopped|gone

- `stopped`: no pod is running or starting (completed Job pods may stay) and
  the data volume claims are still there and bound: stop keeps the data.
- `gone`: the namespace does not exist any more; if it still exists
  (Terminating), nothing but what Kubernetes itself puts in every namespace
  may be left in it; and no PersistentVolume of its claims is left.

kubectl is run with `-o json`; its JSON is parsed by the pure functions below.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from collections.abc import Callable, Mapping, Sequence
from typing import Any

KINDS_LEFT_BEHIND = (
    "deployments,statefulsets,jobs,pods,services,persistentvolumeclaims,secrets,"
    "configmaps,ingresses,networkpolicies,poddisruptionbudgets,horizontalpodautoscalers"
)
"""What the program creates in the namespace (and the pods and claims its workloads make)."""
KUBERNETES_OWN = {("ConfigMap", "kube-root-ca.crt")}
"""Objects Kubernetes creates in every namespace: not ours to delete."""

Kubectl = Callable[[Sequence[str]], tuple[int, str, str]]
"""Runs kubectl with these arguments; returns (exit status, stdout, stderr)."""


def _items(listing: str) -> list[Mapping[str, Any]]:
    loaded = json.loads(listing)
    items = loaded.get("items") if isinstance(loaded, dict) else None
    if not isinstance(items, list):
        raise ValueError("kubectl printed no item list")
    return items


def _name(item: Mapping[str, Any]) -> str:
    return f"{item.get('kind', '?')}/{item.get('metadata', {}).get('name', '?')}"


def stopped_problems(pods: str, claims: str) -> list[str]:
    """Why a namespace is not stopped with its data kept (empty: it is)."""
    problems = [
        f"{_name(pod)} is {pod.get('status', {}).get('phase')}"
        for pod in _items(pods)
        if pod.get("status", {}).get("phase") in ("Running", "Pending", "Unknown")
    ]
    bound = [c for c in _items(claims) if c.get("status", {}).get("phase") == "Bound"]
    if not bound:
        problems.append("no bound PersistentVolumeClaim is left: stop must keep the data")
    return problems


def leftovers(listing: str) -> list[str]:
    """Objects still in a namespace, without the ones Kubernetes puts in every namespace."""
    return [
        _name(item)
        for item in _items(listing)
        if (item.get("kind"), item.get("metadata", {}).get("name")) not in KUBERNETES_OWN
    ]


def left_volumes(listing: str, namespace: str) -> list[str]:
    """Volumes still bound to, or released by, a claim of `namespace`: the claims go with
    the namespace, their volumes only with a StorageClass whose reclaimPolicy is Delete."""
    found = []
    for volume in _items(listing):
        claim = (volume.get("spec") or {}).get("claimRef") or {}
        if claim.get("namespace") == namespace:
            phase = (volume.get("status") or {}).get("phase")
            found.append(
                f"{_name(volume)} of {namespace}/{claim.get('name')} is still there ({phase})"
            )
    return found


def gone_problems(kubectl: Kubectl, namespace: str) -> list[str]:
    status, out, err = kubectl(["get", "namespace", namespace, "-o", "json"])
    problems: list[str] = []
    if status == 0:
        status, out, err = kubectl(["get", KINDS_LEFT_BEHIND, "-n", namespace, "-o", "json"])
        if status != 0:
            raise RuntimeError(f"kubectl get in {namespace} failed: {err.strip()}")
        problems = [f"{namespace} still holds {name}" for name in leftovers(out)]
    elif "NotFound" not in err and "not found" not in err:
        raise RuntimeError(f"kubectl get namespace {namespace} failed: {err.strip()}")
    status, out, err = kubectl(["get", "persistentvolumes", "-o", "json"])
    if status != 0:
        raise RuntimeError(f"kubectl get persistentvolumes failed: {err.strip()}")
    return problems + left_volumes(out, namespace)


def run_kubectl(args: Sequence[str]) -> tuple[int, str, str]:
    done = subprocess.run(["kubectl", *args], capture_output=True, text=True, check=False)
    return done.returncode, done.stdout, done.stderr


def check(expect: str, namespace: str, kubectl: Kubectl = run_kubectl) -> list[str]:
    if expect == "gone":
        return gone_problems(kubectl, namespace)
    outputs = []
    for kind in ("pods", "persistentvolumeclaims"):
        status, out, err = kubectl(["get", kind, "-n", namespace, "-o", "json"])
        if status != 0:
            raise RuntimeError(f"kubectl get {kind} -n {namespace} failed: {err.strip()}")
        outputs.append(out)
    return stopped_problems(*outputs)


def main(argv: Sequence[str] | None = None, *, kubectl: Kubectl = run_kubectl) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--namespace", required=True)
    parser.add_argument("--expect", required=True, choices=("stopped", "gone"))
    args = parser.parse_args(argv)
    try:
        problems = check(args.expect, args.namespace, kubectl)
    except (RuntimeError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    for problem in problems:
        print(f"FAIL  {problem}")
    if not problems:
        print(f"ok    {args.namespace}: {args.expect}")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
