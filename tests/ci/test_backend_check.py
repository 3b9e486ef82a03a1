"""The backend check refuses file:// in CI and an empty passphrase, before any Pulumi command."""

from __future__ import annotations

from pathlib import Path

import pytest

from scripts.backend_check import BackendCheckError, check, main

PASSPHRASE = "correct horse battery staple"


def test_file_backend_is_refused() -> None:
    with pytest.raises(BackendCheckError, match=r"PULUMI_BACKEND_URL is a file:// backend"):
        check({"PULUMI_BACKEND_URL": "file:///tmp/state"}, None)


@pytest.mark.parametrize("passphrase", ["", None])
def test_bucket_backend_with_an_empty_passphrase_is_refused(passphrase: str | None) -> None:
    env = {"PULUMI_BACKEND_URL": "s3://bucket/tims-stack"}
    if passphrase is not None:
        env["PULUMI_CONFIG_PASSPHRASE"] = passphrase
    with pytest.raises(BackendCheckError, match="PULUMI_CONFIG_PASSPHRASE is empty or unset"):
        check(env, None)


def test_bucket_backend_with_a_passphrase_passes_without_printing_it() -> None:
    env = {"PULUMI_BACKEND_URL": "gs://bucket", "PULUMI_CONFIG_PASSPHRASE": PASSPHRASE}
    lines = check(env, None)
    assert "passphrase" in " ".join(lines)
    assert PASSPHRASE not in " ".join(lines)


def test_passphrase_file_counts_as_a_passphrase() -> None:
    env = {"PULUMI_BACKEND_URL": "s3://b", "PULUMI_CONFIG_PASSPHRASE_FILE": "/run/pass"}
    check(env, None)


def test_a_kms_secrets_provider_needs_no_passphrase() -> None:
    check({"PULUMI_BACKEND_URL": "s3://b"}, {"secretsprovider": "awskms://alias/tims"})


@pytest.mark.parametrize("url", ["", "https://api.pulumi.com"])
def test_pulumi_cloud_needs_an_access_token(url: str) -> None:
    with pytest.raises(BackendCheckError, match="PULUMI_ACCESS_TOKEN is empty or unset"):
        check({"PULUMI_BACKEND_URL": url}, None)


def test_pulumi_cloud_uses_its_own_secrets_without_a_passphrase() -> None:
    check({"PULUMI_ACCESS_TOKEN": "pul-x"}, None)


def test_pulumi_cloud_stack_made_with_a_passphrase_still_needs_it() -> None:
    with pytest.raises(BackendCheckError, match="PULUMI_CONFIG_PASSPHRASE"):
        check({"PULUMI_ACCESS_TOKEN": "pul-x"}, {"encryptionsalt": "v1:abc"})


def test_cli_fails_with_an_annotation(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    stack_file = tmp_path / "Pulumi.pr-1.yaml"
    stack_file.write_text("config:\n  tims-stack:environment: pr-1\n", encoding="utf-8")
    monkeypatch.setenv("PULUMI_BACKEND_URL", "azblob://container")
    monkeypatch.setenv("PULUMI_CONFIG_PASSPHRASE", "")
    assert main(["--stack-file", str(stack_file)]) == 1
    assert capsys.readouterr().err.startswith("::error title=Pulumi backend set-up::")


def test_cli_passes_a_complete_setup(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PULUMI_BACKEND_URL", "s3://bucket")
    monkeypatch.setenv("PULUMI_CONFIG_PASSPHRASE", PASSPHRASE)
    assert main([]) == 0


def test_a_broken_stack_file_is_refused_without_quoting_its_lines(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    stack_file = tmp_path / "Pulumi.pr-1.yaml"
    stack_file.write_text('config:\n  github:token: "ghp_PLAINTEXTsecret0123\n', encoding="utf-8")
    monkeypatch.setenv("PULUMI_BACKEND_URL", "azblob://container")
    monkeypatch.setenv("PULUMI_CONFIG_PASSPHRASE", "set")
    assert main(["--stack-file", str(stack_file)]) == 1
    captured = capsys.readouterr()
    assert captured.err.startswith("::error title=Pulumi backend set-up::"), captured.err
    assert "not valid YAML" in captured.err, captured.err
    assert "line 2" in captured.err, captured.err
    assert "PLAINTEXTsecret" not in captured.out + captured.err, "the file's line is shown"
