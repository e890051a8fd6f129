"""Datasources that change while the application runs: add, replace, remove,
reload, and tenants of templates.

Every change is atomic per name: a caller gets the old datasource or the new
one, never a mix. What is replaced or removed refuses new work at once and is
closed once its connections come back (or its drain timeout passes), so
requests already running on it finish.
"""

from __future__ import annotations

import threading
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from unifydb.errors import ConfigurationError, UnifyDBError

from .entries import SettingsView, is_template
from .tenants import TenantSet, max_open, not_a_template, tenant_settings

if TYPE_CHECKING:
    from unifydb.base import Datasource

    from .draining import Drainer


@dataclass
class ReloadResult:
    """What :meth:`Registry.reload` found, by datasource name."""

    added: list[str] = field(default_factory=list)
    changed: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)


class RuntimeChanges(SettingsView):
    """The part of :class:`~unifydb.Registry` that changes its datasources while it runs."""

    _datasources: dict[str, Datasource[Any]]
    _engines: dict[str, Any]
    _name_locks: dict[str, threading.Lock]
    _versions: dict[str, int]
    _tenants: dict[str, TenantSet]
    _drainer: Drainer

    def build_entry(
        self, name: str, entry: Any, *, default_type: str | None = None
    ) -> Datasource[Any]:
        raise NotImplementedError  # the Registry's

    # ------------------------------------------------------------------ changes

    def add(self, name: str, settings: Mapping[str, Any]) -> Datasource[Any] | None:
        """Add a datasource (or a template) while running; validated and built
        now, connected on first use; returns it (None for a template). A name
        already configured is an error: use :meth:`replace`."""
        key, entry = _normalized(name, settings)
        if key in self.entries:
            raise ConfigurationError(
                "is already configured",
                datasource=key,
                fix=f"use registry.replace({key!r}, settings) to change it",
            )
        return self._install(key, entry)

    def replace(
        self, name: str, settings: Mapping[str, Any], *, drain_timeout: float | None = None
    ) -> Datasource[Any] | None:
        """Swap a datasource's settings atomically; the old one drains (see :meth:`remove`)."""
        key, entry = _normalized(name, settings)
        self.entry(key)  # an unknown name is an error, as for remove
        return self._install(key, entry, drain_timeout=drain_timeout)

    def remove(self, name: str, *, drain_timeout: float | None = None) -> None:
        """Remove a datasource while running: new checkouts are refused at once,
        and it is closed once in-flight work returns, or after ``drain_timeout``
        seconds (default: its ``timeout``) whatever is still checked out."""
        key = name.lower()
        self.entry(key)
        with self._name_lock(key), self._lock:
            self._runtime[key] = None
            entries = dict(self.entries)
            del entries[key]
            self._entries = entries
            old = self._forget(key)
        self._drain(key, old, drain_timeout)

    def reload(self, *, drain_timeout: float | None = None) -> ReloadResult:
        """Read the settings (and the environment, and the env file) again.

        Datasources whose settings are unchanged are untouched, even in use;
        changed ones drain and are built anew on next use; removed ones drain.
        Runtime changes (:meth:`add`, :meth:`replace`, :meth:`remove`) are kept.
        """
        from unifydb.settings import from_source

        old_entries, old_environ = self.entries, self._environ_seen
        self._environ = None
        environ = dict(self.environ)
        loaded = from_source(self._source, environ)
        for name, entry in self._runtime.items():
            if entry is None:
                loaded.pop(name, None)
            else:
                loaded[name] = entry
        result = ReloadResult()
        retiring: list[tuple[str, Datasource[Any] | None]] = []
        with self._lock:
            for name, entry in loaded.items():
                if name not in old_entries:
                    result.added.append(name)
                elif _fingerprint(entry, environ) == _fingerprint(old_entries[name], old_environ):
                    result.unchanged.append(name)
                else:
                    result.changed.append(name)
            result.removed = [name for name in old_entries if name not in loaded]
            for name in result.changed + result.removed:
                self._versions[name] = self._versions.get(name, 0) + 1
                retiring.append((name, self._forget(name)))
            self._entries, self._environ_seen = loaded, environ
        for name, datasource in retiring:
            self._drain(name, datasource, drain_timeout)
        return result

    # ------------------------------------------------------------------ tenants

    def tenant(self, template: str, tenant: str) -> Datasource[Any]:
        """The datasource of one tenant of a template, created on first use."""
        key = template.lower()
        entry = self.entry(key)
        if not is_template(entry):
            raise not_a_template(key)
        tenants = self._tenants.get(key)
        if tenants is None:
            with self._lock:
                tenants = self._tenants.get(key)
                if tenants is None:
                    tenants = TenantSet(key, max_open(key, entry), self._drainer)
                    self._tenants[key] = tenants
        return tenants.get(
            tenant,
            lambda: self.build_entry(
                f"{key}/{tenant}", tenant_settings(key, entry, tenant), default_type=key
            ),
        )

    def open_tenants(self, template: str) -> list[Datasource[Any]]:
        """The tenants of ``template`` open right now, least recently used first."""
        tenants = self._tenants.get(template.lower())
        return tenants.open() if tenants is not None else []

    def check_template(self, key: str, entry: Mapping[str, Any]) -> None:
        """Validate a template by building one sample tenant (nothing connects)."""
        max_open(key, entry)
        self.build_entry(f"{key}/check", tenant_settings(key, entry, "check"), default_type=key)

    # ------------------------------------------------------------------ internals

    def _install(
        self, key: str, entry: dict[str, Any], *, drain_timeout: float | None = None
    ) -> Datasource[Any] | None:
        if is_template(entry):
            # a template is checked by building one tenant (nothing connects)
            self.build_entry(f"{key}/check", tenant_settings(key, entry, "check"), default_type=key)
            max_open(key, entry)
            datasource = None
        else:
            datasource = self.build_entry(key, entry)
            datasource.initialize()
        with self._name_lock(key), self._lock:
            self._runtime[key] = entry
            self._entries = {**self.entries, key: entry}
            old = self._forget(key)
            if datasource is not None:
                self._datasources[key] = datasource
        self._drain(key, old, drain_timeout)
        return datasource

    def _forget(self, key: str) -> Datasource[Any] | None:
        """Drop ``key``'s datasource and cached engines (under ``self._lock``)."""
        self._versions[key] = self._versions.get(key, 0) + 1
        old = self._datasources.get(key)
        for alias in [alias for alias in self._datasources if alias.lower() == key]:
            del self._datasources[alias]
        for alias in [alias for alias in self._engines if alias.lower() == key]:
            del self._engines[alias]
        return old

    def _drain(self, key: str, old: Datasource[Any] | None, timeout: float | None) -> None:
        if old is not None:
            self._drainer.retire(old, old.timeout if timeout is None else timeout)
        tenants = self._tenants.pop(key, None)
        if tenants is not None:
            tenants.drain()

    def _name_lock(self, key: str) -> threading.Lock:
        with self._lock:
            return self._name_locks.setdefault(key, threading.Lock())


def _normalized(name: str, settings: Mapping[str, Any]) -> tuple[str, dict[str, Any]]:
    """One entry as the settings files would give it: a plain table, names and
    keys checked and lower-cased."""
    from unifydb.settings import merge_environments

    if not isinstance(name, str):
        raise ConfigurationError(
            f"a datasource name must be a string, not {type(name).__name__}",
            fix="e.g. registry.add('orders', {...})",
        )
    if not isinstance(settings, Mapping):
        raise ConfigurationError(
            f"settings must be a mapping of options, not {type(settings).__name__}",
            datasource=name.lower(),
            fix="pass a dict such as {'type': 'postgres', 'host': ...}",
        )
    tree = merge_environments({"datasources": {name: dict(settings)}}, None)
    ((key, entry),) = tree.items()
    return key, entry


def _fingerprint(entry: Any, environ: Mapping[str, str]) -> tuple[str, str]:
    """An entry as written and as resolved: a changed environment variable changes it."""
    from unifydb.settings import PlaceholderError, resolve_placeholders

    try:
        resolved: Any = resolve_placeholders(entry, environ)[0]
    except (PlaceholderError, UnifyDBError) as error:
        resolved = f"unresolved: {error}"
    return repr(entry), repr(resolved)
