"""Reading raw settings into an options model: lax where values arrive as text,
strict everywhere else, and never quoting a value in an error."""

from __future__ import annotations

import math
import re
import typing
from collections.abc import Callable, Mapping
from typing import Any

import msgspec

from unifydb.errors import ConfigurationError
from unifydb.settings import EnvText

from .model import OptionField, Options, OptionsT, RotatingSecret, Secret, decode, members
from .wording import problem_at, scrub, unknown_keys, validation_problem

#: keys holding URLs, whose percent-escapes ("%00") decode to what a driver sees
URL_KEYS = frozenset({"url", "uri", "connection_string"})
#: keys naming servers: a URL (with its credentials) there would be shown as a host
#: (Elasticsearch's node/nodes are URLs: its options refuse credentials in them)
HOST_KEYS = frozenset({"host", "hosts", "contact_points"})
#: keys holding a name (of a user, database, keyspace...), never a URL
NAME_KEYS = frozenset(
    {"username", "user", "database", "keyspace", "db_name", "service_name", "sid", "tenant"}
)
#: a host name (IDN letters too), an IPv4/IPv6 address ("[::1]", "fe80::1%eth0"), ":port"
_HOST = re.compile(r"[\w.\-:\[\]%]*")
NUL_MESSAGE = (
    "contains a NUL byte (\\x00 or %00), which drivers read as the end of the value "
    "(the rest, e.g. port or sslmode, would be dropped)"
)
_BOOLEAN_WORDS = {
    "true": True, "false": False, "yes": True, "no": False, "on": True, "off": False,
    "1": True, "0": False, "t": True, "f": False, "y": True, "n": False,
}  # fmt: skip
_INTEGER = re.compile(r"[+-]?(?:0|[1-9][0-9_]*)")
_FLOAT = re.compile(r"[+-]?(?:[0-9]+\.[0-9]*|\.[0-9]+|[0-9]+)(?:[eE][+-]?[0-9]+)?")


def parse_options(
    model: type[OptionsT], data: Mapping[str, Any], *, datasource: str, type_name: str
) -> OptionsT:
    """Validate ``data`` into ``model``, or raise a :class:`ConfigurationError`
    naming the datasource, the key, what it accepts and how to fix it; never the
    value (it could be a secret)."""
    fields = model.fields()
    data = _apply_aliases(model, data, datasource=datasource)
    unknown = [key for key in data if key not in fields]
    if unknown:
        raise unknown_keys(model, unknown, datasource=datasource, type_name=type_name)
    _check_credential_keys(fields, data, datasource=datasource, type_name=type_name)
    prepared: dict[str, Any] = {}
    problem: ConfigurationError | None = None
    for key, value in data.items():
        try:
            prepared[key] = _prepare(model, fields[key], value)
        except (ValueError, TypeError) as error:
            message = scrub(str(error), value, secret=key in model.secret_fields)
            problem = problem_at(model, key, message, datasource=datasource, type_name=type_name)
            break
    if problem is None:
        try:
            return msgspec.convert(prepared, model, strict=False, dec_hook=decode)
        except msgspec.ValidationError as error:
            problem = validation_problem(
                model, error, prepared, datasource=datasource, type_name=type_name
            )
    # raised outside the except blocks: the original error (whose text may quote a
    # value) is not kept as __context__
    raise problem


#: keys that each give the password a different way; at most one may be set
_PASSWORD_SOURCES = ("password", "password_command", "auth")


def _check_credential_keys(
    fields: Mapping[str, OptionField], data: Mapping[str, Any], *, datasource: str, type_name: str
) -> None:
    """``password_command`` and ``auth`` stand for the password: the type must have
    one, and only one way of giving it may be used."""
    given = [key for key in _PASSWORD_SOURCES if data.get(key) not in (None, "", [], {})]
    password = data.get("password")
    if isinstance(password, RotatingSecret) and password.derived_from is not None:
        given.remove("password")  # made from password_command or auth (a replica inherits it)
    if "password" not in fields:
        for key in given:
            raise ConfigurationError(
                f"type {type_name!r} has no password, so {key!r} has nothing to provide",
                datasource=datasource,
                key=key,
                fix=f"remove {key!r} (see the README's keys of {type_name})",
            )
    if len(given) > 1:
        first, second = given[:2]
        raise ConfigurationError(
            f"both {first!r} and {second!r} give the password",
            datasource=datasource,
            key=second,
            fix=f"keep only one of {first!r} (or {first}_file) and {second!r}"
            if first == "password"
            else f"keep only one of {first!r} and {second!r}",
        )


def _apply_aliases(
    model: type[Options], data: Mapping[str, Any], *, datasource: str
) -> Mapping[str, Any]:
    """``data`` with every alias (another project's name for a key) renamed to the
    key; the alias and the key both given with different values is an error."""
    aliases = {
        alias: key
        for cls in reversed(model.__mro__)
        for alias, key in vars(cls).get("aliases", {}).items()
    }
    if not aliases or not any(alias in data for alias in aliases):
        return data
    fields = model.fields()
    renamed = dict(data)
    for alias, key in aliases.items():
        if alias not in renamed:
            continue
        value = renamed.pop(alias)
        if key in renamed and not _same(renamed[key], value, fields[key]):
            raise ConfigurationError(
                f"both {key!r} and {alias!r} (another name for it) are given, with different "
                "values",
                datasource=datasource,
                key=alias,
                fix=f"keep one of them: {alias!r} is read as {key!r}",
            )
        renamed[key] = value
    return renamed


