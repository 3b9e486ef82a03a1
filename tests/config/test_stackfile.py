"""Reading Pulumi.<stack>.yaml and Pulumi.yaml into raw config, as Pulumi's runtime holds it."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from stack.stackfile import (
    SECRET_PLACEHOLDER,
    StackFileError,
    raw_config_for_stack,
    raw_config_from_project_file,
    raw_config_from_stack_file,
)
from tests.config.conftest import WriteFn


def test_scalars_become_strings(write: WriteFn) -> None:
    raw = raw_config_from_stack_file(
        write("config:\n  tims-stack:stopped: true\n  tims-stack:domain: example.com\n  a:n: 3\n")
    )
    assert raw.values == {
        "tims-stack:stopped": "true",
        "tims-stack:domain": "example.com",
        "a:n": "3",
    }


def test_objects_become_compact_sorted_json(write: WriteFn) -> None:
    raw = raw_config_from_stack_file(
        write("config:\n  tims-stack:backend:\n    replicas: 2\n    env:\n      B: x\n      A: y\n")
    )
    assert raw.values["tims-stack:backend"] == '{"env":{"A":"y","B":"x"},"replicas":2}'


def test_integral_floats_are_written_as_go_does(write: WriteFn) -> None:
    raw = raw_config_from_stack_file(write("config:\n  tims-stack:backend:\n    replicas: 2.0\n"))
    assert json.loads(raw.values["tims-stack:backend"]) == {"replicas": 2}, "2.0 as Go marshals it"


def test_yaml_1_1_booleans_stay_strings(write: WriteFn) -> None:
    """yaml.v3 (the CLI) reads `yes`/`on` as strings; PyYAML would make them booleans."""
    raw = raw_config_from_stack_file(
        write("config:\n  tims-stack:backend:\n    env:\n      A: yes\n      B: on\n")
    )
    assert json.loads(raw.values["tims-stack:backend"]) == {"env": {"A": "yes", "B": "on"}}


def test_dates_stay_strings(write: WriteFn) -> None:
    raw = raw_config_from_stack_file(write("config:\n  tims-stack:images:\n    tag: 2024-01-01\n"))
    assert json.loads(raw.values["tims-stack:images"]) == {"tag": "2024-01-01"}


def test_secure_values_are_placeholders_and_marked_secret(write: WriteFn) -> None:
    raw = raw_config_from_stack_file(write("config:\n  github:token:\n    secure: v1:abcdef==\n"))
    assert raw.values["github:token"] == SECRET_PLACEHOLDER, "secure value replaced"
    assert raw.secret_keys == {"github:token"}, "secure key listed as secret"
    assert "v1:abcdef" not in repr(raw), "ciphertext kept"


def test_nested_secure_value_marks_the_whole_key_secret(write: WriteFn) -> None:
    raw = raw_config_from_stack_file(
        write("config:\n  tims-stack:backend:\n    env:\n      API_KEY:\n        secure: v1:xyz\n")
    )
    assert json.loads(raw.values["tims-stack:backend"]) == {"env": {"API_KEY": SECRET_PLACEHOLDER}}
    assert raw.secret_keys == {"tims-stack:backend"}


def test_file_without_config_is_an_error_saying_where_keys_go(write: WriteFn) -> None:
    """Else render asks for keys that sit in the file under some other name."""
    with pytest.raises(StackFileError, match="no `config:` mapping"):
        raw_config_from_stack_file(write("encryptionsalt: abc\n"))


def test_misspelled_top_level_config_is_named_with_the_fix(write: WriteFn) -> None:
    with pytest.raises(
        StackFileError, match="unknown top-level key 'confg'; did you mean 'config'"
    ):
        raw_config_from_stack_file(write("confg:\n  tims-stack:domain: example.com\n"))


def test_key_without_namespace_is_an_error(write: WriteFn) -> None:
    with pytest.raises(StackFileError, match="tims-stack:domain"):
        raw_config_from_stack_file(write("config:\n  domain: example.com\n"))


def test_missing_file_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(StackFileError, match="no such file"):
        raw_config_from_stack_file(tmp_path / "Pulumi.nope.yaml")


def test_invalid_yaml_is_an_error(write: WriteFn) -> None:
    with pytest.raises(StackFileError, match="not valid YAML"):
        raw_config_from_stack_file(write("config: [unclosed\n"))


def test_invalid_yaml_error_names_the_place_but_quotes_no_line(write: WriteFn) -> None:
    """YAML's own message quotes the offending line, which may hold a plain-text secret
    (render writes the message to RENDER-FAILED.txt and the terminal)."""
    path = write('config:\n  github:token: "ghp_PLAINTEXTsecret0123\n  x: 1\n')
    with pytest.raises(StackFileError) as caught:
        raw_config_from_stack_file(path)
    text = str(caught.value)
    assert "PLAINTEXTsecret" not in text, f"the offending line is quoted: {text}"
    assert "line 2, column 17" in text, f"the place is not named: {text}"


def test_config_that_is_not_a_mapping_is_an_error(write: WriteFn) -> None:
    with pytest.raises(StackFileError, match="mapping"):
        raw_config_from_stack_file(write("config:\n  - a\n"))


def test_project_defaults_and_values_are_qualified(write: WriteFn) -> None:
    project = write(
        "name: tims-stack\nruntime: python\nconfig:\n"
        "  stopped:\n    type: boolean\n    default: false\n"
        "  backend:\n    default:\n      replicas: 2\n"
        "  required:\n    type: string\n"
        "  aws:region:\n    value: eu-west-1\n"
        "  plain: 7\n",
        name="Pulumi.yaml",
    )
    assert raw_config_from_project_file(project).values == {
        "tims-stack:stopped": "false",
        "tims-stack:backend": '{"replicas":2}',
        "aws:region": "eu-west-1",
        "tims-stack:plain": "7",
    }


def test_stack_values_win_over_project_defaults(write: WriteFn) -> None:
    project = write(
        "name: tims-stack\nruntime: python\n"
        "config:\n  stopped:\n    type: boolean\n    default: false\n",
        name="Pulumi.yaml",
    )
    stack = write("config:\n  tims-stack:stopped: true\n  github:token:\n    secure: v1:x\n")
    raw = raw_config_for_stack(stack, project)
    assert raw.values["tims-stack:stopped"] == "true", "stack value wins"
    assert raw.secret_keys == {"github:token"}, "secret keys come from the stack file"
