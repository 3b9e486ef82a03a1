"""`make setup` and the targets that need its venv, run with real `make` on a scratch copy."""

from __future__ import annotations

import re

import pytest

from tests.conftest import REPO_ROOT
from tests.setup.conftest import Project

SUPPORTED = "3.11.7 /opt/python3.11"
OTHER_SUPPORTED = "3.12.1 /opt/python3.12"


@pytest.mark.parametrize("identity", ["3.10.13 /opt/python3.10", "3.15.0 /opt/python3.15"])
def test_setup_refuses_an_unsupported_python(project: Project, identity: str) -> None:
    python = project.python(identity)
    result = project.make("setup", f"PYTHON={python}")
    assert result.returncode == 2
    version = identity.split()[0].rsplit(".", 1)[0]
    assert f"is Python {version}" in result.stderr
    assert "need Python 3.11 to 3.14" in result.stderr
    assert not (project.root / "venv").exists(), "nothing installed with it"


def test_setup_refuses_a_python_that_does_not_run(project: Project) -> None:
    result = project.make("setup", "PYTHON=/no/such/python3")
    assert result.returncode == 2
    assert "cannot run '/no/such/python3' as Python" in result.stderr


def test_setup_creates_the_venv_and_installs_the_pins(project: Project) -> None:
    python = project.python(SUPPORTED)
    result = project.make("setup", f"PYTHON={python}")
    assert result.returncode == 0, result.stderr
    assert f"{python} -m venv venv" in result.calls
    assert "venv/bin/python -m pip install --quiet -c constraints.txt -r requirements-dev.txt" in (
        result.calls
    )
    assert (project.root / "venv/bin/python.identity").read_text().strip() == SUPPORTED


def test_setup_keeps_a_venv_the_same_python_made(project: Project) -> None:
    venv = project.venv(SUPPORTED)
    (venv / "kept").write_text("")
    python = project.python(SUPPORTED)
    result = project.make("setup", f"PYTHON={python}")
    assert result.returncode == 0, result.stderr
    assert not [c for c in result.calls if " -m venv " in c]
    assert (venv / "kept").exists()


def test_setup_rebuilds_a_venv_another_python_made(project: Project) -> None:
    venv = project.venv(OTHER_SUPPORTED)
    (venv / "stale").write_text("")
    python = project.python(SUPPORTED)
    result = project.make("setup", f"PYTHON={python}")
    assert result.returncode == 0, result.stderr
    assert "was made by Python 3.12 /opt/python3.12" in result.stdout
    assert "rebuilding it" in result.stdout
    assert not (venv / "stale").exists()
    assert (venv / "bin/python.identity").read_text().strip() == SUPPORTED


def test_setup_rebuilds_a_venv_whose_python_no_longer_runs(project: Project) -> None:
    venv = project.venv(SUPPORTED)
    (venv / "bin/python").unlink()
    (venv / "bin/python").symlink_to("/no/such/python3.11")
    python = project.python(SUPPORTED)
    result = project.make("setup", f"PYTHON={python}")
    assert result.returncode == 0, result.stderr
    assert "a Python that no longer runs" in result.stdout
    assert (venv / "bin/python.identity").is_file()


def test_setup_replaces_a_venv_symlink_without_touching_its_target(project: Project) -> None:
    shared = project.root.parent / "shared-venv"
    other = project.venv(OTHER_SUPPORTED)
    other.rename(shared)
    (project.root / "venv").symlink_to(shared)
    python = project.python(SUPPORTED)
    result = project.make("setup", f"PYTHON={python}")
    assert result.returncode == 0, result.stderr
    assert not (project.root / "venv").is_symlink()
    assert (shared / "bin/python.identity").read_text().strip() == OTHER_SUPPORTED


VENV_TARGETS = [
    ["test"],
    ["lint"],
    ["typecheck"],
    ["bench"],
    ["render", "ENV=dev"],
    ["preview", "ENV=dev"],
    ["up", "ENV=dev"],
    ["destroy", "ENV=dev"],
    ["stop", "ENV=dev"],
    ["start", "ENV=dev"],
    ["outputs", "ENV=dev"],
]


