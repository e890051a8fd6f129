"""The settings side of a registry: names, raw entries, types, and what can be
known about a datasource without building it."""

from __future__ import annotations

import difflib
import threading
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from unifydb.drivers import missing_modules
from unifydb.errors import (
    ConfigurationError,
    NotConfiguredError,
    UnifyDBError,
    UnknownDatasourceError,
)
from unifydb.settings import (
    PlaceholderError,
    missing_variables,
    resolve_placeholders,
    unresolved_variables,
)

from .types import available_types, canonical_type, is_known_type, load_type, type_info


@dataclass(frozen=True)
class EntryInfo:
    """What can be known about a configured datasource without connecting."""

    name: str
    type: str
    known_type: bool
    extra: str | None
    driver_installed: bool | None
    missing_variables: tuple[str, ...]
    problem: str | None = None
    #: the settings' validation error (an entry ``unifydb show`` would refuse)
    invalid: str | None = None

    @property
    def configured(self) -> bool:
        return not self.missing_variables and self.problem is None and self.invalid is None

    @property
    def status(self) -> str:
        """``ok``, ``not_configured`` (variables unset), ``unknown_type``,
        ``invalid`` (the settings do not validate) or ``error`` (anything else)."""
        if self.missing_variables:
            return "not_configured"
        if not self.known_type and self.problem is not None and self.type != "?":
            return "unknown_type"
        if self.problem is not None:
            return "error"
        return "invalid" if self.invalid is not None else "ok"


# ----------------------------------------------------------------------------- registry


