"""Typed option models shared by every datasource type.

A backend declares its own model by subclassing one of these. Values arrive as
strings from environment variables as often as typed values from TOML, so the
models accept "5432" for an int and "false" for a bool, and nothing else
loosely: unknown keys are errors (with a did-you-mean), and secrets are
:class:`pydantic.SecretStr`, which never prints its value.
"""

from __future__ import annotations

import difflib
import math
import re
import types
import typing
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any, ClassVar, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    SecretStr,
    ValidationError,
    ValidationInfo,
    field_validator,
)

from ._deadline import DEFAULT_TIMEOUT, MAX_TIMEOUT
from .errors import ConfigurationError
from .settings import EnvText

#: keys inside option tables (connect_args, query, client_options, ...) whose
#: values are credentials: shown as '***' by redacted() and in reprs
SENSITIVE_KEY = re.compile(
    r"pass(?:w(?:or)?d|phrase)|^pass$|pwd|secret|token|credential|api[-_]?key|"
    r"private[-_]?key|authorization|cookie",
    re.IGNORECASE,
)
#: the password of a URL's userinfo (greedy up to the last '@', so an
#: unescaped '@', '/' or '?' in the password is hidden too)
_URL_PASSWORD = re.compile(r"(\b[A-Za-z][A-Za-z0-9+.\-]*://[^:/?#@\s]*:)[^\s]*@")


class BaseOptions(BaseModel):
    """Keys every datasource type accepts."""

    model_config = ConfigDict(
        extra="forbid",
        frozen=True,
        coerce_numbers_to_str=True,  # a password of digits from TOML is still a string
        str_strip_whitespace=False,  # secrets keep their spaces
        hide_input_in_errors=True,
        validate_default=False,
        allow_inf_nan=False,  # nan/inf are never a timeout, a port or a pool size
        # a schema is built when a model is first used, not for every backend at import
        defer_build=True,
    )

    type: str | None = Field(
        None, description="Implementation to use; defaults to the entry's name."
    )
    timeout: float = Field(
        DEFAULT_TIMEOUT,
        gt=0,
        le=MAX_TIMEOUT,
        description="Seconds that bound connecting and health checks.",
    )

    #: keys whose values come from a file when ``<key>_file`` is given
    secret_fields: ClassVar[tuple[str, ...]] = ()

    @field_validator("*", mode="before")
    @classmethod
    def _plain_values(cls, value: Any, info: ValidationInfo) -> Any:
        # pydantic's lax mode reads true as 1: `port = true` would connect to port 1
        if isinstance(value, bool) and info.field_name and _numeric_field(cls, info.field_name):
            raise ValueError("must be a number, not true/false")
        # a lone surrogate ("\ud800" in JSON/YAML, undecodable bytes in an environment
        # variable) cannot be encoded for any driver, URL or log line
        if _has_surrogate(value):
            raise ValueError(
                "is not valid Unicode text (it holds a lone surrogate, e.g. from a "
                "\\ud800 escape or bytes that are not UTF-8)"
            )
        # C drivers (libpq, the ODBC and MySQL client libraries) end a string at a
        # NUL: everything after it (port, sslmode, ...) would be silently dropped
        if has_nul(value, decode_percent=info.field_name in URL_KEYS):
            raise ValueError(NUL_MESSAGE)
        if info.field_name in NAME_KEYS and isinstance(value, str) and "://" in value:
            raise ValueError("looks like a URL, not a name; a whole URL goes in 'url'")
        if info.field_name in HOST_KEYS and _not_a_host(value):
            raise ValueError(
                "must be host names or IP addresses (optionally host:port): letters, "
                "digits, '.', '-', '_', ':' and brackets; a whole URL goes in 'url'"
            )
        return value

    def redacted(self) -> dict[str, Any]:
        """The options as plain data with every secret replaced by ``'***'``.

        Besides the secret fields, values under credential-like keys inside
        tables (``connect_args = {password = ...}``, query parameters, replica
        tables, ...) and the passwords of URLs anywhere are hidden.
        """
        data = self.model_dump(mode="python", exclude_none=True)
        for key, value in list(data.items()):
            if isinstance(value, SecretStr):
                data[key] = "***" if value.get_secret_value() else ""
            elif isinstance(value, Path):
                data[key] = str(value)
            else:
                data[key] = mask_secrets(value)
        return data

    def __repr_args__(self) -> Iterator[tuple[str | None, Any]]:
        # pydantic's repr (and str) would print tables and URLs as they are:
        # show what redacted() shows instead
        try:
            safe = self.redacted()
        except Exception:  # a subclass's redacted() choking on a bad value
            safe = {
                name: "<hidden>" for name, value in self if isinstance(value, (str, dict, list))
            }
        for name, value in super().__repr_args__():
            if (
                name is not None
                and isinstance(value, (str, dict, list, tuple))
                and name in safe
                and safe[name] != value
            ):
                yield name, safe[name]
            else:
                yield name, value


