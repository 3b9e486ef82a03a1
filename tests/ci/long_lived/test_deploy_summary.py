"""The job summary of a deploy: commit, URL, images and their tags; never a secret."""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path

import pytest

from scripts.deploy_summary import image_tag, main


@pytest.mark.parametrize(
    ("reference", "tag"),
    [
        ("ghcr.io/acme/tims-stack-backend-image-prod:main-0123456789ab", "main-0123456789ab"),
        ("localhost:5000/app:e2e", "e2e"),
        ("ghcr.io/acme/app:v1@sha256:" + "0" * 64, "v1"),
        ("localhost:5000/app", None),
        (None, None),
    ],
)
def test_image_tag(reference: str | None, tag: str | None) -> None:
    assert image_tag(reference) == tag


def test_the_summary_names_commit_url_and_image_tags(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    summary = tmp_path / "summary.md"
    monkeypatch.setenv("GITHUB_STEP_SUMMARY", str(summary))
    outputs = {
        "url": "https://backend-production.example.com",
        "backendImage": "ghcr.io/acme/b:main-0123456789ab",
        "frontendImage": "ghcr.io/acme/f:main-0123456789ab",
        # `pulumi stack output --json` without --show-secrets prints secrets so.
        "adminPassword": "[secret]",
    }
    commands: list[Sequence[str]] = []

    def run(command: Sequence[str]) -> str:
        commands.append(command)
        return json.dumps(outputs)

    assert main(["--stack", "production", "--commit", "abc123"], run=run) == 0
    text = summary.read_text()
    for expected in (
        "`abc123`",
        "https://backend-production.example.com",
        "| Backend tag | `main-0123456789ab` |",
    ):
        assert expected in text, text
    assert "[secret]" not in text
    assert commands == [["pulumi", "stack", "output", "--stack", "production", "--json"]]
