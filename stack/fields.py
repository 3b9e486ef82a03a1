"""Building blocks of the config schema: the base model and reusable value types.

A value type is `Annotated[str, <validator>]`; its validator raises
`stack.errors.fail(allowed, problem)` so the message says what was found and
what is allowed. `stack.models` and `stack.settings` declare the keys with them.
"""

from __future__ import annotations

import typing
from collections.abc import Callable
from typing import Annotated, Any

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    ValidationError,
    ValidatorFunctionWrapHandler,
    WithJsonSchema,
    WrapValidator,
    model_validator,
)
from pydantic_core import ErrorDetails, InitErrorDetails, PydanticCustomError
from pydantic_core.core_schema import ErrorType

from stack import rules
from stack.contract import (
    BUILD_PLACEHOLDERS,
)
from stack.errors import Finding, did_you_mean, fail, fail_all
from stack.naming import MAX_LABEL


class ConfigModel(BaseModel):
    """Frozen, strict (no "2" for 2), unknown fields refused; `alias`: the stack-file name."""

    model_config = ConfigDict(
        frozen=True,
        extra="forbid",
        strict=True,
        populate_by_name=True,
        hide_input_in_errors=True,
    )

    @model_validator(mode="before")
    @classmethod
    def _null_is_unset(cls, data: Any) -> Any:
        """`field: null` in a stack file means "use the default", as Pulumi writes it."""
        if isinstance(data, dict):
            return {k: v for k, v in data.items() if v is not None}
        return data


# --------------------------------------------------------------------------- cross-field rules

Check = Callable[[Any], list[Finding]]
_KNOWN_ERRORS = frozenset(typing.get_args(ErrorType))


def cross_field(*fields: str) -> Callable[[Check], Any]:
    """A rule between `fields` (stack-file names) of one model, reported in the same pass
    as every other error.

    pydantic runs an "after" model validator only when every field validated,
    so a bad sibling would hide the rule's finding until the next run. This
    wrap validator runs the rule anyway when only fields it does not read
    failed: on the model validated without those fields, its findings added
    to pydantic's errors. `check` returns the findings (empty: fine).
    """

    def decorate(check: Check) -> Any:
        def validate(cls: type[BaseModel], data: Any, handler: ValidatorFunctionWrapHandler) -> Any:
            try:
                model = handler(data)
            except ValidationError as error:
                raise _with_rule(error, data, handler, check, fields) from None
            if found := check(model):
                raise fail_all(found)
            return model

        return model_validator(mode="wrap")(classmethod(validate))  # type: ignore[arg-type]

    return decorate


def _with_rule(
    error: ValidationError,
    data: Any,
    handler: ValidatorFunctionWrapHandler,
    check: Check,
    fields: tuple[str, ...],
) -> ValidationError:
    """`error`, plus the rule's findings when the fields it reads are all valid."""
    failed = {str(e["loc"][0]) for e in error.errors() if e["loc"]}
    if not isinstance(data, dict) or failed & set(fields):
        return error
    try:
        model = handler({k: v for k, v in data.items() if k not in failed})
    except ValidationError:
        return error  # a required field failed: nothing to run the rule on
    found = check(model)
    if not found:
        return error
    details = [_details(e) for e in error.errors()]
    details.append(InitErrorDetails(type=fail_all(found), loc=(), input=data))
    return ValidationError.from_exception_data(error.title, details)


def _details(error: ErrorDetails) -> InitErrorDetails:
    """One of pydantic's collected errors, as it can be raised again."""
    ctx = dict(error.get("ctx") or {})
    if error["type"] in _KNOWN_ERRORS:
        kind: str | PydanticCustomError = error["type"]
    else:  # ours (stack.errors.fail_all): its message is its summary
        kind = PydanticCustomError(error["type"], "{summary}", ctx)
    return InitErrorDetails(type=kind, loc=error["loc"], input=error["input"], ctx=ctx)


# --------------------------------------------------------------------------- value types


def rule(check: Callable[[str], str | None], allowed: str) -> AfterValidator:
    """A string rule: `check` returns None (good), "" (bad) or the reason ("which ...")."""

    def validate(value: str) -> str:
        if (problem := check(value)) is not None:
            raise fail(allowed, problem or None)
        return value

    return AfterValidator(validate)


def matches(ok: Callable[[str], bool], allowed: str) -> AfterValidator:
    return rule(lambda value: None if ok(value) else "", allowed)


def declared(allowed: str) -> WrapValidator:
    """Put after `Field(pattern=..., max_length=...)`: any failure says what is allowed."""

    def validate(value: Any, handler: ValidatorFunctionWrapHandler) -> Any:
        try:
            return handler(value)
        except ValidationError:
            raise fail(allowed) from None

    return WrapValidator(validate)


