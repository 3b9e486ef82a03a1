"""What the docs tell a user to run, create or open exists, and what the code reads is
documented: make targets, repository paths, CI secrets and variables, secret config keys,
contributor pages."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from stack.contract import SECRET_ALLOWED_KEYS
from tests.conftest import REPO_ROOT

USER_DOCS = [REPO_ROOT / "README.md", *sorted((REPO_ROOT / "docs").glob("*.md"))]
CONTRIBUTOR_DIR = REPO_ROOT / "docs" / "contributing"
ALL_DOCS = [*USER_DOCS, *sorted(CONTRIBUTOR_DIR.glob("*.md"))]
CI_DOC = REPO_ROOT / "docs" / "ci.md"
WORKFLOW_FILES = sorted(
    [
        *(REPO_ROOT / ".github").rglob("*.yml"),
        *(REPO_ROOT / ".github").rglob("*.yaml"),
        *(REPO_ROOT / "templates" / "github").glob("*.yml"),
    ]
)
GENERATED = re.compile(r"<!-- BEGIN GENERATED.*?<!-- END GENERATED -->", re.S)


def _ids(path: Path) -> str:
    return str(path.relative_to(REPO_ROOT))


# --- make targets ---------------------------------------------------------------------


def makefile_targets() -> set[str]:
    text = (REPO_ROOT / "Makefile").read_text(encoding="utf-8")
    return set(re.findall(r"^([a-z][a-z-]*):", text, re.M))


def make_targets_named(text: str) -> set[str]:
    """`make <target>` in code spans and in command lines of code blocks."""
    spans = re.findall(r"`make ([a-z][a-z-]*)", text)
    lines = re.findall(r"^\s*(?:\$ )?make ([a-z][a-z-]*)", text, re.M)
    return set(spans) | set(lines)


def test_the_make_scan_finds_the_readmes_commands() -> None:
    named = make_targets_named((REPO_ROOT / "README.md").read_text(encoding="utf-8"))
    assert {"setup", "test", "up", "render"} <= named, f"README.md make targets found: {named}"


@pytest.mark.parametrize("doc", ALL_DOCS, ids=_ids)
def test_every_make_target_a_doc_names_exists(doc: Path) -> None:
    missing = make_targets_named(doc.read_text(encoding="utf-8")) - makefile_targets()
    assert missing == set(), f"{_ids(doc)} names make targets the Makefile lacks: {missing}"


# --- repository paths -----------------------------------------------------------------

_PATH = re.compile(
    r"(?<![\w./-])(?:\./)?((?:scripts|components|stack|templates|tests|schema|bench|\.github)"
    r"/[\w./-]*[\w/])"
)


def _path_exists(named: str) -> bool:
    if (REPO_ROOT / named).exists():
        return True
    # `scripts/pr_comment.upsert_comment`: a module and one of its names.
    module, _, attr = named.rpartition(".")
    source = REPO_ROOT / f"{module}.py"
    if attr.isidentifier() and source.exists():
        return re.search(rf"^\s*(?:def|class)\s+{attr}\b", source.read_text(), re.M) is not None
    # `.github/workflows/<name>` of the application repository: a template copied there.
    if named.startswith(".github/workflows/"):
        return (REPO_ROOT / "templates" / "github" / Path(named).name).exists()
    return False


def paths_named(text: str) -> set[str]:
    return {m.rstrip(".") for m in _PATH.findall(text) if "<" not in m}


def test_the_path_scan_finds_script_paths() -> None:
    assert paths_named("see `scripts/locks.py`, and components/data/cnpg.py.") == {
        "scripts/locks.py",
        "components/data/cnpg.py",
    }


@pytest.mark.parametrize("doc", ALL_DOCS, ids=_ids)
def test_every_repository_path_a_doc_names_exists(doc: Path) -> None:
    missing = sorted(p for p in paths_named(doc.read_text(encoding="utf-8")) if not _path_exists(p))
    assert missing == [], f"{_ids(doc)} names paths that do not exist: {missing}"


# --- CI secrets and variables ---------------------------------------------------------


def settings_read_by_workflows() -> set[str]:
    found: set[str] = set()
    for path in WORKFLOW_FILES:
        found |= set(re.findall(r"\b(?:secrets|vars)\.([A-Z][A-Z0-9_]*)", path.read_text()))
    return found - {"GITHUB_TOKEN"}  # GitHub's own, created by no one


def settings_ci_doc_lists() -> set[str]:
    """Names in the first column of docs/ci.md's tables whose kind is secret or variable."""
    names: set[str] = set()
    rows = re.findall(r"^[ \t]*\|([^|\n]*)\|([^|\n]*)\|", CI_DOC.read_text(encoding="utf-8"), re.M)
    for first, kind in rows:
        if re.search(r"\b(secret|variable)\b", kind):
            names |= set(re.findall(r"`([A-Z][A-Z0-9_]*)`", first))
    return names


def test_the_settings_scan_finds_the_settings_table() -> None:
    listed = settings_ci_doc_lists()
    assert {"KUBE_CONFIG", "APP_REPOSITORY", "PR_BASE_CONFIG"} <= listed, listed


def test_every_setting_ci_doc_lists_is_read_by_a_workflow() -> None:
    unread = settings_ci_doc_lists() - settings_read_by_workflows()
    assert unread == set(), (
        f"docs/ci.md tells users to create {sorted(unread)}, which no workflow or template reads"
    )


def test_every_setting_a_workflow_reads_is_documented_in_ci_doc() -> None:
    text = CI_DOC.read_text(encoding="utf-8")
    undocumented = {n for n in settings_read_by_workflows() if f"`{n}`" not in text}
    assert undocumented == set(), (
        f"workflows read {sorted(undocumented)}, which docs/ci.md never tells users to set"
    )


# --- secret config keys ---------------------------------------------------------------


@pytest.mark.parametrize("doc", ["config.md", "config-guide.md"])
def test_the_secret_rules_name_every_key_that_may_be_secret(doc: str) -> None:
    """The hand-written secret rules (outside the generated table) keep up with the code."""
    text = GENERATED.sub("", (REPO_ROOT / "docs" / doc).read_text(encoding="utf-8"))
    missing = [key for key in SECRET_ALLOWED_KEYS if f"`{key}`" not in text]
    assert missing == [], f"docs/{doc} says which keys may be secret but omits {missing}"


# --- contributor index ----------------------------------------------------------------


def test_the_contributor_index_lists_every_contributor_page() -> None:
    index = (CONTRIBUTOR_DIR / "README.md").read_text(encoding="utf-8")
    linked = set(re.findall(r"\]\(([\w.-]+\.md)\)", index))
    pages = {p.name for p in CONTRIBUTOR_DIR.glob("*.md")} - {"README.md"}
    assert pages - linked == set(), f"docs/contributing/README.md does not list {pages - linked}"
