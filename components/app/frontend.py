"""The Next.js frontend: its environment Secret and Deployment."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import pulumi

from components.app.services import FRONTEND
from components.app.workload import app_workload, env_entries, part_workload
from components.kube import pods, timeouts
from stack.config import FRONTEND_CONTRACT_ENV, AppConfig

STARTUP_SECONDS = timeouts.FRONTEND_STARTUP_SECONDS
READINESS_PATH = "/login/"
"""A page Next.js renders itself on GET (no backend call; `trailingSlash` is on, so the
slash avoids a redirect): readiness means Next.js answers, not just that the port is open."""


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
    env_is_secret: bool = True
    """Whether `config.env` came from a secure config value: its variables are then secret."""


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

        plain: pulumi.Output[dict[str, str]] = pulumi.Output.from_input(args.root_url).apply(
            environment
        )
        values = env_entries(
            plain, environment(""), secret_names=extra if args.env_is_secret else ()
        )
        # A Secret, not plain env: user-supplied extra variables may hold secrets.
        app_workload(
            name,
            part_workload(
                args,
                FRONTEND,
                labels=object_labels,
                env=values,
                startup_seconds=STARTUP_SECONDS,
                readiness=pods.http_probe(READINESS_PATH, FRONTEND.port_name),
            ),
            child,
        )
        self.pod_labels = object_labels
        self.register_outputs({})
