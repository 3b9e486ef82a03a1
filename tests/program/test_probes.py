"""Readiness asks each application over HTTP, on pages ../shared/spec/original-stack.md names."""

from __future__ import annotations

from scripts.mockrun import ProgramRun
from tests.program.k8s import Runs, containers, obj


def readiness(run: ProgramRun, app: str) -> dict[str, object]:
    (container,) = containers(obj(run, "Deployment", app))
    probe = container["readinessProbe"]
    assert "tcpSocket" not in probe, f"{app}: readiness only checks the port"
    return dict(probe["httpGet"])


def test_backend_readiness_asks_django_for_the_admin_login(default_run: ProgramRun) -> None:
    # "GET /admin/login/ answers 200 whatever the Host"; `/` answers 302 even when pages break.
    probe = readiness(default_run, "backend")
    assert (probe["path"], probe["port"]) == ("/admin/login/", "http")


def test_backend_readiness_sends_the_host_the_environment_serves(program_runs: Runs) -> None:
    # So a DJANGO_ALLOWED_HOSTS narrowed to the environment's host still answers 200.
    headers = readiness(program_runs("default"), "backend")["httpHeaders"]
    assert headers == [{"name": "Host", "value": "backend-dev.example.com"}]
    run = program_runs("no-domain")
    service = obj(run, "Service", "backend")["metadata"]["name"]
    headers = readiness(run, "backend")["httpHeaders"]
    assert headers == [{"name": "Host", "value": f"{service}.tims-stack-dev.svc.cluster.local"}]


def test_frontend_readiness_asks_nextjs_for_a_page(default_run: ProgramRun) -> None:
    probe = readiness(default_run, "frontend")
    assert (probe["path"], probe["port"]) == ("/login/", "http")
    assert "httpHeaders" not in probe


def test_liveness_stays_a_port_check(default_run: ProgramRun) -> None:
    # A slow page must not get a busy pod killed.
    for app in ("backend", "frontend"):
        (container,) = containers(obj(default_run, "Deployment", app))
        assert container["livenessProbe"]["tcpSocket"]["port"] == "http", app
