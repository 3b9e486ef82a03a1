"""`tims-stack:migrations`: defaults fit the seed image; every field can be set."""

from __future__ import annotations

from tests.config.conftest import PREBUILT, ErrorFn, ParseFn

KEY = "tims-stack:migrations"
SEED_SPINUP_ONCE = [
    # The seed's back/spinup.sh, in order, up to where it starts Celery beat and uvicorn.
    "python3 manage.py migrate",
    "python3 manage.py shell --command 'from core.tools import get_or_create_base_admin; "
    "get_or_create_base_admin()'",
    "python3 manage.py shell --command 'from core.tools import "
    "get_or_create_test_users_and_chats; get_or_create_test_users_and_chats()'",
]


def test_migrations_are_on_by_default_with_the_seed_images_steps(parse: ParseFn) -> None:
    migrations = parse(PREBUILT).migrations
    assert migrations.enabled is True
    assert list(migrations.steps) == SEED_SPINUP_ONCE
    assert (migrations.timeout, migrations.backoff_limit) == (900, 2)


def test_every_migrations_field_can_be_set(parse: ParseFn) -> None:
    migrations = parse(
        {
            **PREBUILT,
            KEY: {
                "enabled": False,
                "steps": ["bin/migrate --all", "bin/seed"],
                "timeout": 120,
                "backoffLimit": 0,
            },
        }
    ).migrations
    assert migrations.enabled is False
    assert migrations.steps == ["bin/migrate --all", "bin/seed"]
    assert (migrations.timeout, migrations.backoff_limit) == (120, 0)


def test_migrations_may_not_be_secret(config_error: ErrorFn) -> None:
    # The steps land in the Job spec in plain text.
    error = config_error({**PREBUILT, KEY: {"enabled": True}}, secret_keys=(KEY,))
    assert KEY in [issue.key for issue in error.issues]