def mask_secrets(value: Any) -> Any:
    """``value`` with credential-like table entries and URL passwords replaced by '***'."""
    if isinstance(value, SecretStr):
        return "***" if value.get_secret_value() else ""
    if isinstance(value, Mapping):
        return {
            key: "***"
            if isinstance(key, str) and SENSITIVE_KEY.search(key) and value[key] not in (None, "")
            else mask_secrets(value[key])
            for key in value
        }
    if isinstance(value, (list, tuple)):
        return [mask_secrets(item) for item in value]
    if isinstance(value, str):
        return mask_credentials(value)
    return value


#: ``key=value`` credentials inside free-form connection strings: ODBC
#: (``PWD={x;y}``), libpq conninfo (``password='x y'``), query strings
_CREDENTIAL_PAIR = re.compile(
    r"(?i)(?<![A-Za-z0-9_])"
    r"((?:pwd|password|passwd|pass|sslpassword|secret|token|api[-_]?key|access[-_]?key|"
    r"secret[-_]?key|session[-_]?token|authmechanismproperties)\s*=\s*)"
    r"(\{(?:[^}]|\}\})*\}|'(?:[^'\\]|\\.)*'|\"(?:[^\"\\]|\\.)*\"|[^;&\s]*)"
)
#: Oracle's ``user/password@connect_identifier`` (a DSN or EZConnect string)
_SLASH_CREDENTIALS = re.compile(r"(?<![\w/:.@\-])([^/@\s:=;()'\"]+/)([^@\s/]+)(@)")


def check_url_userinfo(text: str, *, datasource: str | None, key: str = "url") -> None:
    """Refuse a URL whose user or password holds an unescaped ``@``.

    Parsers split such a URL at one of the ``@``s, so the rest of the password
    would be read as (and printed as) the host. The error quotes nothing of it.
    """
    _, separator, rest = text.partition("://")
    if separator and rest.split("?", 1)[0].count("@") > 1:
        raise ConfigurationError(
            "the URL has more than one '@' before its query: a user or password holding "
            "'@' must be percent-encoded",
            datasource=datasource,
            key=key,
            fix="percent-encode the password (urllib.parse.quote(password, safe='')), "
            "or give it in 'password'/'password_file' and leave it out of the URL",
        )


def mask_credentials(text: str) -> str:
    """``text`` with every credential in a URL, DSN or connection-string position
    replaced by ``***``: the password of a URL's userinfo, ``PWD=``/``password=``
    style pairs, and Oracle's ``user/password@host``."""
    if "://" in text:
        text = _URL_PASSWORD.sub(r"\1***@", text)
    if "=" in text:
        text = _CREDENTIAL_PAIR.sub(r"\1***", text)
    if "/" in text and "@" in text:
        text = _SLASH_CREDENTIALS.sub(r"\1***\3", text)
    return text


def credentials_in(text: str) -> list[str]:
    """The secrets :func:`mask_credentials` would hide in ``text`` (unquoted too)."""
    found: list[str] = []
    if "=" in text:
        for match in _CREDENTIAL_PAIR.finditer(text):
            value = match.group(2)
            if value[:1] in "{'\"" and len(value) >= 2:
                value = value[1:-1].replace("}}", "}")
            found.append(value)
    if "/" in text and "@" in text:
        found += [match.group(2) for match in _SLASH_CREDENTIALS.finditer(text)]
    return [value for value in found if value and value != "***"]


#: keys naming servers: a URL (with its credentials) there would be shown as a host
HOST_KEYS = frozenset({"host", "hosts", "contact_points", "node", "nodes"})
#: keys holding a name (of a user, database, keyspace...), never a URL
NAME_KEYS = frozenset(
    {"username", "user", "database", "keyspace", "db_name", "service_name", "sid", "tenant"}
)
#: a host name (IDN letters too), an IPv4/IPv6 address ("[::1]", "fe80::1%eth0"), ":port"
_HOST = re.compile(r"[\w.\-:\[\]%]*")


def _not_a_host(value: Any) -> bool:
    if isinstance(value, str):
        # a comma-separated list is split by the field's own validator
        return not all(_HOST.fullmatch(part.strip()) for part in value.split(","))
    if isinstance(value, (list, tuple)):
        return any(_not_a_host(item) for item in value)
    return False


#: keys holding URLs, whose percent-escapes ("%00") decode to what a driver sees
URL_KEYS = frozenset({"url", "uri", "connection_string"})
NUL_MESSAGE = (
    "contains a NUL byte (\\x00 or %00), which drivers read as the end of the value "
    "(the rest, e.g. port or sslmode, would be dropped)"
)


