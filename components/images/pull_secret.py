"""The image pull secret for private images on ghcr.io (or a GitHub Enterprise Server's
`containers.<host>` registry)."""

from __future__ import annotations

import base64
import json
from collections.abc import Sequence
from dataclasses import dataclass, field

import pulumi
from pulumi_kubernetes.core.v1 import Secret

from components.kube.pods import labels, metadata

REGISTRY = "ghcr.io"


def dockerconfigjson(registries: Sequence[str], username: str, token: str) -> str:
    """The `.dockerconfigjson` document the kubelet reads to log in to each of `registries`."""
    auth = base64.b64encode(f"{username}:{token}".encode()).decode()
    entry = {"username": username, "password": token, "auth": auth}
    return json.dumps({"auths": {registry: entry for registry in registries}}, sort_keys=True)


@dataclass(frozen=True)
class RegistryPullSecretArgs:
    namespace: pulumi.Input[str]
    environment: str
    owner: pulumi.Input[str]
    """GitHub user or organisation that owns the packages (the registry username)."""
    token: pulumi.Output[str]
    """GitHub token with `read:packages`; a secret Output."""
    registries: Sequence[str] = field(default=(REGISTRY,))
    """Registry hosts of the images: ghcr.io, or GitHub Enterprise Server's `containers.<host>`."""


class RegistryPullSecret(pulumi.ComponentResource):
    """A `kubernetes.io/dockerconfigjson` Secret for the images' registry, created only for
    private images."""

    name: pulumi.Output[str]

    def __init__(
        self, name: str, args: RegistryPullSecretArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        super().__init__("tims-stack:k8s:RegistryPullSecret", name, None, opts)
        # Built inside apply so the token is only ever combined with the owner as
        # a secret Output; Output.secret keeps the result secret even if a caller
        # passed a plain Output by mistake.
        registries = tuple(args.registries)
        document: pulumi.Output[str] = pulumi.Output.all(args.owner, args.token).apply(
            lambda values: dockerconfigjson(registries, str(values[0]), str(values[1]))
        )
        config_json: pulumi.Output[str] = pulumi.Output.secret(document)
        secret = Secret(
            name,
            metadata=metadata(args.namespace, labels(args.environment, "registry", "ghcr-pull")),
            type="kubernetes.io/dockerconfigjson",
            string_data={".dockerconfigjson": config_json},
            opts=pulumi.ResourceOptions(parent=self),
        )
        self.name = secret.metadata.name
        self.register_outputs({"name": self.name})
