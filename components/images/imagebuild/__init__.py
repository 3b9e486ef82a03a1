"""The ImageBuild dynamic provider, one job per module (see docs/imagebuild.md).

- `provider`: the Pulumi CRUD adapter (check, diff, update, create, read, delete).
- `spec`: input validation and the validated `BuildSpec`.
- `runs`: dispatch, correlation, waiting, cancelling and failure detail of a workflow run.
- `registry`: the container registry's own API (token endpoint + manifest HEAD).
- `packages`: the Packages API: find and delete the versions a build owns.
- `actions`: typed views and calls of the GitHub Actions REST endpoints.
- `rest`: the GitHub REST client (retries, rate limits, deadlines, server clock).
- `base`: clock, errors and the token wrapper shared by all of them.
- `shipping`: the source-in-state mechanism that lets `pulumi destroy` run this code.

Every module except this one travels in state (see `shipping`): they import only the
standard library, pulumi.dynamic, httpx, tenacity and each other, relatively.
"""