def has_nul(value: Any, *, decode_percent: bool = False) -> bool:
    """Whether a NUL character is anywhere in ``value`` (keys of tables included)."""
    if isinstance(value, SecretStr):
        value = value.get_secret_value()
    if isinstance(value, str):
        return "\x00" in value or (decode_percent and "%00" in value)
    if isinstance(value, Mapping):
        return any(
            has_nul(key, decode_percent=decode_percent)
            or has_nul(item, decode_percent=decode_percent)
            for key, item in value.items()
        )
    if isinstance(value, (list, tuple)):
        return any(has_nul(item, decode_percent=decode_percent) for item in value)
    return False


_INTEGER = re.compile(r"[+-]?(?:0|[1-9][0-9_]*)")
_FLOAT = re.compile(r"[+-]?(?:[0-9]+\.[0-9]*|\.[0-9]+|[0-9]+)(?:[eE][+-]?[0-9]+)?")


def env_scalar(text: str) -> Any:
    """An environment variable's text read as a TOML scalar where it is one:
    ``5`` -> 5, ``0.5`` -> 0.5, ``true``/``false`` -> bool; anything else stays text."""
    stripped = text.strip()
    if stripped.lower() in ("true", "false"):
        return stripped.lower() == "true"
    if _INTEGER.fullmatch(stripped):
        return int(stripped)
    if _FLOAT.fullmatch(stripped):
        number = float(stripped)
        if math.isfinite(number):
            return number
    return str(text)


def retype_env_values(model: type[BaseModel], data: Mapping[str, Any]) -> dict[str, Any]:
    """Values that came from environment variables, typed by where they go.

    A field with a declared type (a port, a bool, a password) gets the exact
    text and its own validation; a value inside a free-form table
    (``connect_args``, ``engine_options``, ...) has no declared type, so it is
    read as TOML would read it.
    """
    result: dict[str, Any] = {}
    for key, value in data.items():
        field = model.model_fields.get(key)
        result[key] = _retype(value, field.annotation if field is not None else Any)
    return result