class SettingsView:
    """What a :class:`~unifydb.Registry` knows from its settings alone."""

    _source: Any
    _env_file: Any
    _environ: Mapping[str, str] | None
    _entries: dict[str, Any] | None
    #: datasources added, replaced (an entry) or removed (None) at runtime;
    #: they stay so across reload()
    _runtime: dict[str, dict[str, Any] | None]
    #: the variables as they were when the settings were read (reload compares)
    _environ_seen: dict[str, str]
    _lock: threading.RLock

    @property
    def environ(self) -> Mapping[str, str]:
        """The variables placeholders and ``UNIFYDB_*`` overrides come from: the
        process's environment over the ``env_file`` (``--env-file``, or
        ``UNIFYDB_ENV_FILE``), read once, when first needed."""
        environ = self._environ
        if environ is None:
            from unifydb.settings import environment

            environ = self._environ = environment(self._env_file)
        return environ

    # ------------------------------------------------------------------ settings

    @property
    def entries(self) -> dict[str, Any]:
        """The raw settings of every datasource (placeholders unresolved)."""
        entries = self._entries
        if entries is None:
            with self._lock:
                if self._entries is None:
                    from unifydb.settings import from_source

                    loaded = from_source(self._source, self.environ)
                    self._environ_seen = dict(self.environ)
                    for name, entry in self._runtime.items():
                        if entry is None:
                            loaded.pop(name, None)
                        else:
                            loaded[name] = entry
                    self._entries = loaded
                entries = self._entries
        return entries

    def names(self) -> list[str]:
        """Configured datasource names, in settings order, templates left out.
        Imports no implementation."""
        return [name for name, entry in self.entries.items() if not is_template(entry)]

    def templates(self) -> list[str]:
        """Names of the templates (``template = true``): one datasource per tenant."""
        return [name for name, entry in self.entries.items() if is_template(entry)]

    def __contains__(self, name: object) -> bool:
        return isinstance(name, str) and name.lower() in self.entries

    def __iter__(self) -> Any:
        return iter(self.names())

    def entry(self, name: str) -> dict[str, Any]:
        key = name.lower()
        try:
            entry = self.entries[key]
        except KeyError:
            close = difflib.get_close_matches(key, self.names(), n=1)
            raise UnknownDatasourceError(
                f"no datasource named {name!r} is configured",
                datasource=name,
                fix=(f"did you mean {close[0]!r}? " if close else "")
                + f"configured: {', '.join(self.names()) or 'none'}; "
                f"add [datasources.{key}] to settings.toml",
            ) from None
        if not isinstance(entry, Mapping):
            raise ConfigurationError(
                f"settings must be a table of options, not {type(entry).__name__}",
                datasource=key,
                fix=f"write [datasources.{key}] with keys such as type, host, port",
            )
        return dict(entry)

    def type_of(self, name: str) -> str:
        """The type a datasource uses: its ``type`` key, or its own name."""
        return self.type_of_entry(name, self.entry(name))

    def type_of_entry(self, name: str, entry: Mapping[str, Any], default: str | None = None) -> str:
        """The type ``entry`` declares; else ``default``, else the name."""
        declared = entry.get("type")
        if declared is None or (isinstance(declared, str) and not declared.strip()):
            return canonical_type(default or name)
        if not isinstance(declared, str):
            raise ConfigurationError(
                f"'type' must be a string, not {type(declared).__name__}",
                datasource=name.lower(),
                key="type",
                fix=f"set type to one of {', '.join(available_types())}",
            )
        missing = missing_variables(declared, self.environ)
        if missing:
            raise NotConfiguredError(
                f"not configured: environment variable {missing[0]} is not set",
                missing=missing,
                datasource=name.lower(),
                key="type",
                fix=f"export {missing[0]}=...",
            )
        try:
            resolved, _ = resolve_placeholders(declared, self.environ)
        except PlaceholderError as error:
            raise ConfigurationError(
                str(error),
                datasource=name.lower(),
                key="type",
                fix="see 'Placeholders' in the README",
            ) from None
        # an empty value means "not given" here as everywhere: the name is the type
        return canonical_type(resolved if resolved.strip() else default or name)

    def inspect(self, name: str, *, validate: bool = True) -> EntryInfo:
        """Type, driver, placeholder and validation state of one datasource.

        Connects nothing and imports no driver; with ``validate`` (the default)
        the settings are validated as :meth:`build` would, which imports the
        type's implementation module (not its driver).
        """
        key = name.lower()
        try:
            entry = self.entry(key)
            type_name = self.type_of(key)
        except NotConfiguredError as error:
            return EntryInfo(key, "?", False, None, None, tuple(error.missing))
        except UnifyDBError as error:
            return EntryInfo(key, "?", False, None, None, (), problem=str(error))
        known = is_known_type(type_name)
        info = type_info(type_name) if known else None
        extra: str | None = None
        installed: bool | None = None
        if info is not None:
            # the driver this datasource's settings pick (sqlserver's dbapi, a
            # Milvus Lite file), read without resolving what cannot be resolved
            try:
                settings, _ = resolve_placeholders(entry, self.environ)
            except PlaceholderError:
                settings = entry  # reported below, with the key
            extra = info.extra
            installed = not missing_modules(info.driver_modules(settings))
        elif known:
            try:
                cls = load_type(type_name, datasource=key)
                extra = cls.extra
                installed = not missing_modules(cls.driver_modules)
            except UnifyDBError as error:
                return EntryInfo(key, type_name, True, None, None, (), problem=str(error))
        try:
            missing = tuple(unresolved_variables(entry, _url_fields(type_name), self.environ))
        except PlaceholderError as error:
            return EntryInfo(key, type_name, known, extra, installed, (), problem=str(error))
        problem = None if known else f"unknown type {type_name!r}"
        invalid = None
        if validate and known and not missing:
            try:
                self.validate(key)
            except NotConfiguredError as error:  # a variable unset where it matters
                missing = tuple(error.missing)
            except UnifyDBError as error:
                invalid = str(error)
        return EntryInfo(key, type_name, known, extra, installed, missing, problem, invalid)

    def validate(self, name: str) -> None:  # the Registry's
        raise NotImplementedError


#: keys the registry reads itself: they never reach a datasource's options
REGISTRY_KEYS = frozenset({"template", "max_open", "required"})


def is_template(entry: Any) -> bool:
    if not isinstance(entry, Mapping):
        return False
    value = entry.get("template")
    return value is True or (isinstance(value, str) and value.strip().lower() == "true")


def registry_flag(name: str, entry: Mapping[str, Any], key: str, default: bool) -> bool:
    """``template`` or ``required``: a boolean, written as one or as "true"/"false"."""
    value = entry.get(key, default)
    if isinstance(value, str) and value.strip().lower() in ("true", "false"):
        return value.strip().lower() == "true"
    if not isinstance(value, bool):
        raise ConfigurationError(
            f"{key!r} must be true or false, not {value!r}",
            datasource=name,
            key=key,
            fix=f"write {key} = true (or false)",
        )
    return value


def _url_fields(type_name: str) -> frozenset[str]:
    from unifydb.settings import URL_FIELDS

    info = type_info(type_name)
    return info.url_fields if info is not None else URL_FIELDS
