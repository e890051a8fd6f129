"""Typed option models shared by every datasource type.

A backend declares its own model by subclassing one of these. Values arrive as
strings from environment variables as often as typed values from TOML, so the
models accept "5432" for an int and "false" for a bool, and nothing else
loosely: unknown keys are errors (with a did-you-mean), and secrets are
:class:`pydantic.SecretStr`, which never prints its value.
"""

from __future__ import annotations

import difflib
from pathlib import Path
from typing import Any, ClassVar, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    SecretStr,
    ValidationError,
    field_validator,
)

from .errors import ConfigurationError

DEFAULT_TIMEOUT = 10.0


class BaseOptions(BaseModel):
    """Keys every datasource type accepts."""

    model_config = ConfigDict(
        extra="forbid",
        frozen=True,
        coerce_numbers_to_str=True,  # a password of digits from TOML is still a string
        str_strip_whitespace=False,  # secrets keep their spaces
        hide_input_in_errors=True,
        validate_default=False,
    )

    type: str | None = Field(
        None, description="Implementation to use; defaults to the entry's name."
    )
    timeout: float = Field(
        DEFAULT_TIMEOUT,
        gt=0,
        le=3600,
        description="Seconds that bound connecting and health checks.",
    )

    #: keys whose values come from a file when ``<key>_file`` is given
    secret_fields: ClassVar[tuple[str, ...]] = ()

    def redacted(self) -> dict[str, Any]:
        """The options as plain data with every secret replaced by ``'***'``."""
        data = self.model_dump(mode="python", exclude_none=True)
        for key, value in list(data.items()):
            if isinstance(value, SecretStr):
                data[key] = "***" if value.get_secret_value() else ""
            elif isinstance(value, Path):
                data[key] = str(value)
        return data


class SQLOptions(BaseOptions):
    """SQLAlchemy engine options every relational type accepts."""

    url: SecretStr | None = Field(
        None, description="A full database URL instead of the separate fields."
    )
    pool_size: int | None = Field(None, ge=1, description="Connections kept open in the pool.")
    max_overflow: int | None = Field(None, ge=-1, description="Extra connections beyond pool_size.")
    pool_recycle: int | None = Field(
        1800, ge=-1, description="Seconds after which a pooled connection is replaced."
    )
    pool_timeout: float | None = Field(
        None, gt=0, description="Seconds to wait for a free pooled connection."
    )
    pool_pre_ping: bool = Field(True, description="Test a pooled connection before handing it out.")
    pool_use_lifo: bool | None = None
    echo: bool | Literal["debug"] = False
    echo_pool: bool | Literal["debug"] = False
    isolation_level: str | None = Field(
        None, description="E.g. READ COMMITTED, SERIALIZABLE, AUTOCOMMIT."
    )
    connect_args: dict[str, Any] = Field(
        default_factory=dict, description="Passed to the DBAPI driver's connect()."
    )
    engine_options: dict[str, Any] = Field(
        default_factory=dict, description="Any other sqlalchemy.create_engine() keyword."
    )
    query: dict[str, str] = Field(default_factory=dict, description="Extra URL query parameters.")
    replicas: list[dict[str, Any] | str] = Field(
        default_factory=list,
        description="Read replicas for readonly sessions: each a URL, or a table of keys "
        "that override the primary's (e.g. {host = 'replica-1'}).",
    )

    secret_fields: ClassVar[tuple[str, ...]] = ("password", "url")

    @field_validator("isolation_level")
    @classmethod
    def _upper_isolation(cls, value: str | None) -> str | None:
        return value.upper().replace("_", " ") if value else value


class ServerSQLOptions(SQLOptions):
    """Host-based relational servers."""

    host: str | None = None
    port: int | None = Field(None, ge=1, le=65535)
    database: str | None = None
    username: str | None = None
    password: SecretStr | None = None

    @field_validator("host")
    @classmethod
    def _non_empty_host(cls, value: str | None) -> str | None:
        if value is not None and not value.strip():
            raise ValueError("must not be empty")
        return value


def parse_options(
    model: type[BaseOptions], data: dict[str, Any], *, datasource: str, type_name: str
) -> BaseOptions:
    """Validate ``data`` into ``model``, turning pydantic's errors into ours.

    The message names the datasource, the key, what was wrong and how to fix
    it, and never echoes a value (it could be a secret).
    """
    try:
        return model.model_validate(data)
    except ValidationError as error:
        raise _configuration_error(
            model, error, datasource=datasource, type_name=type_name
        ) from None


def _configuration_error(
    model: type[BaseOptions], error: ValidationError, *, datasource: str, type_name: str
) -> ConfigurationError:
    known = sorted(model.model_fields)
    problems: list[tuple[str, str, str]] = []
    for item in error.errors(include_input=False, include_url=False):
        location = ".".join(str(part) for part in item["loc"]) or "?"
        top = str(item["loc"][0]) if item["loc"] else "?"
        if item["type"] == "extra_forbidden":
            close = difflib.get_close_matches(top, known, n=1)
            hint = f"did you mean {close[0]!r}? " if close else ""
            problems.append(
                (
                    location,
                    f"unknown key for type {type_name!r}",
                    f"{hint}remove it, or see the {type_name} keys in the README: "
                    + ", ".join(known),
                )
            )
        elif item["type"] == "missing":
            problems.append((location, "is required", f"set {location!r} (or give a 'url')"))
        else:
            field = model.model_fields.get(top)
            expected = _describe_annotation(field.annotation) if field else "a valid value"
            problems.append((location, item["msg"].lower(), f"give {expected}"))
    key, message, fix = problems[0]
    if len(problems) > 1:
        others = "; ".join(f"{loc!r} {msg}" for loc, msg, _ in problems[1:])
        message = f"{message} (also: {others})"
    return ConfigurationError(message, datasource=datasource, key=key, fix=fix)


def _describe_annotation(annotation: Any) -> str:
    """Words for what a field accepts: 'a whole number', "one of 'a', 'b'"."""
    import types
    import typing

    origin = typing.get_origin(annotation)
    if origin in (typing.Union, types.UnionType):
        parts = [
            _describe_annotation(arg)
            for arg in typing.get_args(annotation)
            if arg is not type(None)
        ]
        return " or ".join(dict.fromkeys(parts))
    if origin is typing.Literal:
        return "one of " + ", ".join(repr(arg) for arg in typing.get_args(annotation))
    if origin in (dict, typing.get_origin(dict[str, Any])):
        return "a table (TOML) / mapping"
    if origin is list:
        return "a list"
    return {
        int: "a whole number",
        float: "a number",
        bool: "true or false",
        str: "a string",
        SecretStr: "a string",
    }.get(annotation, f"a value of type {getattr(annotation, '__name__', annotation)}")
