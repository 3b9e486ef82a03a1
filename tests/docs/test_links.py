"""Every relative link and #anchor in README.md and docs/*.md leads somewhere.

Anchors are GitHub's heading slugs: the heading's text (code spans and links
reduced to their text) lowercased, characters other than letters, digits,
spaces, '-' and '_' dropped, spaces turned into '-', and a repeated slug
suffixed -1, -2, ...
"""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest

from tests.conftest import REPO_ROOT

DOCS = [REPO_ROOT / "README.md", *sorted((REPO_ROOT / "docs").rglob("*.md"))]
_FENCE = re.compile(r"^(```|~~~).*?^\1[ \t]*$", re.M | re.S)
_CODE_SPAN = re.compile(r"(`+)(?!`).*?(?<!`)\1(?!`)", re.S)
_LINK = re.compile(r"\[(?:[^\[\]]|\[[^\]]*\])*\]\(\s*<?([^)\s>]+)>?(?:\s+\"[^\"]*\")?\s*\)")
_HEADING = re.compile(r"^ {0,3}#{1,6}[ \t]+(.*?)[ \t#]*$", re.M)


def _prose(text: str) -> str:
    """`text` without fenced blocks and code spans, where brackets are not links."""
    return _CODE_SPAN.sub("", _FENCE.sub("", text))


def slug(heading: str) -> str:
    text = re.sub(r"\[([^\]]*)\]\([^)]*\)", r"\1", heading)  # a link: its text
    text = text.replace("`", "").lower()
    text = re.sub(r"[^\w\- ]", "", text)
    return text.replace(" ", "-")


def anchors(path: Path) -> set[str]:
    found: set[str] = set()
    seen: dict[str, int] = {}
    for heading in _HEADING.findall(_FENCE.sub("", path.read_text(encoding="utf-8"))):
        base = slug(heading)
        count = seen.get(base, 0)
        seen[base] = count + 1
        found.add(base if count == 0 else f"{base}-{count}")
    found |= set(re.findall(r"<a\s+(?:name|id)=\"([^\"]+)\"", path.read_text(encoding="utf-8")))
    return found


def links(path: Path) -> list[str]:
    return [
        target
        for target in _LINK.findall(_prose(path.read_text(encoding="utf-8")))
        if not re.match(r"^[a-z][a-z0-9+.-]*:", target)  # https:, mailto:
    ]


def test_slugs_follow_github() -> None:
    assert slug("`pulumi up` was interrupted during a build") == (
        "pulumi-up-was-interrupted-during-a-build"
    )
    assert slug("ImageBuild: how images are built") == "imagebuild-how-images-are-built"
    assert slug("Set-up (two commands)") == "set-up-two-commands"


def test_the_scan_finds_the_readmes_links() -> None:
    found = links(REPO_ROOT / "README.md")
    assert "docs/config.md" in found, f"README.md links found: {found}"
    assert any("#" in target for target in found), f"no anchor link found: {found}"


def _problem(doc: Path, target: str) -> str | None:
    file_part, _, anchor = target.partition("#")
    linked = (doc.parent / file_part).resolve() if file_part else doc
    if not linked.exists():
        return f"{target}: no file {os.path.relpath(linked, REPO_ROOT)}"
    if anchor and linked.suffix == ".md" and anchor not in anchors(linked):
        return f"{target}: no heading #{anchor} in {linked.name}"
    return None


@pytest.mark.parametrize("doc", DOCS, ids=lambda p: str(p.relative_to(REPO_ROOT)))
def test_every_relative_link_resolves(doc: Path) -> None:
    name = str(doc.relative_to(REPO_ROOT))
    broken = [problem for target in links(doc) if (problem := _problem(doc, target))]
    assert broken == [], f"{name}: broken links: {broken}"
