"""The classifier of `pulumi preview --json` digests: what loses data, what changes."""

from __future__ import annotations

import pytest

from scripts.preview_digest import (
    DigestError,
    changed_steps,
    parse,
    stateful_changes,
    steps_table,
    urn_type_and_name,
)
from tests.ci.long_lived.conftest import (
    STACK_TYPE,
    digest,
    postgres_replacement,
    refreshed,
    step,
)

CNPG = "tims-stack:k8s:CnpgCluster$kubernetes:postgresql.cnpg.io/v1:Cluster"
PVC = "kubernetes:core/v1:PersistentVolumeClaim"
NAMESPACE = "tims-stack:k8s:Namespace$kubernetes:core/v1:Namespace"
DEPLOYMENT = "tims-stack:k8s:Backend$kubernetes:apps/v1:Deployment"
GUARD = "tims-stack:k8s:PostgresMode$pulumi-python:dynamic/tims-stack:PostgresModeGuard"


@pytest.mark.parametrize("show_replacement_steps", [False, True])
def test_a_replacement_is_one_stateful_change_with_its_reasons(
    show_replacement_steps: bool,
) -> None:
    steps = postgres_replacement(show_replacement_steps=show_replacement_steps)
    changes = stateful_changes(digest(*steps))
    assert [(c.op, c.name, c.reasons) for c in changes] == [
        ("replace", "postgres", ("spec.volumeClaimTemplates",))
    ]


def test_a_replacement_shown_only_by_its_hidden_steps_is_still_flagged() -> None:
    # Without the logical step (a digest cut short, or another display), the
    # create-replacement and delete-replaced steps alone still mean a replacement.
    hidden = [s for s in postgres_replacement(show_replacement_steps=True) if s["op"] != "replace"]
    assert [(c.op, c.name) for c in stateful_changes(digest(*hidden))] == [("replace", "postgres")]


def test_a_replacement_beside_a_pending_delete_of_the_same_resource_stays_a_replacement() -> None:
    # A copy left pending deletion by an earlier failed update is deleted under the same
    # URN as the resource being replaced (deploy.NewDeleteStep of a `Delete` state).
    steps = [*postgres_replacement(), step("delete", STACK_TYPE, "postgres")]
    assert [(c.op, c.name) for c in stateful_changes(digest(*steps))] == [("replace", "postgres")]


@pytest.mark.parametrize(
    ("qualified", "name"),
    [
        (CNPG, "postgres"),
        (PVC, "data-postgres-0"),
        (NAMESPACE, "namespace"),
        (GUARD, "postgres-mode"),
    ],
)
def test_deleting_a_stateful_resource_is_flagged(qualified: str, name: str) -> None:
    changes = stateful_changes(digest(step("delete", qualified, name)))
    assert [(c.op, c.name) for c in changes] == [("delete", name)], qualified


@pytest.mark.parametrize("op", ["update", "create", "same", "read", "refresh", "discard"])
def test_other_ops_on_a_statefulset_are_not_flagged(op: str) -> None:
    assert stateful_changes(digest(step(op, STACK_TYPE, "postgres"))) == [], op


def test_replacing_a_stateless_deployment_is_not_flagged() -> None:
    assert stateful_changes(digest(step("replace", DEPLOYMENT, "backend"))) == []


def test_the_type_of_the_state_wins_over_the_urn() -> None:
    entry = step("delete", "tims-stack:k8s:Thing$kubernetes:core/v1:ConfigMap", "x")
    entry["oldState"] = {"type": "kubernetes:core/v1:PersistentVolumeClaim"}
    assert [c.type for c in stateful_changes(digest(entry))] == [PVC]


def test_the_urn_gives_the_last_type_of_the_parent_chain_and_the_name() -> None:
    urn = (
        "urn:pulumi:prod::tims-stack::tims-stack:k8s:Postgres$kubernetes:apps/v1:StatefulSet::pg::x"
    )
    assert urn_type_and_name(urn) == ("kubernetes:apps/v1:StatefulSet", "pg::x")


def test_a_step_without_a_urn_is_an_error() -> None:
    with pytest.raises(DigestError, match="no urn"):
        changed_steps({"steps": [{"op": "create"}]})


def test_a_step_without_a_urn_is_reported_without_its_values() -> None:
    """The error goes into the PR comment and the drift issue: names only, never values."""
    entry = {"op": "update", "newState": {"inputs": {"stringData": {"K": "s3cr3t-value"}}}}
    with pytest.raises(DigestError) as caught:
        changed_steps({"steps": [step("same", DEPLOYMENT, "a"), entry]})
    assert "s3cr3t" not in str(caught.value), f"the step's values are quoted: {caught.value}"
    assert "step 2" in str(caught.value), f"the step is not named by its place: {caught.value}"


def test_output_that_is_not_a_json_object_is_an_error() -> None:
    with pytest.raises(DigestError, match="no JSON digest"):
        parse("error: could not load plugin")


def test_changed_steps_skip_what_the_engine_does_not_count() -> None:
    changed = changed_steps(
        digest(step("same", DEPLOYMENT, "a"), step("read", PVC, "b"), *postgres_replacement())
    )
    assert [(s.op, s.name) for s in changed] == [("replace", "postgres")]


def test_changed_steps_repeat_no_urn_and_op() -> None:
    twice = step("update", DEPLOYMENT, "backend")
    assert [s.name for s in changed_steps(digest(twice, dict(twice)))] == ["backend"]


def test_a_refresh_lists_only_what_it_found_changed() -> None:
    drifted = step("update", DEPLOYMENT, "backend", diffReasons=["spec.replicas"])
    changed = changed_steps(digest(refreshed("postgres"), drifted, refreshed("redis")))
    assert [(s.op, s.name) for s in changed] == [("update", "backend")]


def test_the_table_names_properties_but_never_their_values() -> None:
    entry = step("update", DEPLOYMENT, "backend", diffReasons=["spec.template"])
    entry["newState"] = {"type": "kubernetes:apps/v1:Deployment", "inputs": {"k": "s3cr3t"}}
    table = "\n".join(steps_table(changed_steps(digest(entry))))
    assert "spec.template" in table
    assert "s3cr3t" not in table


def test_a_long_table_is_cut_and_says_how_many_more() -> None:
    many = [step("create", DEPLOYMENT, f"d{n}") for n in range(5)]
    lines = steps_table(changed_steps(digest(*many)), limit=2)
    assert lines[-1].startswith("| ... | 3 more")
