"""Typed options: what a datasource's settings may hold, and their validation.

A backend declares its options as a subclass of :class:`Options`, a
``msgspec.Struct``: typed fields with defaults, constraints and a
description each (``Annotated[Port | None, doc("...")] = 5432``), checks
across keys in ``__post_init__``, and per-key preparation (splitting a
comma-separated list, say) in ``preparers``. msgspec imports in a few
milliseconds and validates in microseconds, so the first query of a process
does not wait for a validation library.

Values arrive as strings from environment variables as often as typed values
from TOML, so "5432" is read as an int and "false" as a bool where a field
asks for one, and nothing else loosely: unknown keys are errors (with a
did-you-mean), numbers never pass for booleans, non-finite numbers and NUL
characters are refused, and secrets are :class:`Secret`, which never prints
its value. Every problem becomes a :class:`~unifydb.errors.ConfigurationError`
that names the datasource and the key, says what the key accepts, and never
echoes the value.
"""

from __future__ import annotations

import types
import typing
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any, ClassVar, TypeVar

import msgspec
from msgspec import Meta

from unifydb._deadline import DEFAULT_TIMEOUT, MAX_TIMEOUT
from unifydb.redaction import mask_secrets, url_passwords


def doc(text: str) -> Meta:
    """A field's description, shown in the README's options reference."""
    return Meta(description=text)


Port = Annotated[int, Meta(ge=1, le=65535)]
PositiveInt = Annotated[int, Meta(ge=1)]
NonNegativeInt = Annotated[int, Meta(ge=0)]
PositiveFloat = Annotated[float, Meta(gt=0)]
Seconds = Annotated[float, Meta(gt=0, le=MAX_TIMEOUT)]


class Secret:
    """A secret string: ``repr`` and ``str`` never show it; ``get_secret_value()`` does."""

    __slots__ = ("_value",)

    def __init__(self, value: str) -> None:
        self._value = value

    def get_secret_value(self) -> str:
        return self._value

    def __repr__(self) -> str:
        return "Secret('**********')" if self._value else "Secret('')"

    def __str__(self) -> str:
        return "**********" if self._value else ""

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Secret) and other._value == self._value

    def __hash__(self) -> int:
        return hash(self._value)

    def __bool__(self) -> bool:
        return bool(self._value)

    def __reduce__(self) -> tuple[Any, ...]:
        return (Secret, (self._value,))

    def known_values(self) -> list[str]:
        """Every value of this secret seen so far, for scrubbing messages (never resolves)."""
        return [self._value] if self._value else []


class SecretSource(typing.Protocol):
    """Where a :class:`RotatingSecret` gets its value: a watched file, a command, a
    token provider, a secret manager."""

    def current(self) -> str:
        """The value to use now (cached while still valid)."""

    def refresh(self) -> str:
        """Resolve again, whatever the cache says (after an authentication failure)."""

    def known(self) -> list[str]:
        """Every value seen so far (for scrubbing), without resolving anything."""

    def stale(self) -> bool:
        """Whether :meth:`current` would resolve again (a cheap check)."""


class RotatingSecret(Secret):
    """A secret whose value may change while the process runs: each new connection
    asks its source, which re-reads a changed file, re-runs a command once its
    value is older than ``credential_ttl``, or renews a token before it expires."""

    __slots__ = ("derived_from", "source")

    def __init__(self, source: SecretSource, derived_from: str | None = None) -> None:
        super().__init__("")
        self.source = source
        #: the key this secret was made from (``password_command``, ``auth``), if any:
        #: such a secret is rebuilt from that key, never counted as given itself
        self.derived_from = derived_from

    def get_secret_value(self) -> str:
        return self.source.current()

    def refresh(self) -> str:
        return self.source.refresh()

    def known_values(self) -> list[str]:
        return self.source.known()

    def __repr__(self) -> str:
        return "Secret('**********')"

    def __str__(self) -> str:
        return "**********"

    def __bool__(self) -> bool:
        return True

    def __eq__(self, other: object) -> bool:
        return isinstance(other, RotatingSecret) and other.source is self.source

    def __hash__(self) -> int:
        return id(self.source)

    def __reduce__(self) -> tuple[Any, ...]:
        return (RotatingSecret, (self.source, self.derived_from))


