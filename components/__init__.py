"""The parts of one environment, grouped by what a reader looks for.

- `app/`: the backend, the frontend and the migration Job; their Deployments,
  Services, autoscaling.
- `data/`: Postgres (in-cluster, CloudNativePG or external) and Redis, with their
  volumes and the mode guard.
- `network/`: the public route (Ingress or HTTPRoute) and the NetworkPolicies.
- `images/`: which images run, the `ImageBuild` resource and its provider, and the
  registry pull secret.
- `kube/`: the namespace and the pod, label and timeout helpers every group uses.
- `contracts.py`: the types one group hands another (the database connection,
  a protected service).
"""
