"""Every Kubernetes object against the Kubernetes JSON schema; the HTTPRoute against its CRD."""

from __future__ import annotations

import re
from typing import Any

import jsonschema
import pytest

from scripts.mockrun import ProgramRun
from tests.program.k8s import NEWEST, OLDEST, objects, validate_core_objects

_DURATION_PART = re.compile(r"([0-9]{1,5})(ms|h|m|s)")
_UNIT_SECONDS = {"h": 3600.0, "m": 60.0, "s": 1.0, "ms": 0.001}


def gateway_duration(value: str) -> float:
    """Seconds in a Gateway API duration (GEP-2257), e.g. "1h30m" -> 5400."""
    return sum(float(n) * _UNIT_SECONDS[unit] for n, unit in _DURATION_PART.findall(value))


@pytest.mark.parametrize("version", [OLDEST, NEWEST])
def test_every_core_object_is_valid_kubernetes(scenario_run: ProgramRun, version: str) -> None:
    checked = validate_core_objects(objects(scenario_run), version, skip_kinds=["HTTPRoute"])
    assert checked >= 12, "the program should make at least a dozen core objects"


def test_newest_schema_version_is_newer_than_the_oldest() -> None:
    assert tuple(map(int, NEWEST.split(".")[:2])) > (1, 30)


def test_httproute_is_valid_against_the_gateway_api_crd(
    program_runs: Any, httproute_schema: dict[str, Any]
) -> None:
    (route,) = objects(program_runs("gateway"), "HTTPRoute")
    jsonschema.validate(route, httproute_schema)


def test_httproute_meets_the_crds_cel_rules(program_runs: Any) -> None:
    """jsonschema skips x-kubernetes-validations; check the ones our route can touch."""
    (route,) = objects(program_runs("gateway"), "HTTPRoute")
    for rule in route["spec"]["rules"]:
        timeouts = rule["timeouts"]
        request = gateway_duration(timeouts["request"])
        assert request == 0 or gateway_duration(timeouts["backendRequest"]) <= request, (
            "backendRequest timeout cannot be longer than request timeout"
        )
        for match in rule["matches"]:
            value = match["path"]["value"]
            assert value.startswith("/"), value
            assert "//" not in value, value
            assert "/./" not in value, value
            assert re.fullmatch(r"(?:[-A-Za-z0-9/._~!$&'()*+,;=:@]|%[0-9a-fA-F]{2})+", value)
        for ref in rule["backendRefs"]:
            assert "port" in ref, "Must have port for Service reference"


def test_crd_schema_rejects_a_broken_route(httproute_schema: dict[str, Any]) -> None:
    """The schema check has teeth: a route with a bad path type is rejected."""
    route = {
        "apiVersion": "gateway.networking.k8s.io/v1",
        "kind": "HTTPRoute",
        "metadata": {"name": "x", "namespace": "y"},
        "spec": {"rules": [{"matches": [{"path": {"type": "Prefix", "value": "/"}}]}]},
    }
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(route, httproute_schema)


def test_gateway_duration_parses_compound_values() -> None:
    assert gateway_duration("1h30m") == 5400
    assert gateway_duration("3600s") == 3600
    assert gateway_duration("500ms") == 0.5