def _retype(value: Any, annotation: Any) -> Any:
    if isinstance(value, EnvText):
        return env_scalar(value) if _admits_any(annotation) else str(value)
    if isinstance(value, Mapping):
        inner = _container_item(annotation, dict)
        return {key: _retype(item, inner) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        inner = _container_item(annotation, list)
        return [_retype(item, inner) for item in value]
    return value


def _admits_any(annotation: Any) -> bool:
    return annotation is Any or any(member is Any for member in _members(annotation))


def _container_item(annotation: Any, container: type) -> Any:
    """The item annotation of the ``container`` member of ``annotation`` (Any if unknown)."""
    if annotation is Any:
        return Any
    for member in _members(annotation):
        if (typing.get_origin(member) or member) is container:
            args = typing.get_args(member)
            if container is dict and len(args) == 2:
                return args[1]
            if container is list and args:
                return args[0]
            return Any
    return Any


def _has_surrogate(value: Any) -> bool:
    if isinstance(value, str):
        return not value.isascii() and any("\ud800" <= char <= "\udfff" for char in value)
    if isinstance(value, Mapping):
        return any(_has_surrogate(key) or _has_surrogate(item) for key, item in value.items())
    if isinstance(value, (list, tuple)):
        return any(_has_surrogate(item) for item in value)
    return False


_NUMERIC: dict[tuple[type[BaseModel], str], bool] = {}


def _numeric_field(model: type[BaseModel], name: str) -> bool:
    """Whether field ``name`` takes an int or a float and never a bool."""
    key = (model, name)
    if key not in _NUMERIC:
        field = model.model_fields.get(name)
        members = _members(field.annotation) if field is not None else []
        _NUMERIC[key] = (
            bool(members)
            and bool not in members
            and any(member in (int, float) for member in members)
        )
    return _NUMERIC[key]


def _members(annotation: Any) -> list[Any]:
    """The types a (possibly Optional/Union) annotation admits, without None."""
    if typing.get_origin(annotation) in (typing.Union, types.UnionType):
        return [arg for arg in typing.get_args(annotation) if arg is not type(None)]
    return [annotation]


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
        problem = _configuration_error(
            model, error, data, datasource=datasource, type_name=type_name
        )
    # raised outside the except block, so the ValidationError (whose text may
    # quote a validator's message about a value) is not kept as __context__
    raise problem


def _configuration_error(
    model: type[BaseOptions],
    error: ValidationError,
    data: Mapping[str, Any],
    *,
    datasource: str,
    type_name: str,
) -> ConfigurationError:
    known = sorted(model.model_fields)
    # location -> (message, fix); a union reports once per member, the first is kept
    problems: dict[str | None, tuple[str, str]] = {}
    for item in error.errors(include_input=False, include_url=False):
        location, annotation = _location(model, item["loc"])
        top = str(item["loc"][0]) if item["loc"] else None
        given = data.get(top) if top is not None else data
        message = _scrub(_message(item["msg"]), given, secret=top in model.secret_fields)
        if item["type"] == "extra_forbidden":
            close = difflib.get_close_matches(str(top), known, n=1)
            hint = f"did you mean {close[0]!r}? " if close else ""
            problem = (
                f"unknown key for type {type_name!r}",
                f"{hint}remove it, or see the {type_name} keys in the README: " + ", ".join(known),
            )
        elif item["type"] == "missing":
            problem = ("is required", f"set {location!r} (or give a 'url')")
        elif location is None:
            # a check across several keys (e.g. "give 'url', or 'host'"): the message says which
            problem = (message, f"see the {type_name} keys in the README")
        else:
            expected = (
                _describe_annotation(annotation) if annotation is not None else "a valid value"
            )
            problem = (message, f"give {expected}")
        problems.setdefault(location, problem)
    (key, (message, fix)), *others = problems.items()
    if others:
        also = "; ".join(f"{loc!r} {msg}" if loc is not None else msg for loc, (msg, _) in others)
        message = f"{message} (also: {also})"
    return ConfigurationError(message, datasource=datasource, key=key, fix=fix)


def _message(text: str) -> str:
    """pydantic's message as a clause: "Value error, must be ..." -> "must be ..."."""
    for prefix in ("Value error, ", "Assertion failed, "):
        text = text.removeprefix(prefix)
    if text[:1].isupper() and not text[1:2].isupper():  # keep acronyms ("URL ...")
        text = text[0].lower() + text[1:]
    return text


def _scrub(message: str, given: Any, *, secret: bool = False) -> str:
    """A validator's message with the given value, and any URL password in it, removed.

    pydantic's own messages never quote the input (``hide_input_in_errors``),
    but a validator's may (``urllib.parse`` quotes a URL's whole netloc, say).
    Short values of other keys stay: "one" may well be a word of the message.
    """
    for text in _strings(given):
        pieces = [text] if len(text) >= (3 if secret else 8) else []
        if "://" in text:
            authority = text.split("://", 1)[1]
            userinfo = authority.rpartition("@")[0]
            if ":" in userinfo:
                pieces.append(userinfo.split(":", 1)[1])
        for piece in sorted(pieces, key=len, reverse=True):
            if piece and piece in message:
                message = message.replace(piece, "***")
    return message


def _strings(value: Any) -> Iterator[str]:
    if isinstance(value, str):
        yield value
    elif isinstance(value, SecretStr):
        yield value.get_secret_value()
    elif isinstance(value, Mapping):
        for item in value.values():
            yield from _strings(item)
    elif isinstance(value, (list, tuple)):
        for item in value:
            yield from _strings(item)


def _location(model: type[BaseModel], loc: tuple[int | str, ...]) -> tuple[str | None, Any]:
    """("replicas.2", annotation there) for an error location, without pydantic's
    union-member tags ("echo.bool", "replicas.2.dict[str,any]"); (None, None) for
    an error about the model as a whole."""
    if not loc:
        return None, None
    field = model.model_fields.get(str(loc[0]))
    annotation: Any = field.annotation if field is not None else None
    parts = [str(loc[0])]
    #: the annotation at the location, before any trailing union tags narrowed it
    at_location = annotation
    for part in loc[1:]:
        members = _members(annotation) if annotation is not None else []
        if len(members) > 1 and isinstance(part, str):
            # a union member's tag, not a key: follow the member it names, if we can
            annotation = next((m for m in members if _tag_matches(m, part)), None)
            continue
        if len(members) == 1:
            annotation = members[0]
        parts.append(str(part))
        annotation = at_location = _item_annotation(annotation)
    return ".".join(parts), at_location


def _tag_matches(member: Any, tag: str) -> bool:
    origin = typing.get_origin(member) or member
    name = getattr(origin, "__name__", str(origin)).lower()
    if origin is typing.Literal:
        name = "literal"
    return tag.lower().startswith(name)


def _item_annotation(annotation: Any) -> Any:
    """The annotation of an item of a list or a value of a dict annotation."""
    members = _members(annotation) if annotation is not None else []
    if len(members) != 1:
        return None
    origin = typing.get_origin(members[0])
    args = typing.get_args(members[0])
    if origin is list and args:
        return args[0]
    if origin is dict and len(args) == 2:
        return args[1]
    return None


def _describe_annotation(annotation: Any) -> str:
    """Words for what a field accepts: 'a whole number', "one of 'a', 'b'"."""
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
