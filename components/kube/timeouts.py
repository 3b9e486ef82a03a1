"""Start-up budgets and how long `pulumi up` waits for them: every number in one place.

A pod's startup probe allows it `*_STARTUP_SECONDS` to come up. pulumi-kubernetes
waits 10 minutes by default for a Deployment or StatefulSet to become ready,
and Kubernetes marks a rollout failed after `progressDeadlineSeconds` (default
600). Either one shorter than a start-up budget turns a slow but healthy
start (a backend running long migrations, Postgres replaying WAL) into a red
`up`. So both are derived here from the budget plus a margin for what comes
before the probe even starts: scheduling, volume attach, image pull, init
containers, and the readiness probe after start-up.
"""

from __future__ import annotations

import math

import pulumi

BACKEND_STARTUP_SECONDS = 600
"""Migrations run before the server listens; allow them ten minutes."""
FRONTEND_STARTUP_SECONDS = 300
POSTGRES_STARTUP_SECONDS = 600
"""A first initdb or crash recovery (WAL replay) can take minutes."""
PRE_START_MARGIN_SECONDS = 300
"""Scheduling, volume attach, image pull and init containers, before the probe starts,
plus the readiness probe that follows start-up."""
CNPG_READY_SECONDS = 900
"""How long `up` waits for a CloudNativePG Cluster's Ready condition (components/data/cnpg.py):
a first initdb plus two replicas cloned by pg_basebackup on a small database."""
ROUTE_ACCEPT_SECONDS = 300
"""How long `up` waits for the Gateway to accept an HTTPRoute and resolve its Services."""


JOB_AWAIT_MARGIN_SECONDS = 60
"""`up` waits this much longer than a Job may run (its activeDeadlineSeconds), so the Job's
own deadline fails it first, with Kubernetes' reason in the error."""


def job_await_seconds(deadline_seconds: int) -> int:
    """How long `up` waits for a Job whose activeDeadlineSeconds is `deadline_seconds`."""
    return deadline_seconds + JOB_AWAIT_MARGIN_SECONDS


def await_seconds(startup_seconds: int) -> int:
    """How long a rollout may take: the start-up budget plus the margin before and after it."""
    if startup_seconds < 0:
        raise ValueError(f"a start-up budget cannot be negative, got {startup_seconds}")
    return startup_seconds + PRE_START_MARGIN_SECONDS


def _duration(seconds: int) -> str:
    # Whole minutes, rounded up: the engine parses Go durations, and minutes read well.
    return f"{math.ceil(seconds / 60)}m"


def custom_timeouts(seconds: int) -> pulumi.CustomTimeouts:
    """Create and update wait `seconds` (rounded up to whole minutes); delete keeps its default."""
    duration = _duration(seconds)
    return pulumi.CustomTimeouts(create=duration, update=duration)


def awaiting(opts: pulumi.ResourceOptions, startup_seconds: int) -> pulumi.ResourceOptions:
    """`opts` with customTimeouts that outlast a workload's start-up budget."""
    waiting = custom_timeouts(await_seconds(startup_seconds))
    return pulumi.ResourceOptions.merge(opts, pulumi.ResourceOptions(custom_timeouts=waiting))
