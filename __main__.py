"""Tim's Stack: one environment per Pulumi stack. Wiring only; the parts live in components/."""

from __future__ import annotations

import pulumi

from components.app.backend import Backend, BackendArgs, public_endpoint
from components.app.frontend import Frontend, FrontendArgs
from components.app.services import BACKEND, FRONTEND, AppService, AppServiceArgs
from components.data.database import DatabaseArgs, database
from components.data.redis_mode import RedisStoreArgs, redis_store
from components.data.store_mode import NamespaceName
from components.images.app_images import AppImages, AppImagesArgs
from components.images.names import image_registries, registry_owner
from components.images.pull_secret import RegistryPullSecret, RegistryPullSecretArgs
from components.kube.namespace import Namespace, NamespaceArgs
from components.network.policies import NetworkPolicies, NetworkPoliciesArgs
from components.network.routing import RouteTarget, Routing, RoutingArgs
from stack.config import is_secure, load_config

# First, before any resource: a bad configuration raises here with every problem listed.
config, secrets = load_config()
env = config.environment


namespace_guard = NamespaceName(config.namespace, config.allow_namespace_change).guard
namespace = Namespace(
    "namespace", NamespaceArgs(name=config.namespace, environment=env, guard=namespace_guard)
)
ns = namespace.name

pull_secret: pulumi.Output[str] | None = None
if config.images.private:
    pull_secret = RegistryPullSecret(
        "ghcr-pull",
        RegistryPullSecretArgs(
            namespace=ns,
            environment=env,
            owner=registry_owner(config),
            token=secrets.require_github_token(),
            registries=image_registries(config.images),
        ),
    ).name

images = AppImages(
    "images",
    AppImagesArgs(
        environment=env,
        images=config.images,
        build=config.build,
        github=config.github,
        token=secrets.github_token,
    ),
)
backend_image, frontend_image = images.backend, images.frontend

public = public_endpoint(config.public_url, config.host, config.domain)

postgres = database(
    DatabaseArgs(
        namespace=ns,
        environment=env,
        config=config.postgres,
        stopped=config.stopped,
        password=secrets.postgres_password,
    )
)
redis = redis_store(
    RedisStoreArgs(
        namespace=ns,
        environment=env,
        config=config.redis,
        stopped=config.stopped,
        url=secrets.redis_url,
    )
)
backend_service = AppService("backend", AppServiceArgs(namespace=ns, environment=env, part=BACKEND))
frontend_service = AppService(
    "frontend", AppServiceArgs(namespace=ns, environment=env, part=FRONTEND)
)
backend_url: pulumi.Input[str] = public.url if public else backend_service.url

backend = Backend(
    "backend",
    BackendArgs(
        namespace=ns,
        environment=env,
        config=config.backend,
        image=backend_image,
        stopped=config.stopped,
        run_as_non_root=config.run_as_non_root,
        service_host=backend_service.host,
        service_url=backend_service.url,
        public=public,
        frontend_url=frontend_service.url,
        database=postgres.connection,
        redis=redis.connection,
        pull_secret=pull_secret,
        env_is_secret=is_secure("tims-stack:backend"),
        migrations=config.migrations,
        migrations_after=[postgres.resource, redis.resource],
    ),
)
Frontend(
    "frontend",
    FrontendArgs(
        namespace=ns,
        environment=env,
        config=config.frontend,
        image=frontend_image,
        stopped=config.stopped,
        run_as_non_root=config.run_as_non_root,
        root_url=backend_url,
        secure=public is not None and config.tls,
        pull_secret=pull_secret,
        env_is_secret=is_secure("tims-stack:frontend"),
    ),
)
if public is not None:
    Routing(
        "routing",
        RoutingArgs(
            namespace=ns,
            environment=env,
            host=public.host,
            routing=config.routing,
            tls=config.tls,
            cluster_issuer=config.cluster_issuer,
            backend=RouteTarget(service_name=backend_service.name, port=backend_service.port),
            frontend=RouteTarget(service_name=frontend_service.name, port=frontend_service.port),
        ),
    )
NetworkPolicies(
    "network-policies",
    NetworkPoliciesArgs(
        namespace=ns,
        environment=env,
        client_pod_labels=backend.pod_labels,
        extra_client_pod_labels=[backend.migration_pod_labels],
        protected={
            # No policy for an external store: nothing of it runs here.
            **({"postgres": postgres.protected} if postgres.protected is not None else {}),
            **({"redis": redis.protected} if redis.protected is not None else {}),
        },
    ),
)

pulumi.export("namespace", ns)
pulumi.export("url", backend_url)
pulumi.export("backendImage", backend_image)
pulumi.export("frontendImage", frontend_image)
pulumi.export("postgresHost", postgres.host)
pulumi.export("redisUrl", redis.url_output)
pulumi.export("adminUser", backend.admin_user)
pulumi.export("adminPassword", pulumi.Output.secret(backend.admin_password))
if backend.migration_logs is not None:
    pulumi.export("migrationLogs", backend.migration_logs)
if images.run_url is not None:
    pulumi.export("runUrl", images.run_url)
