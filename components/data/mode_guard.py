"""The dynamic provider behind `PostgresModeGuard`: refuses a postgres.mode change.

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
GUARD_ID = "postgres-mode"
_KEY = "tims-stack:postgres"


def mode_change_message(old: str, new: str) -> str:
    """What a refused change says: what would happen, how to migrate, the override."""
    return (
        f"{_KEY}.mode changes from {old!r} to {new!r} on a live environment: the {new} "
        f"database would start EMPTY, and the {old} one, with all the data, would be "
        "deleted or left behind. To keep it, set the mode back to "
        f"{old!r}. To migrate, dump and restore: (1) stop the writers (scale the backend "
        "Deployment to 0 with kubectl) and dump the old database with `pg_dump -Fc`; keep "
        f"the dump outside the cluster; (2) set {_KEY}.allowModeChange true together with "
        "the new mode and run `pulumi up`; (3) restore the dump with `pg_restore "
        f"--no-owner --no-acl` into the new database; (4) remove {_KEY}.allowModeChange. "
        "docs/production.md ('Changing the mode') has the commands."
    )


def mode_problem(olds: dict[str, Any], news: dict[str, Any]) -> str | None:
    """Why `news` may not replace the recorded `olds`, or None."""
    old, new = olds.get(MODE), news.get(MODE)
    if not old or not new or old == new or news.get(ALLOW) is True:
        return None
    return mode_change_message(str(old), str(new))


class ModeGuardProvider(ResourceProvider):
    """Records the mode; its `check` is the guard. Never talks to anything."""

    def check(self, _olds: dict[str, Any], news: dict[str, Any]) -> CheckResult:
        problem = mode_problem(_olds or {}, news)
        failures = [CheckFailure(MODE, problem)] if problem is not None else []
        return CheckResult(news, failures)

    def diff(self, _id: str, _olds: dict[str, Any], _news: dict[str, Any]) -> DiffResult:
        changed = [k for k in (MODE, ALLOW) if (_olds or {}).get(k) != _news.get(k)]
        return DiffResult(changes=bool(changed), replaces=[], delete_before_replace=False)

    def create(self, props: dict[str, Any]) -> CreateResult:
        return CreateResult(GUARD_ID, {MODE: props.get(MODE), ALLOW: bool(props.get(ALLOW))})

    def update(self, _id: str, _olds: dict[str, Any], _news: dict[str, Any]) -> UpdateResult:
        return UpdateResult({MODE: _news.get(MODE), ALLOW: bool(_news.get(ALLOW))})

    def __reduce__(self) -> tuple[Any, ...]:
        from pathlib import Path

        source = Path(__file__).read_text(encoding="utf-8")
        namespace = {"__name__": "_tims_stack_postgres_mode_guard"}
        return (
            eval,
            (
                "exec(_source, _ns) or _ns['ModeGuardProvider']()",
                {
                    "_source": source,
                    "_ns": namespace,
                },
            ),
        )
