"""Secure `backend.env`/`frontend.env` values stay secret wherever the program uses them.

The scenario tests scan every resource for the fake passwords and token; this
one adds secure app environments (`pulumi config set --secret --path
backend.env.X`), the keys `EXTRA_TRUSTED_ORIGINS` and `DJANGO_ALLOWED_HOSTS`
that the program merges with its own values, the migration Job and autoscaling
(HPA, PDB), on each Postgres mode.
"""

from __future__ import annotations

from typing import Any

import pytest

from scripts.mockrun import SECRET_MARK, ProgramRun, plaintext, run_program
from tests.program.conftest import _BUILD, CNPG, EXTERNAL_DB, SECRET_KEYS
from tests.program.k8s import ident, objects, strings

# In lower case, as a host name is written: the leak checks fold case.
_ORIGIN = f"https://{SECRET_MARK.lower()}-origin.example.org"
_SECURE_APPS: dict[str, Any] = {
    "tims-stack:backend": {
        "autoscaling": {"min": 2, "max": 6, "cpu": 70, "memory": 80},
        "env": {
            "EXTRA_TRUSTED_ORIGINS": _ORIGIN,
            "DJANGO_ALLOWED_HOSTS": f"{SECRET_MARK}-allowed-host",
            "API_KEY": f"{SECRET_MARK}-api-key",
        },
    },
    "tims-stack:frontend": {
        "autoscaling": {"min": 2, "max": 4},
        "env": {"ANALYTICS_KEY": f"{SECRET_MARK}-analytics-key"},
    },
    "tims-stack:migrations": {"enabled": True},
}
_MODES: dict[str, dict[str, Any]] = {
    "statefulset": {},
    "external": EXTERNAL_DB,
    "cloudnativepg": CNPG,
}


def _leaks(value: Any) -> list[str]:
    return [s for s in strings(value) if SECRET_MARK.lower() in s.lower()]


@pytest.fixture(scope="module", params=sorted(_MODES))
def secure_env_run(request: pytest.FixtureRequest) -> ProgramRun:
    raw = {**_BUILD, **_MODES[str(request.param)], **_SECURE_APPS}
    secret_keys = SECRET_KEYS | {"tims-stack:backend", "tims-stack:frontend"}
    run = run_program(raw, secret_keys=secret_keys)
    if run.error is not None:
        raise run.error
    return run


def test_the_scenario_registers_every_object_a_secure_env_could_reach(
    secure_env_run: ProgramRun,
) -> None:
    kinds = {o["kind"] for o in objects(secure_env_run)}
    missing = {"Job", "HorizontalPodAutoscaler", "PodDisruptionBudget", "Deployment"} - kinds
    assert not missing, f"the secure-env scenario registers no {sorted(missing)}: scan incomplete"


def test_no_secure_env_value_is_stored_unencrypted(secure_env_run: ProgramRun) -> None:
    for r in secure_env_run.resources:
        leaked = _leaks(plaintext(r.inputs)) + _leaks(plaintext(r.outputs))
        assert leaked == [], f"{r.type} {r.name}: plaintext secure env value {leaked}"
    assert _leaks(secure_env_run.plaintext_outputs()) == [], "stack outputs"


def test_secure_env_values_reach_kubernetes_only_in_secrets(secure_env_run: ProgramRun) -> None:
    for o in objects(secure_env_run):
        if o["kind"] != "Secret":
            assert _leaks(o) == [], f"{ident(o)} holds a secure env value"


def test_no_secure_env_value_is_logged(secure_env_run: ProgramRun) -> None:
    assert _leaks(secure_env_run.logs) == [], "the program logged a secure env value"
