"""What a render leaves in its output directory, on success and on every kind of failure."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest

from scripts import render as render_module
from scripts.render import FAILED_MARKER, main, render
from stack.config import ConfigError
from tests.render.conftest import ENV, EXAMPLE


def manifests(out: Path) -> list[Path]:
    return sorted(out.glob("[0-9][0-9]-*.yaml"))


@pytest.fixture
def bad_stack_file(tmp_path: Path) -> Path:
    bad = tmp_path / "Pulumi.bad.yaml"
    bad.write_text("config:\n  tims-stack:backend:\n    replicas: -3\n")
    return bad


@pytest.fixture
def rendered(tmp_path: Path) -> Path:
    """An output directory holding a successful render of the example."""
    out = tmp_path / "out"
    render(ENV, EXAMPLE, out)
    assert manifests(out)
    return out


def test_success_leaves_no_failure_marker(rendered: Path) -> None:
    assert not (rendered / FAILED_MARKER).exists()


def test_config_error_removes_the_previous_render(rendered: Path, bad_stack_file: Path) -> None:
    with pytest.raises(ConfigError):
        render(ENV, bad_stack_file, rendered)
    assert manifests(rendered) == [], "an older render must not look current"
    marker = (rendered / FAILED_MARKER).read_text()
    assert "tims-stack:backend.replicas" in marker


def test_config_error_keeps_files_that_are_not_renders(
    rendered: Path, bad_stack_file: Path
) -> None:
    mine = rendered / "notes.txt"
    mine.write_text("mine")
    with pytest.raises(ConfigError):
        render(ENV, bad_stack_file, rendered)
    assert mine.read_text() == "mine"


def test_a_later_success_removes_the_failure_marker(rendered: Path, bad_stack_file: Path) -> None:
    with pytest.raises(ConfigError):
        render(ENV, bad_stack_file, rendered)
    render(ENV, EXAMPLE, rendered)
    assert not (rendered / FAILED_MARKER).exists()
    assert manifests(rendered)


def test_unexpected_error_removes_the_previous_render(
    rendered: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def boom(*_: Any) -> Any:
        raise RuntimeError("MOCKSECRET may be in here")

    monkeypatch.setattr(render_module, "run_offline", boom)
    with pytest.raises(RuntimeError):
        render(ENV, EXAMPLE, rendered)
    assert manifests(rendered) == []
    marker = (rendered / FAILED_MARKER).read_text()
    assert "RuntimeError" in marker
    assert "MOCKSECRET" not in marker, "an unexpected error's text is not copied"


def test_schema_problems_keep_the_new_files_marked_failed(
    rendered: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    before = {p.name for p in manifests(rendered)}
    original = render_module.manifest

    def broken(resource: Any, run: Any) -> dict[str, Any]:
        obj = original(resource, run)
        if obj["kind"] == "Namespace":
            obj["metadata"]["name"] = "Not_A_Name"
            obj["spec"] = {"colour": "blue"}
        return obj

    monkeypatch.setattr(render_module, "manifest", broken)
    result = render(ENV, EXAMPLE, rendered)
    assert result.problems
    assert (rendered / FAILED_MARKER).is_file()
    assert "schema problems" in (rendered / FAILED_MARKER).read_text()
    after = {p.name for p in manifests(rendered)}
    assert "01-namespace-Not_A_Name.yaml" in after
    assert not any("-namespace-" in n for n in before & after), "the old Namespace file is gone"


def test_an_interrupted_install_leaves_the_marker(
    rendered: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls: list[Any] = []
    real_replace = os.replace

    def replace_once(src: Any, dst: Any) -> None:
        if calls:
            raise OSError("disk full")
        calls.append(src)
        real_replace(src, dst)

    monkeypatch.setattr(os, "replace", replace_once)
    with pytest.raises(OSError, match="disk full"):
        render(ENV, EXAMPLE, rendered)
    assert (rendered / FAILED_MARKER).is_file(), "a half-written render must say so"
    assert len(manifests(rendered)) == 0, "and the failure handler clears what was moved"


def test_no_staging_directory_is_left_behind(rendered: Path) -> None:
    assert [p.name for p in rendered.parent.iterdir()] == ["out"]


def test_missing_stack_file_is_named_when_render_fails(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    env = "no-such-env"
    assert main(["--env", env, "--out", str(tmp_path / "out")]) == 2
    err = capsys.readouterr().err
    assert f"Pulumi.{env}.yaml does not exist" in err
    assert f"Pulumi.{env}.yaml does not exist" in (tmp_path / "out" / FAILED_MARKER).read_text()


def test_missing_stack_file_is_named_when_render_succeeds(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from stack.stackfile import raw_config_for_stack

    example = raw_config_for_stack(EXAMPLE, render_module.PROJECT_FILE)
    monkeypatch.setattr(render_module, "raw_config_from_project_file", lambda _: example)
    result = render("no-such-env", None, tmp_path / "out")
    assert any("Pulumi.no-such-env.yaml does not exist" in n for n in result.notes)


def test_an_explicit_config_file_gets_no_missing_file_note(
    tmp_path: Path, bad_stack_file: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["--env", "bad", "--config", str(bad_stack_file), "--out", str(tmp_path)]) == 2
    assert "does not exist" not in capsys.readouterr().err