@pytest.mark.parametrize("args", VENV_TARGETS, ids=lambda a: a[0])
def test_targets_before_setup_say_to_run_setup(project: Project, args: list[str]) -> None:
    pulumi = project.pulumi("v3.200.0")
    result = project.make(*args, f"PULUMI={pulumi}")
    assert result.returncode != 0
    assert "run 'make setup' first" in result.stderr
    assert "No such file" not in result.stderr
    assert not [c for c in result.calls if "pulumi" in c], "nothing ran"


def test_targets_with_an_incomplete_venv_say_to_run_setup_again(project: Project) -> None:
    project.venv(SUPPORTED, tools=("mypy",))
    result = project.make("lint")
    assert result.returncode == 2
    assert "incomplete (missing: ruff" in result.stderr
    assert "run 'make setup' again" in result.stderr


def test_targets_with_a_broken_venv_say_to_rebuild_it(project: Project) -> None:
    venv = project.venv(SUPPORTED)
    (venv / "bin/python").unlink()
    (venv / "bin/python").symlink_to("/no/such/python3.11")
    result = project.make("test")
    assert result.returncode == 2
    assert "its Python no longer runs): run 'make setup' to rebuild it" in result.stderr


def test_test_runs_pytest_after_lint_and_typecheck(project: Project) -> None:
    project.venv(SUPPORTED)
    result = project.make("test", "PYTEST_ARGS=-q")
    assert result.returncode == 0, result.stderr
    assert result.calls[-1] == "venv/bin/python -m pytest -q"


def test_test_fails_when_pytest_collects_nothing(project: Project) -> None:
    project.venv(SUPPORTED)
    result = project.make("test", FAKE_PYTEST_RC="5")
    assert result.returncode != 0
    assert "pytest collected no tests: failing" in result.stderr


def test_test_passes_pytest_failures_through(project: Project) -> None:
    project.venv(SUPPORTED)
    assert project.make("test", FAKE_PYTEST_RC="1").returncode != 0


def _targets_named_in(text: str) -> set[str]:
    """`make <target>` in code spans and in fenced code blocks."""
    spans = re.findall(r"`make ([a-z][a-z-]*)", text)
    blocks = "\n".join(re.findall(r"^```[^\n]*\n(.*?)^```", text, re.M | re.S))
    return set(spans) | set(re.findall(r"^\s*make ([a-z][a-z-]*)", blocks, re.M))


def test_help_lists_every_target_the_docs_name(project: Project) -> None:
    docs = [REPO_ROOT / "README.md", *sorted((REPO_ROOT / "docs").rglob("*.md"))]
    named = set().union(*(_targets_named_in(p.read_text(encoding="utf-8")) for p in docs))
    assert {"setup", "test", "up", "render"} <= named, "the README scan finds the basics"
    result = project.make("help")
    assert result.returncode == 0
    listed = set(re.findall(r"^  ([a-z][a-z-]*) ", result.stdout, re.M))
    assert named - listed == set(), f"named in the docs but not in `make help`: {named - listed}"


def test_help_is_the_default_target(project: Project) -> None:
    assert project.make().stdout == project.make("help").stdout


@pytest.mark.parametrize("version", ["v3.146.0", "v3.200.1", "v3.146.1-dev.0", "v4.0.0"])
def test_check_pulumi_accepts_a_new_enough_cli(project: Project, version: str) -> None:
    result = project.make("check-pulumi", f"PULUMI={project.pulumi(version)}")
    assert result.returncode == 0, result.stderr


@pytest.mark.parametrize("version", ["v3.145.9", "v3.99.0", "v2.999.0", "garbage"])
def test_check_pulumi_refuses_an_old_cli(project: Project, version: str) -> None:
    result = project.make("check-pulumi", f"PULUMI={project.pulumi(version)}")
    assert result.returncode == 2
    assert "needs 3.146.0 or newer" in result.stderr
    assert f"version '{version.removeprefix('v')}'" in result.stderr


def test_check_pulumi_says_when_the_cli_is_missing(project: Project) -> None:
    result = project.make("check-pulumi", "PULUMI=/no/such/pulumi")
    assert result.returncode == 2
    assert "The Pulumi CLI is not installed" in result.stderr


def test_pulumi_minimum_matches_the_readme(project: Project) -> None:
    makefile = (project.root / "Makefile").read_text()
    (minimum,) = re.findall(r"^PULUMI_MIN_VERSION := (\d+\.\d+)\.0$", makefile, re.M)
    readme = (REPO_ROOT / "README.md").read_text(encoding="utf-8")
    assert f"Pulumi CLI {minimum} or newer" in readme