_DNS_LABEL = "[a-z0-9]([-a-z0-9]*[a-z0-9])?"
LABEL = Field(pattern=f"^{_DNS_LABEL}$", max_length=MAX_LABEL)
"""An RFC 1123 label (namespace names)."""
SUBDOMAIN = Field(pattern=rf"^{_DNS_LABEL}(\.{_DNS_LABEL})*$", max_length=253)
"""A DNS-1123 subdomain (most Kubernetes object names)."""
Label = Annotated[str, LABEL, declared(rules.LABEL_RULE)]
Subdomain = Annotated[str, SUBDOMAIN, declared(rules.SUBDOMAIN_RULE)]
DnsName = Annotated[str, rule(rules.dns_name_problem, rules.DNS_NAME_RULE)]
Namespace = Annotated[
    str,
    LABEL,
    declared(rules.LABEL_RULE),
    rule(rules.namespace_problem, "a namespace of its own, not 'default' or 'kube-*'"),
]


def _quantity(value: Any) -> str:
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        raise fail("a Kubernetes quantity such as '250m', '512Mi' or 1")
    text = str(value)
    number = rules.parse_quantity(text)
    if number is None or number < 0:
        raise fail("a non-negative Kubernetes quantity such as '250m' or '512Mi'")
    return text


def _storage(value: Any) -> str:
    amount = rules.parse_quantity(value) if isinstance(value, str) else None
    if amount is None or amount <= 0:
        raise fail("a positive Kubernetes quantity such as '1Gi' or '500Mi'")
    return str(value)


def _resource_name(name: str) -> str:
    if name not in rules.RESOURCE_NAMES:
        allowed = ", ".join(rules.RESOURCE_NAMES)
        raise fail(allowed, did_you_mean(name, rules.RESOURCE_NAMES), value_free=True)
    return name


Quantity = Annotated[
    str,
    BeforeValidator(_quantity),
    WithJsonSchema({"type": ["string", "number"], "description": "A Kubernetes quantity."}),
]
StorageSize = Annotated[str, BeforeValidator(_storage)]
ResourceName = Annotated[str, AfterValidator(_resource_name)]


def env_name(reserved: dict[str, str]) -> AfterValidator:
    """A variable name a user may set in an app's `env` (not one the program sets)."""

    def validate(name: str) -> str:
        if not rules.ENV_NAME.match(name):
            problem = (
                f"{name!r} is not an environment variable name: letters, digits and '_', "
                "not starting with a digit"
            )
            raise fail("an environment variable name", problem, value_free=True)
        if name in reserved:
            problem = f"is set by the program from the image contract ({reserved[name]}); remove it"
            raise fail("a variable the program does not set", problem, value_free=True)
        return name

    return AfterValidator(validate)


def _repository(value: str) -> str | None:
    owner, _, name = value.partition("/")
    ok = rules.GITHUB_LOGIN.match(owner) and rules.GITHUB_REPO_NAME.match(name)
    return None if ok and name not in (".", "..") else ""


def _input_name(name: str) -> str:
    if not rules.WORKFLOW_INPUT.match(name):
        problem = (
            f"{name!r} is not a workflow input name: letters, digits, '-' and '_', "
            "not starting with a digit or '-'"
        )
        raise fail("a workflow input name", problem, value_free=True)
    return name


PLACEHOLDERS = ", ".join("{" + p + "}" for p in BUILD_PLACEHOLDERS)
"""The placeholders a `build.inputs` template may use, as a message lists them."""

_IMAGE_REPOSITORY = (
    "a lowercase image repository without tag or digest, e.g. "
    "ghcr.io/acme/tims-stack-backend-image-prod"
)
ImageRepository = Annotated[str, rule(rules.repository_problem, _IMAGE_REPOSITORY)]
GitHubRepository = Annotated[
    str,
    rule(
        _repository,
        "'owner/name': a GitHub login (letters, digits, inner '-') and a repository "
        "name (letters, digits, '.', '_', '-')",
    ),
]
WorkflowInputName = Annotated[str, AfterValidator(_input_name)]
Template = Annotated[
    str, rule(rules.placeholder_problem, f"a template using only the placeholders {PLACEHOLDERS}")
]


# --------------------------------------------------------------------------- top level


def _unset_if_empty(value: Any) -> Any:
    """Pulumi.yaml declares "" defaults for derived keys; "" means "derive it"."""
    return None if value == "" else value


def _runtime_bool(value: Any) -> Any:
    """Pulumi's runtime holds booleans as the strings "true"/"false"."""
    if value in ("true", "false"):
        return value == "true"
    if isinstance(value, bool) or value is None:
        return value
    raise fail("true or false")


Derived = BeforeValidator(_unset_if_empty)
RuntimeBool = BeforeValidator(_runtime_bool)