class OptionError(ValueError):
    """Raised by a check across keys (``__post_init__``) or a preparer; ``key``
    names the key to blame (None: several keys together)."""

    def __init__(self, message: str, key: str | None = None) -> None:
        super().__init__(message)
        self.key = key


def number_as_text(value: Any) -> Any:
    """A number where a URL or path is expected, as the text an environment
    variable would hold: so a preparer judges ``0`` and ``"0"`` alike."""
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return str(value)
    return value


def split_list(value: Any) -> Any:
    """A preparer: "a, b,,c" -> ["a", "b", "c"] (one variable can hold a list)."""
    if isinstance(value, str):
        return [part.strip() for part in value.split(",") if part.strip()]
    return value


def split_command(value: Any) -> Any:
    """A preparer: "vault read -field=pw db" -> ["vault", "read", "-field=pw", "db"]."""
    if isinstance(value, str):
        import shlex

        return shlex.split(value)
    return value


class Options(msgspec.Struct, forbid_unknown_fields=True, frozen=True, kw_only=True):
    """Keys every datasource type accepts."""

    type: Annotated[str | None, doc("Implementation to use; defaults to the entry's name.")] = None
    timeout: Annotated[Seconds, doc("Seconds that bound connecting and health checks.")] = (
        DEFAULT_TIMEOUT
    )
    password_command: Annotated[
        list[str] | None,
        doc(
            "A command (a list, or one string split like a shell) whose output is the "
            "password, run when a new connection needs it; reused for credential_ttl."
        ),
    ] = None
    auth: Annotated[
        str | dict[str, Any] | None,
        doc(
            "A token provider instead of a password: 'aws_rds_iam', 'azure_entra', a "
            "unifydb.credentials plugin, or a table {provider = '...', ...options}."
        ),
    ] = None
    credential_ttl: Annotated[
        Seconds,
        doc("Seconds a password from password_command or a ${secret:...} value is reused."),
    ] = 300.0
    connect_retries: Annotated[
        Annotated[int, Meta(ge=0, le=100)],
        doc(
            "Retries of a connect that failed for a transient reason (refused, "
            "unreachable, starting up); never for a rejected login."
        ),
    ] = 0
    retry_backoff: Annotated[
        Annotated[float, Meta(gt=0, le=60)],
        doc(
            "Seconds before the first retry, doubled each time, with jitter; all "
            "attempts together stay within timeout."
        ),
    ] = 0.5

    #: keys whose values are secrets; each also has a ``<key>_file`` twin
    secret_fields: ClassVar[tuple[str, ...]] = ()
    #: key -> function run on the raw value before validation
    preparers: ClassVar[Mapping[str, Callable[[Any], Any]]] = {
        "password_command": split_command,
    }
    #: other names a key is also known by (another project's settings) -> the key
    aliases: ClassVar[Mapping[str, str]] = {}
    #: keys that belong to the application, not to unifydb: kept, unvalidated,
    #: readable as ``datasource.settings`` (``application_keys`` adds more)
    application_keys: ClassVar[frozenset[str]] = frozenset()

    @classmethod
    def fields(cls) -> dict[str, OptionField]:
        """Every key: its type, default, description and constraints."""
        return _fields(cls)

    def items(self) -> Iterator[tuple[str, Any]]:
        for name in self.fields():
            yield name, getattr(self, name)

    def to_dict(self) -> dict[str, Any]:
        """The options as a dict (secrets stay :class:`Secret` objects)."""
        return dict(self.items())

    def redacted(self) -> dict[str, Any]:
        """The options as plain data with every secret replaced by ``'***'``.

        Besides the secret fields, values under credential-like keys inside
        tables (``connect_args = {password = ...}``, query parameters, replica
        tables, ...) and credentials inside strings (URL passwords, ``PWD=``,
        ``user/password@``) are hidden. Unset (None) keys are left out.
        """
        data: dict[str, Any] = {}
        for name, value in self.items():
            if value is None:
                continue
            data[name] = str(value) if isinstance(value, Path) else mask_secrets(value)
        return data

    def __repr__(self) -> str:
        shown = ", ".join(f"{name}={value!r}" for name, value in self.redacted().items())
        return f"{type(self).__name__}({shown})"

    def __rich_repr__(self) -> list[tuple[str, Any]]:  # type: ignore[override]
        return list(self.redacted().items())


