"""What the official postgres / redis / valkey images need from a pod spec.

The restricted Pod Security Standard wants `runAsNonRoot`, so the pod must
name the image's own numeric user: the images have no `USER` line and
normally start as root, then step down in their entrypoint. The entrypoints
skip that step when already started as a non-root user, so running them
directly as their own uid works. Sources (read for the tags we pin):

- docker-library/postgres `18/alpine3.23/Dockerfile`: `addgroup -g 70 -S
  postgres; adduser -u 70 -S -D -G postgres ...` (lines 12-13), then
  `ENV PGDATA /var/lib/postgresql/18/docker` and `VOLUME /var/lib/postgresql`;
  `18/trixie/Dockerfile`: `groupadd -r postgres --gid=999; useradd -r -g
  postgres --uid=999` (lines 11-13). `docker-entrypoint.sh`: the chown and
  the `exec gosu postgres` step-down only run `if [ "$(id -u)" = '0' ]`.
- redis/docker-library-redis `7.4/alpine/Dockerfile`: `addgroup -S -g 1000
  redis; adduser -S -G redis -u 999 redis` (lines 12-13), `chown redis:redis
  /data`; `7.4/debian/Dockerfile`: `groupadd -r -g 999 redis; useradd -r -g
  redis -u 999 redis` (lines 11-12). `docker-entrypoint.sh` only chowns and
  steps down `if [ "$1" = 'redis-server' -a "$(id -u)" = '0' ]`.
- valkey-io/valkey-container `8.1/alpine/Dockerfile`: uid 999, gid 1000;
  `8.1/debian/Dockerfile`: uid 999, gid 999.
"""

from __future__ import annotations

from dataclasses import dataclass

from components.kube.pods import ImageUser


@dataclass(frozen=True)
class ImageRef:
    """An image reference split into the parts we reason about."""

    repository: str
    tag: str | None

    @property
    def basename(self) -> str:
        """Last path element of the repository, e.g. `postgres` for docker.io/library/postgres."""
        return self.repository.rsplit("/", 1)[-1]

    @property
    def is_alpine(self) -> bool:
        return self.tag is not None and "alpine" in self.tag


def parse_image(image: str) -> ImageRef:
    """Split `registry/path/name:tag@digest` into repository and tag (digest dropped)."""
    without_digest = image.split("@", 1)[0]
    slash = without_digest.rfind("/")
    colon = without_digest.rfind(":")
    if colon > slash:
        return ImageRef(without_digest[:colon], without_digest[colon + 1 :])
    return ImageRef(without_digest, None)


def postgres_user(image: str) -> ImageUser:
    """The `postgres` account of the official image (Alpine: 70, Debian: 999)."""
    return ImageUser(70, 70) if parse_image(image).is_alpine else ImageUser(999, 999)


def redis_user(image: str) -> ImageUser:
    """The `redis`/`valkey` account of the official image (Alpine: 999:1000, Debian: 999:999)."""
    return ImageUser(999, 1000) if parse_image(image).is_alpine else ImageUser(999, 999)


def redis_cli(image: str) -> str:
    """The CLI the image ships: valkey images name it `valkey-cli`."""
    return "valkey-cli" if "valkey" in parse_image(image).basename else "redis-cli"


@dataclass(frozen=True)
class PostgresDataLayout:
    """Where the volume is mounted and where PGDATA lives inside it."""

    major: int
    mount_path: str
    pgdata: str


def postgres_data_layout(major: int) -> PostgresDataLayout:
    """The official image's data layout for a PostgreSQL major version.

    From 18 on the image sets PGDATA=/var/lib/postgresql/<major>/docker and
    declares the volume at /var/lib/postgresql, so a major upgrade can run
    pg_upgrade side by side on one volume. Before 18 the volume is
    /var/lib/postgresql/data; PGDATA goes one level down because a fresh
    filesystem's `lost+found` makes initdb refuse a non-empty directory.
    """
    if major >= 18:
        return PostgresDataLayout(
            major, "/var/lib/postgresql", f"/var/lib/postgresql/{major}/docker"
        )
    return PostgresDataLayout(major, "/var/lib/postgresql/data", "/var/lib/postgresql/data/pgdata")
