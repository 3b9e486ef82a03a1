"""Rules between fields are reported in the same pass as a sibling field's error.

pydantic skips an "after" model validator when any field failed; the rules use
`stack.fields.cross_field`, which runs them unless a field they read failed.
"""

from __future__ import annotations

from typing import Any

import pytest

from tests.config.conftest import PREBUILT, ErrorFn

NS = "tims-stack:"
EXTERNAL = {"host": "db.example.com", "database": "tims", "user": "tims"}

ONE_PASS: dict[str, tuple[dict[str, Any], str, str]] = {
    "autoscaling-max-below-min": (
        {NS + "backend": {"autoscaling": {"min": 3, "max": 2, "cpu": 0}}},
        NS + "backend.autoscaling.cpu",
        NS + "backend.autoscaling.max",
    ),
    "postgres-external-missing": (
        {NS + "postgres": {"mode": "external", "storage": "0"}},
        NS + "postgres.storage",
        NS + "postgres.external",
    ),
    "postgres-external-with-other-mode": (
        {NS + "postgres": {"external": EXTERNAL, "image": "mysql:8"}},
        NS + "postgres.image",
        NS + "postgres.external",
    ),
    "routing-gateway-missing": (
        {NS + "routing": {"kind": "gateway", "sectionName": "BAD_"}},
        NS + "routing.sectionName",
        NS + "routing.gateway",
    ),
}


@pytest.mark.parametrize("case", ONE_PASS.values(), ids=ONE_PASS.keys())
def test_a_rule_is_reported_next_to_a_sibling_fields_error(
    config_error: ErrorFn, case: tuple[dict[str, Any], str, str]
) -> None:
    values, sibling, rule = case
    error = config_error({**PREBUILT, **values})
    keys = [issue.key for issue in error.issues]
    assert sibling in keys, f"no issue for {sibling}: {error.issues}"
    assert rule in keys, f"the rule at {rule} waits for a second run: {error.issues}"


def test_a_rule_whose_own_field_failed_is_not_run(config_error: ErrorFn) -> None:
    """kind 'nginx' fails: judging gateway against the default kind would mislead."""
    error = config_error({**PREBUILT, NS + "routing": {"kind": "nginx", "gateway": "shared"}})
    assert [issue.key for issue in error.issues] == [NS + "routing.kind"], f"{error.issues}"


def test_a_rule_on_a_secret_app_shows_no_value(config_error: ErrorFn) -> None:
    backend = {"replicas": "hunter2-secret-replicas", "autoscaling": {"min": 3, "max": 2}}
    error = config_error({**PREBUILT, NS + "backend": backend}, secret_keys=(NS + "backend",))
    keys = [issue.key for issue in error.issues]
    assert NS + "backend.autoscaling.max" in keys, f"{error.issues}"
    assert "hunter2" not in str(error), f"a secret value shows: {error}"