OptionsT = TypeVar("OptionsT", bound=Options)


class _Required:
    def __repr__(self) -> str:
        return "REQUIRED"


REQUIRED: Any = _Required()


@dataclass(frozen=True)
class OptionField:
    """One key of an options model."""

    name: str
    #: the type, with constraints and descriptions stripped
    annotation: Any
    default: Any
    description: str
    #: ge/gt/le/lt/min_length of the (first) constrained member
    constraints: Mapping[str, Any]

    @property
    def required(self) -> bool:
        return self.default is REQUIRED


_FIELDS: dict[type, dict[str, OptionField]] = {}


def _fields(model: type[Options]) -> dict[str, OptionField]:
    cached = _FIELDS.get(model)
    if cached is not None:
        return cached
    result: dict[str, OptionField] = {}
    # msgspec resolved the annotations already (typing.get_type_hints would
    # evaluate every one of them again: milliseconds on the first query)
    for info in msgspec.structs.fields(model):
        metas: list[Meta] = []
        annotation = _strip(info.type, metas)
        if info.default is not msgspec.NODEFAULT:
            default = info.default
        elif info.default_factory is not msgspec.NODEFAULT:
            default = info.default_factory()
        else:
            default = REQUIRED
        description = next((m.description for m in metas if m.description), "") or ""
        constraints = {
            name: getattr(meta, name)
            for meta in metas
            for name in ("ge", "gt", "le", "lt", "min_length")
            if getattr(meta, name) is not None
        }
        result[info.name] = OptionField(info.name, annotation, default, description, constraints)
    _FIELDS[model] = result
    return result


def _strip(annotation: Any, metas: list[Meta]) -> Any:
    """``annotation`` without Annotated wrappers (their Metas collected)."""
    if typing.get_origin(annotation) is Annotated:
        base, *extras = typing.get_args(annotation)
        metas.extend(extra for extra in extras if isinstance(extra, Meta))
        return _strip(base, metas)
    origin = typing.get_origin(annotation)
    if origin in (typing.Union, types.UnionType):
        members = tuple(_strip(arg, metas) for arg in typing.get_args(annotation))
        return typing.Union[members]  # noqa: UP007 - built from a tuple
    if origin in (list, dict, tuple):
        args = tuple(_strip(arg, []) for arg in typing.get_args(annotation))
        return origin[args] if len(args) > 1 else origin[args[0]]
    return annotation


def members(annotation: Any) -> list[Any]:
    """The types a (possibly Optional/Union) annotation admits, without None."""
    if typing.get_origin(annotation) in (typing.Union, types.UnionType):
        return [arg for arg in typing.get_args(annotation) if arg is not type(None)]
    return [annotation]


def secret_strings(options: Options) -> list[str]:
    """Every secret value the options hold, and the passwords of URLs among them."""
    values: list[str] = []
    for name in options.secret_fields:
        value = getattr(options, name, None)
        if isinstance(value, Secret):
            for text in value.known_values():
                values.append(text)
                values.extend(url_passwords(text))
    return values


def decode(kind: type, value: Any) -> Any:
    """msgspec's hook for types it does not know."""
    if kind is Secret:
        if isinstance(value, Secret):
            return value
        if isinstance(value, str):
            return Secret(value)
        raise TypeError("must be a string")
    if kind is Path and isinstance(value, str):
        return Path(value)
    raise NotImplementedError
