"""Which hosts get an environment's session cookie, and which origins it trusts for CSRF.

The rules are the application's settings as ../shared/spec/original-stack.md
("Sessions, CSRF and TLS") records them, applied to the env the program
renders. Staging, production and PR environments share one domain: none may
receive another's session cookie or pass its CSRF check.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any
from urllib.parse import urlsplit

import pytest

from scripts.mockrun import run_program
from tests.program.conftest import SCENARIOS
from tests.program.k8s import env_of

DOMAIN = "example.com"
APP_TRUSTED = "https://t1m.me"
"""Hard-coded in the application's settings; not ours to remove."""
USER_ORIGIN = "https://app.example.org"


# ------------------------------------------------------------------ the settings' rules


def _true(value: str) -> bool:
    return value.lower() in ("true", "1", "t")


def session_cookie_domain(env: Mapping[str, str]) -> str | None:
    """SESSION_COOKIE_DOMAIN as the settings compute it; None or "" means host-only."""
    domain: str | None = None  # Django's default
    if env.get("DJANGO_SECRET_KEY", "") != "":
        domain = env.get("SESSION_COOKIE_DOMAIN", "")
    if _true(env.get("DJANGO_DEBUG", "true")):
        domain = None
    return domain


def csrf_trusted_origins(env: Mapping[str, str]) -> list[str]:
    origins = [APP_TRUSTED]
    root_host = env.get("ROOT_HOST", "")
    if root_host != "":
        origins += [f"https://*.{root_host}", f"https://{root_host}"]
    if env.get("EXTRA_TRUSTED_ORIGINS", "") != "":
        origins += env["EXTRA_TRUSTED_ORIGINS"].split(",")
    return origins


def cookie_sent_to(request_host: str, *, set_by: str, domain: str | None) -> bool:
    """RFC 6265: a cookie without Domain goes back to its host only; with one, to it and below."""
    if not domain:
        return request_host == set_by
    scope = domain.lstrip(".").lower()
    return request_host == scope or request_host.endswith("." + scope)


def origin_trusted(origin: str, trusted: list[str]) -> bool:
    """Django's CsrfViewMiddleware: exact origins, or `scheme://*.host` for host and below."""
    if origin in trusted:
        return True
    parts = urlsplit(origin)
    for entry in trusted:
        wanted = urlsplit(entry)
        if wanted.scheme == parts.scheme and wanted.netloc.startswith("*."):
            suffix = wanted.netloc[1:]
            if parts.netloc == suffix[1:] or parts.netloc.endswith(suffix):
                return True
    return False


# ------------------------------------------------------------------ environments


def _environment(stack: str, extra: Mapping[str, Any] | None = None) -> dict[str, str]:
    config = {**SCENARIOS["default"], **(extra or {})}
    return env_of(run_program(config, stack=stack), "backend")


@pytest.fixture(scope="module")
def shared_domain() -> dict[str, dict[str, str]]:
    """Three environments under one domain; production is served on the domain itself."""
    return {
        "staging": _environment("staging"),
        "pr-12": _environment("pr-12"),
        "production": _environment("production", {"tims-stack:host": DOMAIN}),
    }


def host_of(env: Mapping[str, str]) -> str:
    return str(urlsplit(env["ROOT_URL"]).hostname)


def origin_of(env: Mapping[str, str]) -> str:
    parts = urlsplit(env["ROOT_URL"])
    return f"{parts.scheme}://{parts.netloc}"


def test_the_environments_have_hosts_of_their_own(shared_domain: dict[str, Any]) -> None:
    hosts = {name: host_of(env) for name, env in shared_domain.items()}
    assert hosts == {
        "staging": f"backend-staging.{DOMAIN}",
        "pr-12": f"backend-pr-12.{DOMAIN}",
        "production": DOMAIN,
    }


@pytest.mark.parametrize("owner", ["staging", "pr-12", "production"])
def test_a_session_cookie_goes_back_only_to_the_host_that_set_it(
    owner: str, shared_domain: dict[str, dict[str, str]]
) -> None:
    env = shared_domain[owner]
    domain = session_cookie_domain(env)
    receivers = {
        name: cookie_sent_to(host_of(other), set_by=host_of(env), domain=domain)
        for name, other in shared_domain.items()
    }
    assert receivers == {name: name == owner for name in shared_domain}, (
        f"{owner}'s session cookie (Domain={domain!r}) is sent to {receivers}"
    )
    assert not cookie_sent_to(f"anything.{host_of(env)}", set_by=host_of(env), domain=domain)


@pytest.mark.parametrize("owner", ["staging", "pr-12", "production"])
def test_csrf_trusts_the_environments_own_origin_and_no_other(
    owner: str, shared_domain: dict[str, dict[str, str]]
) -> None:
    trusted = csrf_trusted_origins(shared_domain[owner])
    verdicts = {
        name: origin_trusted(origin_of(env), trusted) for name, env in shared_domain.items()
    }
    assert verdicts == {name: name == owner for name in shared_domain}, f"{owner} trusts {trusted}"
    for stranger in (f"https://{DOMAIN}", f"https://evil.{DOMAIN}", "https://backend-pr-99.x.io"):
        if stranger != origin_of(shared_domain[owner]):
            assert not origin_trusted(stranger, trusted), f"{owner} trusts {stranger}"
    assert set(trusted) == {APP_TRUSTED, origin_of(shared_domain[owner])}


def test_the_old_domain_wide_settings_would_fail_these_rules(
    shared_domain: dict[str, dict[str, str]],
) -> None:
    """The model has teeth: `.example.com` cookies and ROOT_HOST=example.com leak."""
    old = {
        **shared_domain["production"],
        "SESSION_COOKIE_DOMAIN": f".{DOMAIN}",
        "ROOT_HOST": DOMAIN,
    }
    pr = host_of(shared_domain["pr-12"])
    assert cookie_sent_to(pr, set_by=DOMAIN, domain=session_cookie_domain(old))
    assert origin_trusted(origin_of(shared_domain["pr-12"]), csrf_trusted_origins(old))


def test_origins_the_user_adds_in_backend_env_are_trusted_too() -> None:
    env = _environment(
        "staging", {"tims-stack:backend": {"env": {"EXTRA_TRUSTED_ORIGINS": USER_ORIGIN}}}
    )
    trusted = csrf_trusted_origins(env)
    assert origin_trusted(USER_ORIGIN, trusted)
    assert origin_trusted(origin_of(env), trusted), "the user's list replaced the own origin"
    assert not origin_trusted(f"https://backend-pr-12.{DOMAIN}", trusted)


def test_without_a_domain_the_cookie_stays_with_the_port_forward_host(
    program_runs: Any,
) -> None:
    env = env_of(program_runs("no-domain"), "backend")
    domain = session_cookie_domain(env)
    assert cookie_sent_to("localhost", set_by="localhost", domain=domain), (
        f"Domain={domain!r}: a browser on a port-forward would drop the session cookie"
    )
    assert not any("*" in origin for origin in csrf_trusted_origins(env))
