"""Every error a user can cause is one of these.

Each names the datasource and the settings key involved, and says how to fix it,
so that a log line is enough to act on. This module imports nothing, because
`import unifydb` re-exports it.
"""

from __future__ import annotations


class UnifyDBError(Exception):
    """Base class: ``datasource``, ``key`` and ``fix`` are kept as attributes."""

    def __init__(
        self,
        message: str,
        *,
        datasource: str | None = None,
        key: str | None = None,
        fix: str | None = None,
    ) -> None:
        self.message = message
        self.datasource = datasource
        self.key = key
        self.fix = fix
        super().__init__(self._render())

    def _render(self) -> str:
        where = []
        if self.datasource:
            where.append(f"datasource {self.datasource!r}")
        if self.key:
            where.append(f"key {self.key!r}")
        text = f"{', '.join(where)}: {self.message}" if where else self.message
        if self.fix:
            text += f"{'' if text.endswith(('.', '?', '!')) else '.'} Fix: {self.fix}"
        return text

    def __reduce__(self) -> tuple[object, ...]:
        # keyword-only constructor arguments would otherwise be lost when an
        # error crosses a process boundary (multiprocessing, pytest-xdist)
        return (_rebuild, (type(self), self.message, self.__dict__))


def _rebuild(cls: type[UnifyDBError], message: str, state: dict[str, object]) -> UnifyDBError:
    error = cls.__new__(cls)
    error.__dict__.update(state)
    Exception.__init__(error, error._render())
    return error


class ConfigurationError(UnifyDBError, ValueError):
    """The settings for a datasource are invalid."""


class NotConfiguredError(ConfigurationError):
    """A datasource's settings refer to environment variables that are not set."""

    def __init__(self, message: str, *, missing: list[str], **kwargs: str | None) -> None:
        self.missing = list(missing)
        super().__init__(message, **kwargs)


class UnknownDatasourceError(UnifyDBError, LookupError):
    """No datasource of that name is configured."""


class DatasourceRemovedError(UnknownDatasourceError):
    """The datasource was removed or replaced at runtime; it hands out nothing new."""


class UnknownTypeError(ConfigurationError):
    """A datasource names a ``type`` no implementation is registered for."""


class SettingsFileError(ConfigurationError):
    """A settings file is missing, unreadable or not valid TOML/YAML/JSON."""


class DriverNotInstalledError(UnifyDBError, ImportError):
    """The Python package a datasource needs is not installed."""

    def __init__(self, message: str, *, extra: str | None = None, **kwargs: str | None) -> None:
        self.extra = extra
        super().__init__(message, **kwargs)


class DatasourceConnectionError(UnifyDBError, ConnectionError):
    """Connecting to, or talking to, a datasource failed."""


class DatasourceTimeoutError(DatasourceConnectionError, TimeoutError):
    """A network operation did not finish within the datasource's ``timeout``."""


class UnsupportedOperationError(UnifyDBError, TypeError):
    """The operation does not apply to this kind of datasource (an engine from MongoDB, say)."""


__all__ = [
    "ConfigurationError",
    "DatasourceConnectionError",
    "DatasourceRemovedError",
    "DatasourceTimeoutError",
    "DriverNotInstalledError",
    "NotConfiguredError",
    "SettingsFileError",
    "UnifyDBError",
    "UnknownDatasourceError",
    "UnknownTypeError",
    "UnsupportedOperationError",
]
