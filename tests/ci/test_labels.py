"""The label rules: which pull request events deploy or destroy an environment."""

from __future__ import annotations

from pathlib import Path

import pytest

from scripts.labels import LabelRuleError, decide, main, wants_environment


def event(
    action: str,
    *,
    mode: str = "",
    labels: tuple[str, ...] = (),
    label: str | None = None,
    same_repo: bool = True,
) -> tuple[bool, bool]:
    d = decide(mode=mode, action=action, label=label, labels=set(labels), same_repo=same_repo)
    return d.deploy, d.destroy


@pytest.mark.parametrize("action", ["opened", "reopened", "synchronize"])
def test_label_mode_gives_an_unlabelled_pr_no_environment(action: str) -> None:
    assert event(action, mode="label") == (False, False)


@pytest.mark.parametrize("action", ["opened", "reopened", "synchronize"])
def test_label_mode_deploys_a_labelled_pr(action: str) -> None:
    assert event(action, mode="label", labels=("preview",)) == (True, False)


def test_label_mode_closing_an_unlabelled_pr_destroys_nothing() -> None:
    assert event("closed", mode="label", labels=("bug",)) == (False, False)


def test_label_mode_closing_a_labelled_pr_destroys_its_environment() -> None:
    assert event("closed", mode="label", labels=("preview",)) == (False, True)


@pytest.mark.parametrize("mode", ["", "all", "ALL "])
def test_default_mode_deploys_every_pr_and_destroys_on_close(mode: str) -> None:
    assert event("synchronize", mode=mode) == (True, False)
    assert event("closed", mode=mode) == (False, True)


@pytest.mark.parametrize("mode", ["", "label"])
def test_adding_the_preview_label_deploys(mode: str) -> None:
    assert event("labeled", mode=mode, label="preview", labels=("preview",)) == (True, False)


@pytest.mark.parametrize("label", ["keep-running", "bug"])
def test_adding_another_label_changes_nothing(label: str) -> None:
    assert event("labeled", label=label, labels=(label,)) == (False, False)


@pytest.mark.parametrize("action", ["opened", "closed", "labeled"])
def test_fork_prs_never_get_or_lose_an_environment(action: str) -> None:
    assert event(action, label="preview", labels=("preview",), same_repo=False) == (False, False)


def test_unknown_mode_is_refused_naming_the_variable() -> None:
    with pytest.raises(LabelRuleError, match=r"PR_ENVIRONMENTS is 'labels'.*`label`"):
        wants_environment("labels", set())


def test_cli_writes_both_outputs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    output = tmp_path / "out"
    monkeypatch.setenv("GITHUB_OUTPUT", str(output))
    argv = ["--mode", "label", "--action", "closed", "--labels-json", '["preview"]']
    assert main([*argv, "--same-repo", "true"]) == 0
    assert output.read_text() == "deploy=false\ndestroy=true\n"


def test_cli_rejects_a_bad_mode_without_outputs(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    output = tmp_path / "out"
    monkeypatch.setenv("GITHUB_OUTPUT", str(output))
    assert main(["--mode", "sometimes", "--action", "opened", "--same-repo", "true"]) == 2
    assert "::error title=PR environment rules::" in capsys.readouterr().err
    assert not output.exists()