def _same(first: Any, second: Any, field: OptionField) -> bool:
    """Whether two raw values mean the same for ``field`` ("10" and 10.0 for a number)."""

    def typed(value: Any) -> Any:
        coerced = _coerce(value, field.annotation, field.name)
        return msgspec.convert(coerced, field.annotation, strict=False, dec_hook=decode)

    try:
        return bool(typed(first) == typed(second))
    except (ValueError, TypeError, msgspec.ValidationError):
        return bool(first == second)


def _prepare(model: type[Options], field: OptionField, value: Any) -> Any:
    """The generic checks and conversions of one raw value, then the model's preparer."""
    name = field.name
    preparer = _preparer(model, name)
    if preparer is not None:
        value = preparer(value)
    _check_text(name, value)
    return _coerce(value, field.annotation, name)


def _preparer(model: type[Options], name: str) -> Callable[[Any], Any] | None:
    for cls in model.__mro__:
        found = cls.__dict__.get("preparers", {}).get(name)
        if found is not None:
            return found  # type: ignore[no-any-return]
    return None


def _check_text(name: str, value: Any) -> None:
    if _has_surrogate(value):
        # "\ud800" in JSON/YAML, or bytes that are not UTF-8 in an environment
        # variable: no driver, URL or log line can encode it
        raise ValueError(
            "is not valid Unicode text (it holds a lone surrogate, e.g. from a "
            "\\ud800 escape or bytes that are not UTF-8)"
        )
    # C drivers (libpq, the ODBC and MySQL client libraries) end a string at a
    # NUL: everything after it (port, sslmode, ...) would be silently dropped
    if has_nul(value, decode_percent=name in URL_KEYS):
        raise ValueError(NUL_MESSAGE)
    if name in NAME_KEYS and isinstance(value, str) and "://" in value:
        raise ValueError("looks like a URL, not a name; a whole URL goes in 'url'")
    if name in HOST_KEYS and _not_a_host(value):
        raise ValueError(
            "must be host names or IP addresses (optionally host:port): letters, "
            "digits, '.', '-', '_', ':' and brackets; a whole URL goes in 'url'"
        )


def _coerce(value: Any, annotation: Any, where: str) -> Any:
    """Lax reading of values that came as text or as the wrong number kind.

    Text from environment variables (:class:`~unifydb.settings.EnvText`) is
    kept as text where the field takes text and read as a TOML scalar where it
    takes anything (inside free-form tables); numbers become text for text
    fields (a password of digits in TOML); words such as "yes"/"off" become
    booleans; a boolean never passes for a number, nor does nan or infinity.
    """
    kinds = members(annotation)
    if isinstance(value, EnvText):
        if any(kind is Any for kind in kinds):
            return env_scalar(value)
        value = str(value)
    if isinstance(value, bool):
        if any(kind in (int, float) for kind in kinds) and bool not in kinds:
            raise ValueError("must be a number, not true/false")
        return value
    if isinstance(value, (int, float)):
        if isinstance(value, float) and not math.isfinite(value):
            if not any(kind is Any for kind in kinds):
                raise ValueError("must be a finite number")
            return value
        if int not in kinds and float not in kinds and any(k in (str, Secret) for k in kinds):
            return str(value)
        if int in kinds and float not in kinds and isinstance(value, float):
            return int(value) if value.is_integer() else value
        return value
    if isinstance(value, str):
        if bool in kinds and value.strip().lower() in _BOOLEAN_WORDS:
            return _BOOLEAN_WORDS[value.strip().lower()]
        if float in kinds and str not in kinds:
            try:
                number = float(value)
            except ValueError:
                return value
            if not math.isfinite(number):
                raise ValueError("must be a finite number")
        return value
    if isinstance(value, Mapping):
        inner = _container_item(annotation, dict)
        return {key: _coerce(item, inner, f"{where}.{key}") for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        inner = _container_item(annotation, list)
        return [_coerce(item, inner, f"{where}.{index}") for index, item in enumerate(value)]
    return value


def _container_item(annotation: Any, container: type) -> Any:
    """The item annotation of the ``container`` member of ``annotation`` (Any if unknown)."""
    if annotation is Any:
        return Any
    for member in members(annotation):
        if (typing.get_origin(member) or member) is container:
            args = typing.get_args(member)
            if container is dict and len(args) == 2:
                return args[1]
            if container is list and args:
                return args[0]
            return Any
    return Any


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


def has_nul(value: Any, *, decode_percent: bool = False) -> bool:
    """Whether a NUL character is anywhere in ``value`` (keys of tables included)."""
    if isinstance(value, RotatingSecret):
        return False  # its source checks every value it reads
    if isinstance(value, Secret):
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


def _has_surrogate(value: Any) -> bool:
    if isinstance(value, str):
        return not value.isascii() and any("\ud800" <= char <= "\udfff" for char in value)
    if isinstance(value, Mapping):
        return any(_has_surrogate(key) or _has_surrogate(item) for key, item in value.items())
    if isinstance(value, (list, tuple)):
        return any(_has_surrogate(item) for item in value)
    return False


def _not_a_host(value: Any) -> bool:
    if isinstance(value, str):
        # a comma-separated list is split by the field's own preparer
        return not all(_HOST.fullmatch(part.strip()) for part in value.split(","))
    if isinstance(value, (list, tuple)):
        return any(_not_a_host(item) for item in value)
    return False


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
