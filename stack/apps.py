"""The app keys' models: `tims-stack:backend` and `tims-stack:frontend`, and their resources.

Declared like the rest of the schema (see `stack.models` on adding a key).
`Resources` is shared with the data stores (`stack.models`); autoscaling's own
fields are in `stack.production`.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Annotated, Any

from pydantic import BeforeValidator, Field, field_validator

from stack import rules
from stack.contract import BACKEND_CONTRACT_ENV, FRONTEND_CONTRACT_ENV
from stack.errors import Finding, fail_all
from stack.fields import ConfigModel, Quantity, ResourceName, cross_field, env_name
from stack.production import Autoscaling


class Resources(ConfigModel):
    """Kubernetes resource requests and limits, e.g. {"cpu": "250m", "memory": "256Mi"}."""

    requests: dict[ResourceName, Quantity] = Field(
        default_factory=dict, description="cpu, memory, ephemeral-storage: Kubernetes quantities."
    )
    limits: dict[ResourceName, Quantity] = Field(
        default_factory=dict, description="As requests; each request must be <= its limit."
    )

    @cross_field("requests", "limits")
    def _requests_within_limits(self) -> list[Finding]:
        found: list[Finding] = []
        for part in ("requests", "limits"):
            for name, text in getattr(self, part).items():
                if name != "cpu" and text.endswith("m"):
                    # The hint rebuilds the value, so it is the problem (hidden for a secure
                    # app config), never the allowed text (kept for one).
                    allowed = "bytes, e.g. '512Mi'; 'm' means thousandths here"
                    problem = f"is in thousandths of a byte: did you mean '{text[:-1]}Mi'?"
                    found.append(
                        Finding(allowed, problem, at=(part, name), value=text, has_value=True)
                    )
        for name, request in self.requests.items():
            limit = self.limits.get(name)
            if limit is not None and _amount(request) > _amount(limit):
                # Quotes config values: not value_free, so a secure app config hides it.
                problem = (
                    f"exceeds the limit {limit!r} (a default unless you set limits.{name}); "
                    "Kubernetes requires request <= limit"
                )
                allowed = "a request no larger than the limit"
                found.append(
                    Finding(allowed, problem, at=("requests", name), value=request, has_value=True)
                )
        return found


def _amount(text: str) -> Decimal:
    return rules.parse_quantity(text) or Decimal(0)


def merged(value: Any, default: Resources) -> Any:
    """`resources` as written over `default`, entry by entry: requests.cpu alone keeps the rest."""
    if not isinstance(value, dict):
        return value
    given = {p: value.get(p) or {} for p in ("requests", "limits")}
    parts = {p: {**getattr(default, p), **v} for p, v in given.items() if isinstance(v, dict)}
    return {**value, **parts}


def resources_field(default: Resources, more: str = "") -> Any:
    """The `resources` field of a part whose defaults are `default`."""
    return Field(
        default=default,
        description='{"requests": {...}, "limits": {...}} with cpu, memory, ephemeral-storage; '
        "an entry you set replaces the default's, the others stay. Why these defaults: requests "
        "reserve room on a node (and are what autoscaling percentages are of); the memory limit "
        "restarts a leaking pod before it starves its neighbours; no CPU limit, so a busy pod is "
        f"not throttled.{more}",
    )


def replicas_field(default: int, why: str = "") -> Any:
    return Field(
        default=default,
        ge=0,
        description=f"Number of pods, an integer >= 0. {default} as in the original stack{why}; "
        "more than 1 also brings a PodDisruptionBudget (docs/production.md).",
    )


BACKEND_RESOURCES = Resources(requests={"cpu": "250m", "memory": "512Mi"}, limits={"memory": "1Gi"})
FRONTEND_RESOURCES = Resources(
    requests={"cpu": "100m", "memory": "256Mi"}, limits={"memory": "512Mi"}
)


class AppConfig(ConfigModel):
    """`tims-stack:backend` / `tims-stack:frontend`."""

    replicas: int = Field(default=1, ge=0, description="Number of pods, an integer >= 0.")
    env: dict[str, str] = Field(default_factory=dict)
    resources: Resources = Field(default_factory=Resources)
    autoscaling: Autoscaling | None = Field(
        default=None,
        description='{"min": 2, "max": 6, "cpu": 70, "memory": 80}: an autoscaling/v2 HPA owns '
        "the replica count (replicas is then unused). docs/production.md.",
    )


class BackendConfig(AppConfig):
    """`tims-stack:backend`."""

    replicas: int = replicas_field(2, ", so a rollout or node drain keeps one serving")
    env: dict[Annotated[str, env_name(BACKEND_CONTRACT_ENV)], str] = Field(
        default_factory=dict,
        description=(
            "Extra environment variables (name -> string). Variables the program sets from the "
            "image contract are refused (DB_*, REDIS_URL, DJANGO_SECRET_KEY, PRODUCTION, "
            "ROOT_URL, ROOT_HOST, SESSION_COOKIE_DOMAIN, NEXTJS_HOST_URL, "
            'USE_NEXTJS_PROXY_ROUTES, UNIQUE_ID, BASE_ADMIN_*). DJANGO_DEBUG ("true"/"false") '
            'replaces "false"; DJANGO_ALLOWED_HOSTS replaces the default "*"; '
            "EXTRA_TRUSTED_ORIGINS is appended to the environment's own origin."
        ),
    )
    resources: Annotated[
        Resources, BeforeValidator(lambda value: merged(value, BACKEND_RESOURCES))
    ] = resources_field(BACKEND_RESOURCES)

    @field_validator("env")
    @classmethod
    def _settings_the_app_can_read(cls, env: dict[str, str]) -> dict[str, str]:
        debug = env.get("DJANGO_DEBUG")
        if debug is not None and debug not in ("true", "false"):
            allowed = '"true" or "false" (the settings compare with "true")'
            raise fail_all([Finding(allowed, at=("DJANGO_DEBUG",), value=debug, has_value=True)])
        origins = env.get("EXTRA_TRUSTED_ORIGINS")
        if origins is not None and (problem := rules.origins_problem(origins)) is not None:
            raise fail_all(
                [
                    Finding(
                        rules.ORIGINS_RULE,
                        problem,
                        at=("EXTRA_TRUSTED_ORIGINS",),
                        value=origins,
                        has_value=True,
                    )
                ]
            )
        return env


class FrontendConfig(AppConfig):
    """`tims-stack:frontend`."""

    replicas: int = replicas_field(1)
    env: dict[Annotated[str, env_name(FRONTEND_CONTRACT_ENV)], str] = Field(
        default_factory=dict,
        description=(
            "Extra environment variables (name -> string); not ROOT_URL or WEBSOCKET_PROTOCOL "
            "(the program sets them from the backend URL and TLS)."
        ),
    )
    resources: Annotated[
        Resources, BeforeValidator(lambda value: merged(value, FRONTEND_RESOURCES))
    ] = resources_field(FRONTEND_RESOURCES)
