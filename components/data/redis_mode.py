"""The environment's Redis in the configured `redis.mode`, behind the mode guard.

- inCluster: components/data/redis.py, the StatefulSet behind the Service
  `redis-db-svc` (resource names and URNs as before the modes existed).
- external: nothing runs in the cluster: no StatefulSet, Service, claim or
  NetworkPolicy. The backend and the migration Job read the secret
  `tims-stack:redisUrl` as REDIS_URL from the backend's env Secret (they share it).

The app reads one REDIS_URL (tbscode/tims-stack-anystack back/conf/settings.py,
CHANNEL_LAYERS `hosts`); channels_redis 4.0.0 hands it to redis-py's
`ConnectionPool.from_url` (channels_redis/pubsub.py, `RedisSingleShardConnection`),
which takes redis:// and rediss:// (TLS) URLs with a password.

No `redis-db-svc` with external, not even an ExternalName Service. The image's
start script (back/spinup.sh) uses that name only for Celery beat's lock:
`SINGLE_BEAT_REDIS_SERVER="redis://redis-db-svc.$UNIQUE_ID..." single-beat celery
-A back beat &`. It runs in the background and nothing waits for it (no `set -e`);
the image has no Celery app `back`, so beat exits in any mode (the app contract,
"Start-up"). An ExternalName would point a plain, password-less redis:// client at
the managed server, which refuses it anyway, and would write the host, a part of
the secret URL, into a non-Secret object.

`RedisModeGuard` (components/data/store_mode.py) runs the Postgres guard's provider
(components/data/mode_guard.py) for the key `tims-stack:redis`: a mode change without
`redis.allowModeChange` fails its check at preview time, before anything is deleted.
"""

from __future__ import annotations

from dataclasses import dataclass

import pulumi

from components.contracts import ProtectedService, RedisConnection
from components.data.redis import PORT, Redis, RedisArgs
from components.data.store_mode import RedisModeGuard, StoreMode
from stack.config import RedisConfig


@dataclass(frozen=True)
class RedisStoreArgs:
    namespace: pulumi.Input[str]
    environment: str
    config: RedisConfig
    stopped: bool
    url: pulumi.Output[str] | None
    """`tims-stack:redisUrl` (secret); required with mode external."""


@dataclass(frozen=True)
class RedisStore:
    """How the backend reaches Redis, and what NetworkPolicies must protect."""

    connection: RedisConnection
    protected: ProtectedService | None
    """None when Redis does not run in the namespace (external)."""
    resource: pulumi.Resource
    """What to wait for before using Redis (the migration Job): the Redis component, or
    (external) the mode guard's."""

    @property
    def url_output(self) -> pulumi.Output[str]:
        """The `redisUrl` stack output: secret when the URL holds a password."""
        url = pulumi.Output.from_input(self.connection.url)
        return pulumi.Output.secret(url) if self.connection.secret else url


def redis_store(args: RedisStoreArgs) -> RedisStore:
    """Register the guard and the Redis of `args.config.mode`."""
    mode = StoreMode(RedisModeGuard, args.config.mode, args.config.allow_mode_change)
    if args.config.mode == "external":
        if args.url is None:
            raise ValueError("redis.mode external needs tims-stack:redisUrl")
        return RedisStore(RedisConnection(args.url, secret=True), protected=None, resource=mode)
    redis = Redis(
        "redis",
        RedisArgs(
            namespace=args.namespace,
            environment=args.environment,
            config=args.config,
            stopped=args.stopped,
        ),
        pulumi.ResourceOptions(depends_on=[mode.guard]),
    )
    return RedisStore(
        RedisConnection(redis.url),
        protected=ProtectedService(redis.pod_labels, PORT),
        resource=redis,
    )
