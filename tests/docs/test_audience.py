"""User docs (README.md, docs/*.md) speak to users: nothing they do not have, no word
left undefined. Design and verification notes live in docs/contributing/."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from tests.conftest import REPO_ROOT

USER_DOCS = [REPO_ROOT / "README.md", *sorted((REPO_ROOT / "docs").glob("*.md"))]
CONTRIBUTOR_INDEX = REPO_ROOT / "docs" / "contributing" / "README.md"


@pytest.mark.parametrize("doc", USER_DOCS, ids=lambda p: p.name)
def test_user_docs_cite_no_reference_data_a_clone_lacks(doc: Path) -> None:
    """`../shared/` exists only on the project's own machines."""
    text = doc.read_text(encoding="utf-8")
    cited = [line for line in text.splitlines() if re.search(r"\.\./shared|\bshared/spec\b", line)]
    assert cited == [], f"{doc.name} cites ../shared, which a user's clone does not have: {cited}"


@pytest.mark.parametrize("doc", USER_DOCS, ids=lambda p: p.name)
def test_user_docs_do_not_say_seed(doc: Path) -> None:
    """Users know the original stack (README); "seed" is the project's word for its files."""
    text = doc.read_text(encoding="utf-8")
    said = [line for line in text.splitlines() if re.search(r"\bseed\b", line, re.IGNORECASE)]
    assert said == [], f"{doc.name} says 'seed', which no user doc defines: {said}"


def test_contributor_docs_define_seed_where_they_use_it() -> None:
    docs = sorted((REPO_ROOT / "docs" / "contributing").glob("*.md"))
    assert docs, "docs/contributing/ has no pages"
    users = [d.name for d in docs if re.search(r"\bseed\b", d.read_text(encoding="utf-8"), re.I)]
    if users:
        index = CONTRIBUTOR_INDEX.read_text(encoding="utf-8")
        assert re.search(r"\*\*seed\*\*", index, re.I), (
            f"{users} say 'seed', but {CONTRIBUTOR_INDEX.name} does not define it"
        )


def test_the_key_reference_is_not_repeated_as_a_table() -> None:
    """docs/config.md is the one key reference; other pages link to it."""
    for doc in USER_DOCS:
        if doc.name == "config.md":
            continue
        heads = [
            line
            for line in doc.read_text(encoding="utf-8").splitlines()
            if re.match(r"^\|\s*(key|field)\s*\|\s*type\s*\|\s*default\s*\|", line, re.I)
        ]
        assert heads == [], f"{doc.name} repeats a key table; link to config.md instead: {heads}"
