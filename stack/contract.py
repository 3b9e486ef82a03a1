"""The config contract's fixed facts: names, defaults, limits, and the image contract's variables.

Pure data, no validation (that is `stack.models`), so every module can import it.
"""

from __future__ import annotations

from stack import naming

PROJECT = naming.PROJECT
NS = f"{PROJECT}:"

DEFAULT_BUILD_INPUTS: dict[str, str] = {
    "ref": "{ref}",
    "sha": "{sha}",
    "tag": "{tag}",
    "environment": "{environment}",
    "correlation_id": "{correlation_id}",
}
"""Default `build.inputs`: workflow input name -> value template, fits templates/github/."""

BUILD_PLACEHOLDERS: tuple[str, ...] = (
    "ref",
    "sha",
    "tag",
    "environment",
    "owner",
    "correlation_id",
)
MAX_WORKFLOW_INPUTS = 25  # GitHub's limit for workflow_dispatch inputs
MAX_BUILD_TIMEOUT = 21600  # seconds; GitHub-hosted jobs are cancelled after 6 hours
DEFAULT_CLUSTER_ISSUER = "letsencrypt-prod"
DEFAULT_GITHUB_API = "https://api.github.com"
DEFAULT_POSTGRES_IMAGE = "postgres:18-alpine"
DEFAULT_REDIS_IMAGE = "redis:7.4-alpine"
GHCR = "ghcr.io"
DEFAULT_MIGRATION_STEPS: tuple[str, ...] = (
    "python3 manage.py migrate",
    "python3 manage.py shell --command 'from core.tools import get_or_create_base_admin; "
    "get_or_create_base_admin()'",
    "python3 manage.py shell --command 'from core.tools import "
    "get_or_create_test_users_and_chats; get_or_create_test_users_and_chats()'",
)
"""The run-once steps of the seed image's spinup.sh: migrate, the admin user, the test users
and chats (everything before it starts Celery beat and uvicorn)."""
MAX_MIGRATION_STEPS = 20
MAX_MIGRATION_TIMEOUT = 86400  # seconds

BACKEND_CONTRACT_ENV: dict[str, str] = {
    "DB_ENGINE": "the database engine the image contract needs",
    "DB_NAME": "the connection to the environment's Postgres",
    "DB_USER": "the connection to the environment's Postgres",
    "DB_PASSWORD": "the generated Postgres password",
    "DB_HOST": "the connection to the environment's Postgres",
    "DB_PORT": "the connection to the environment's Postgres",
    "DB_NO_SSL": "the in-cluster Postgres, which has no TLS",
    "REDIS_URL": "the environment's Redis (its Service, or tims-stack:redisUrl)",
    "DJANGO_SECRET_KEY": "a generated key that must never be a literal",
    "PRODUCTION": "the image's cluster mode",
    "ROOT_URL": "the public (or in-cluster) URL",
    "ROOT_HOST": "empty, so CSRF trusts no https://*.<domain> origin of other environments",
    "SESSION_COOKIE_DOMAIN": "empty, a host-only session cookie no other environment receives",
    "NEXTJS_HOST_URL": "the frontend Service the backend renders pages through",
    "USE_NEXTJS_PROXY_ROUTES": "the server-side rendering mode the routes are built for",
    "UNIQUE_ID": "the namespace, from which the image derives the Redis host",
    "BASE_ADMIN_USERNAME": "the admin account exported as a stack output",
    "BASE_ADMIN_USER_PASSWORD": "a generated password that must never be a literal",
}
"""Backend variables the program sets from the image contract, with the reason; not settable."""

BACKEND_SETTINGS_ENV: tuple[str, ...] = (
    "DJANGO_DEBUG",
    "DJANGO_ALLOWED_HOSTS",
    "EXTRA_TRUSTED_ORIGINS",
)
"""Contract variables that are settings: DJANGO_DEBUG replaces the program's "false",
DJANGO_ALLOWED_HOSTS the default "*"; EXTRA_TRUSTED_ORIGINS is appended to the
environment's own origin (components/app/backend.py, `with_extra_env`)."""

FRONTEND_CONTRACT_ENV: dict[str, str] = {
    "ROOT_URL": "the backend URL browsers use",
    "WEBSOCKET_PROTOCOL": "whether that URL is served over TLS (wss://) or not (ws://)",
}
"""Frontend variables the program sets from the image contract; not settable."""

TOKEN_KEY = "github:token"  # noqa: S105 - a config key name, not a credential
TOKEN_ENV = "GITHUB_TOKEN"  # noqa: S105 - an environment variable name
HOW_TO_SET_TOKEN = (
    f"set it with `pulumi config set --secret {TOKEN_KEY} <token>` or export {TOKEN_ENV}"
)

PASSWORD_KEY = f"{NS}postgresPassword"
"""The external database's password (postgres.mode external); secret only."""
REDIS_URL_KEY = f"{NS}redisUrl"
"""The managed Redis's URL, password included (redis.mode external); secret only."""
SECRET_ONLY_KEYS: tuple[str, ...] = (PASSWORD_KEY, REDIS_URL_KEY)
"""Keys that must be set with --secret: a plain-text value is refused."""
SECRET_ALLOWED_KEYS: tuple[str, ...] = (
    TOKEN_KEY,
    f"{NS}backend",
    f"{NS}frontend",
    *SECRET_ONLY_KEYS,
)
"""Keys whose values the program keeps secret: the token, the app objects whose env
maps go into Kubernetes Secrets, the external database's password and the managed
Redis's URL. Any other key is read as plain text."""


SECRET_PLACEHOLDER = "[secret]"  # noqa: S105 - a marker, not a credential
"""Stands in for an encrypted value that is read offline (render), never decrypted."""
