"""The dynamic provider behind the guards: refuses a postgres.mode, redis.mode or namespace change.

One provider, parametrised by what it guards (`postgres` for `PostgresModeGuard`,
`redis` for `RedisModeGuard`, `namespace` for `NamespaceGuard`): that only picks
the recorded key, the override key and the words of the refusal.

Why a resource: the previous mode must be known at preview time, without a
cluster. Pulumi keeps a resource's last inputs in the state and hands them to
the provider's `check(olds, news)` during preview and update, so a resource
whose only input is the mode remembers it. `check` fails when the mode differs
from the recorded one and the override is not set; the preview (which
`pulumi up` runs first) then stops before any step, so nothing is created or
deleted.

Serialized by value: Pulumi stores the provider, pickled with dill, in the
state and unpickles it in a separate provider host. dill would pickle this
class by reference (an import path, pulumi/pulumi#7453), so the host would run
whatever `components/` holds then, or fail where it is not importable.
`__reduce__` ships this module's source instead. It imports only the standard
library and pulumi, and nothing of the project.
"""

from __future__ import annotations

from typing import Any

from pulumi.dynamic import (
    CheckFailure,
    CheckResult,
    CreateResult,
    DiffResult,
    ResourceProvider,
    UpdateResult,
)

MODE = "mode"
ALLOW = "allowModeChange"
POSTGRES = "postgres"
REDIS = "redis"
NAMESPACE = "namespace"
ALLOW_NAMESPACE = "allowNamespaceChange"


def guarded_keys(store: str) -> tuple[str, str]:
    """The recorded key and the override key of `store`'s guard."""
    return (NAMESPACE, ALLOW_NAMESPACE) if store == NAMESPACE else (MODE, ALLOW)


def guard_id(store: str) -> str:
    """The guard's resource id: `postgres-mode`, `redis-mode`, `namespace-guard`."""
    return "namespace-guard" if store == NAMESPACE else f"{store}-mode"


def mode_change_message(old: str, new: str, store: str = POSTGRES) -> str:
    """What a refused change says: what would happen, how to migrate, the override."""
    if store == REDIS:
        return _redis_message(old, new)
    if store == NAMESPACE:
        return _namespace_message(old, new)
    key = f"tims-stack:{store}"
    return (
        f"{key}.mode changes from {old!r} to {new!r} on a live environment: the {new} "
        f"database would start EMPTY, and the {old} one, with all the data, would be "
        "deleted or left behind. To keep it, set the mode back to "
        f"{old!r}. To migrate, dump and restore: (1) stop the writers (scale the backend "
        "Deployment to 0 with kubectl) and dump the old database with `pg_dump -Fc`; keep "
        f"the dump outside the cluster; (2) set {key}.allowModeChange true together with "
        "the new mode and run `pulumi up`; (3) restore the dump with `pg_restore "
        f"--no-owner --no-acl` into the new database; (4) remove {key}.allowModeChange. "
        "docs/production.md ('Changing the mode') has the commands."
    )


def _redis_message(old: str, new: str) -> str:
    # What the app keeps in Redis (tbscode/tims-stack-anystack back/conf/settings.py):
    # REDIS_URL feeds only CHANNEL_LAYERS (channels_redis RedisPubSubChannelLayer, nothing
    # stored); SESSION_ENGINE is Django's default, the database; no Celery app reads it.
    key = "tims-stack:redis"
    left = (
        "The in-cluster Redis is deleted; its volume claim stays in the namespace until destroy. "
        if old == "inCluster"
        else "The managed Redis is not touched. "
    )
    return (
        f"{key}.mode changes from {old!r} to {new!r} on a live environment: the backend "
        f"would move to the {new} Redis during the rollout, and the {old} one would no "
        "longer be used. Lost in the move: whatever the old Redis holds, which for this app "
        "is the chat messages and live notices being relayed to open browser tabs over "
        "WebSockets at that moment (the pages reconnect, but a message sent during the "
        "switch may not arrive). Logins are not lost: sessions are stored in Postgres. "
        f"{left}"
        f"To keep the current Redis, set the mode back to {old!r}. To switch, pick a quiet "
        f"moment, set {key}.allowModeChange true together with the new mode, run "
        f"`pulumi up`, then remove {key}.allowModeChange. docs/production.md ('Managed "
        "Redis') has the steps."
    )


def _namespace_message(old: str, new: str) -> str:
    return (
        f"the namespace changes from {old!r} to {new!r} on a live environment "
        "(tims-stack:namespace, or tims-stack:environment, from which the namespace is "
        f"derived when tims-stack:namespace is unset): `pulumi up` would create a new, EMPTY "
        f"namespace {new!r} and DELETE {old!r} with everything in it: the databases "
        "(Postgres, Redis), their volumes and Secrets. To keep it, set the old value back "
        f"(tims-stack:namespace {old!r}, or the environment you had). To move deliberately: "
        "(1) dump the database with `pg_dump -Fc` and keep the dump outside the cluster; "
        "(2) set tims-stack:allowNamespaceChange true together with the new value and run "
        "`pulumi up`; (3) restore the dump with `pg_restore --no-owner --no-acl` into the "
        "new namespace's database; (4) remove tims-stack:allowNamespaceChange. "
        "docs/config-guide.md ('Changing the namespace or environment') has the steps."
    )


def mode_problem(olds: dict[str, Any], news: dict[str, Any], store: str = POSTGRES) -> str | None:
    """Why `news` may not replace the recorded `olds`, or None."""
    key, allow = guarded_keys(store)
    old, new = olds.get(key), news.get(key)
    if not old or not new or old == new or news.get(allow) is True:
        return None
    return mode_change_message(str(old), str(new), store)


class ModeGuardProvider(ResourceProvider):
    """Records the guarded value of `store`; its `check` is the guard. Talks to nothing."""

    def __init__(self, store: str = POSTGRES) -> None:
        self.store = store

    def check(self, _olds: dict[str, Any], news: dict[str, Any]) -> CheckResult:
        problem = mode_problem(_olds or {}, news, self.store)
        key = guarded_keys(self.store)[0]
        failures = [CheckFailure(key, problem)] if problem is not None else []
        return CheckResult(news, failures)

    def diff(self, _id: str, _olds: dict[str, Any], _news: dict[str, Any]) -> DiffResult:
        keys = guarded_keys(self.store)
        changed = [k for k in keys if (_olds or {}).get(k) != _news.get(k)]
        return DiffResult(changes=bool(changed), replaces=[], delete_before_replace=False)

    def create(self, props: dict[str, Any]) -> CreateResult:
        return CreateResult(guard_id(self.store), self._record(props))

    def update(self, _id: str, _olds: dict[str, Any], _news: dict[str, Any]) -> UpdateResult:
        return UpdateResult(self._record(_news))

    def _record(self, props: dict[str, Any]) -> dict[str, Any]:
        key, allow = guarded_keys(self.store)
        return {key: props.get(key), allow: bool(props.get(allow))}

    def __reduce__(self) -> tuple[Any, ...]:
        from pathlib import Path

        source = Path(__file__).read_text(encoding="utf-8")
        namespace = {"__name__": f"_tims_stack_{self.store}_mode_guard"}
        return (
            eval,
            (
                "exec(_source, _ns) or _ns['ModeGuardProvider'](_store)",
                {
                    "_source": source,
                    "_ns": namespace,
                    "_store": self.store,
                },
            ),
        )
