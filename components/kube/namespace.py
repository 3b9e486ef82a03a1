"""The environment's namespace."""

from __future__ import annotations

from dataclasses import dataclass

import pulumi
from pulumi_kubernetes.core.v1 import Namespace as K8sNamespace
from pulumi_kubernetes.meta.v1 import ObjectMetaArgs

from components.kube.pods import labels

POD_SECURITY_LABELS = {
    # Pod Security admission: refuse privileged pods outright; report (not
    # refuse) pods below "restricted", since the application images may run
    # as root unless tims-stack:runAsNonRoot is set. Postgres and Redis meet
    # "restricted" in any case.
    "pod-security.kubernetes.io/enforce": "baseline",
    "pod-security.kubernetes.io/warn": "restricted",
    "pod-security.kubernetes.io/audit": "restricted",
}


@dataclass(frozen=True)
class NamespaceArgs:
    name: str
    """The namespace name: the image contract needs UNIQUE_ID == namespace, so it is fixed."""
    environment: str
    """Environment id, the `app.kubernetes.io/instance` label."""
    guard: pulumi.Resource | None = None
    """What the Namespace waits for: the namespace guard (components/data/store_mode.py)."""


class Namespace(pulumi.ComponentResource):
    """One namespace per environment; deleting it on destroy removes everything left inside."""

    name: pulumi.Output[str]

    def __init__(
        self, name: str, args: NamespaceArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        super().__init__("tims-stack:k8s:Namespace", name, None, opts)
        # The guard records the name; its refused Check stops the preview before the
        # replacement (a new namespace, the old one deleted with its claims) is planned.
        guard = [args.guard] if args.guard is not None else []
        namespace = K8sNamespace(
            name,
            metadata=ObjectMetaArgs(
                # Fixed, not auto-named: the backend image derives the Redis host
                # from UNIQUE_ID, which must equal this name (see the spec).
                name=args.name,
                labels={
                    **labels(args.environment, "namespace", "tims-stack"),
                    **POD_SECURITY_LABELS,
                },
            ),
            opts=pulumi.ResourceOptions(parent=self, depends_on=guard),
        )
        self.name = namespace.metadata.name
        self.register_outputs({"name": self.name})
