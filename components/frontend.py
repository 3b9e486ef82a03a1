"""The Next.js frontend: its environment Secret and Deployment."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import pulumi
from pulumi_kubernetes.apps.v1 import Deployment
from pulumi_kubernetes.core.v1 import Secret

from components import pods
from components.services import FRONTEND
from stack.config import FRONTEND_CONTRACT_ENV, AppConfig, Resources

DEFAULT_RESOURCES = Resources(
    requests={"cpu": "100m", "memory": "256Mi"},
    limits={"memory": "512Mi"},
)
STARTUP_SECONDS = 300


def with_extra_env(contract: Mapping[str, str], extra: Mapping[str, str]) -> dict[str, str]:
    """The contract plus the user's `frontend.env`, which never replaces a contract variable.

    Config refuses those keys already; skipping them here keeps a config object
    built another way from overriding them.
    """
    return {**contract, **{k: v for k, v in extra.items() if k not in FRONTEND_CONTRACT_ENV}}


def websocket_protocol(*, secure: bool) -> str:
    """`wss://` when browsers reach the environment over TLS, `ws://` otherwise."""
    return "wss://" if secure else "ws://"


@dataclass(frozen=True)
class FrontendArgs:
    namespace: pulumi.Input[str]
    environment: str
    config: AppConfig
    image: pulumi.Input[str]
    stopped: bool
    run_as_non_root: bool
    root_url: pulumi.Input[str]
    """URL of the backend as browsers see it (in-cluster URL without a public domain)."""
    secure: bool
    """Whether that URL is served over TLS."""
    pull_secret: pulumi.Input[str] | None = None


class Frontend(pulumi.ComponentResource):
    pod_labels: dict[str, str]

    def __init__(
        self, name: str, args: FrontendArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        super().__init__("tims-stack:k8s:Frontend", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        object_labels = FRONTEND.labels(args.environment)
        extra = dict(args.config.env)
        protocol = websocket_protocol(secure=args.secure)

        def environment(root_url: Any) -> dict[str, str]:
            return with_extra_env(
                {"ROOT_URL": str(root_url), "WEBSOCKET_PROTOCOL": protocol}, extra
            )

        values: pulumi.Output[dict[str, str]] = pulumi.Output.from_input(args.root_url).apply(
            environment
        )
        env: pulumi.Output[dict[str, str]] = pulumi.Output.secret(values)
        # A Secret, not plain env: user-supplied extra variables may hold secrets.
        env_secret = Secret(
            f"{name}-env",
            metadata=pods.metadata(args.namespace, object_labels),
            type="Opaque",
            string_data=env,
            opts=child,
        )
        Deployment(
            name,
            metadata=pods.metadata(args.namespace, object_labels),
            spec=pods.app_deployment_spec(
                container_name=FRONTEND.name,
                pod_labels=object_labels,
                image=args.image,
                port_name=FRONTEND.port_name,
                port=FRONTEND.port,
                env_secret_name=env_secret.metadata.name,
                replica_count=pods.replicas(args.config.replicas, stopped=args.stopped),
                resource_requirements=pods.resources(args.config.resources, DEFAULT_RESOURCES),
                run_as_non_root=args.run_as_non_root,
                pull_secret_name=args.pull_secret,
                startup_seconds=STARTUP_SECONDS,
            ),
            opts=child,
        )
        self.pod_labels = object_labels
        self.register_outputs({})
