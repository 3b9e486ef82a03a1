"""backend_check's --allow-local-state: only for stacks that die with the runner."""

from __future__ import annotations

import pytest

from scripts.backend_check import BackendCheckError, check

LOCAL = {"PULUMI_BACKEND_URL": "file:///tmp/state", "PULUMI_CONFIG_PASSPHRASE": "p"}


def test_a_local_backend_is_still_refused_by_default() -> None:
    with pytest.raises(BackendCheckError, match="file://"):
        check(LOCAL, None)


def test_the_kind_run_may_keep_its_state_on_the_runner() -> None:
    assert check(LOCAL, None, allow_local=True)[0] == "state backend: local file"


def test_a_local_backend_still_needs_a_passphrase() -> None:
    with pytest.raises(BackendCheckError, match="PULUMI_CONFIG_PASSPHRASE"):
        check({"PULUMI_BACKEND_URL": "file:///tmp/state"}, None, allow_local=True)
