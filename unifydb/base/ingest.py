"""From a raw settings entry to the values a datasource's options are validated from."""

from __future__ import annotations

from collections.abc import Callable, Collection, Mapping
from typing import Any

from unifydb._deadline import DEFAULT_TIMEOUT
from unifydb.errors import (
    ConfigurationError,
    DatasourceTimeoutError,
    DriverNotInstalledError,
    NotConfiguredError,
    UnifyDBError,
)
from unifydb.options import RotatingSecret
from unifydb.settings import URL_FIELDS, PlaceholderError, is_covered, resolve_placeholders
from unifydb.settings.secret_refs import SecretProviderError, has_references, substitute

from .sources import ReferenceSource

#: seconds a ${secret:...} value is reused unless the entry says otherwise
DEFAULT_CREDENTIAL_TTL = 300.0


def resolve_entry(
    name: str,
    entry: Mapping[str, Any],
    url_fields: frozenset[str] = URL_FIELDS,
    environ: Mapping[str, str] | None = None,
    secret_fields: Collection[str] = (),
) -> dict[str, Any]:
    """``entry`` with its placeholders resolved and empty values dropped (an empty
    value means "not given", so defaults apply).

    Unset variables are an error only for keys nothing else covers (a
    ``password`` whose ``password_file`` is given, a field a ``url`` holds):
    :class:`NotConfiguredError` names every variable still needed.

    ``${secret:...}`` references are fetched here (bounded by the entry's
    ``timeout``); in a secret key (``secret_fields``) the value becomes a
    :class:`~unifydb.options.RotatingSecret` fetched again after
    ``credential_ttl``.
    """
    resolved: dict[str, Any] = {}
    unresolved: dict[str, list[str]] = {}
    timeout = _seconds(entry, ("timeout", "connection_timeout"), DEFAULT_TIMEOUT)
    ttl = _seconds(entry, ("credential_ttl",), DEFAULT_CREDENTIAL_TTL)
    for key, raw in entry.items():
        rotating = key in secret_fields and has_references(raw)
        fetch = _fetcher(name, key, timeout, ttl, environ)
        try:
            value, missing = resolve_placeholders(raw, environ, None if rotating else fetch)
        except PlaceholderError as error:
            raise ConfigurationError(
                str(error), datasource=name, key=key, fix="see 'Placeholders' in the README"
            ) from None
        if missing:
            unresolved[key] = missing
        elif rotating:
            resolved[key] = _rotating(name, key, value, timeout=timeout, ttl=ttl, environ=environ)
        elif value != "":
            resolved[key] = value
    for key in list(unresolved):
        if is_covered(key, resolved, url_fields):
            del unresolved[key]
    if unresolved:
        variables = list(dict.fromkeys(var for missing in unresolved.values() for var in missing))
        plural = len(variables) > 1
        raise NotConfiguredError(
            f"not configured: environment variable{'s' if plural else ''} "
            f"{', '.join(variables)} {'are' if plural else 'is'} not set",
            missing=variables,
            datasource=name,
            key=next(iter(unresolved)),
            fix=f"export {variables[0]}=... (an empty value counts as set), "
            "or give the key in settings",
        )
    return resolved


def _seconds(entry: Mapping[str, Any], keys: tuple[str, ...], default: float) -> float:
    """A number of seconds from the raw entry, before validation (its own
    placeholders resolved); the default when it is not usable yet."""
    for key in keys:
        raw = entry.get(key)
        if raw is None:
            continue
        try:
            value = float(resolve_placeholders(raw)[0])
        except (TypeError, ValueError, PlaceholderError):
            return default
        return value if 0 < value < float("inf") else default
    return default


def _fetcher(
    name: str, key: str, timeout: float, ttl: float, environ: Mapping[str, str] | None
) -> Callable[..., str]:
    def fetch(text: str, *, fresh: bool = False) -> str:
        failure: UnifyDBError | None = None
        try:
            return substitute(text, timeout=timeout, ttl=ttl, environ=environ, fresh=fresh)
        except SecretProviderError as error:
            failure = secret_error(name, key, error)
        raise failure

    return fetch


def _rotating(
    name: str,
    key: str,
    template: str,
    *,
    timeout: float,
    ttl: float,
    environ: Mapping[str, str] | None,
) -> RotatingSecret:
    def render(timeout: float, ttl: float, fresh: bool) -> str:
        return _fetcher(name, key, timeout, ttl, environ)(template, fresh=fresh)

    source = ReferenceSource(render, datasource=name, key=key, timeout=timeout, ttl=ttl)
    source.current()  # fetched now: a provider that is down is reported at first use
    return RotatingSecret(source)


def secret_error(name: str, key: str, error: SecretProviderError) -> UnifyDBError:
    """A secret provider's failure as the unifydb error naming datasource, key and provider."""
    message = str(error)
    if error.timeout:
        return DatasourceTimeoutError(
            message,
            datasource=name,
            key=key,
            fix=f"check that the {error.provider!r} secret provider is reachable, or raise "
            "this datasource's 'timeout'",
        )
    if error.extra is not None:
        return DriverNotInstalledError(
            message,
            extra=error.extra,
            datasource=name,
            key=key,
            fix=f"pip install 'unifydb[{error.extra}]'",
        )
    return NotConfiguredError(
        message,
        missing=[f"secret:{error.provider}"],
        datasource=name,
        key=key,
        fix=f"check the reference and the {error.provider!r} secret provider's settings "
        "(see 'Secrets from a secret manager' in the README)",
    )


def split_application_keys(
    name: str,
    entry: Mapping[str, Any],
    known: frozenset[str],
    environ: Mapping[str, str] | None = None,
) -> tuple[dict[str, Any], dict[str, Any]]:
    """(unifydb's keys, the application's keys) of a raw entry.

    The application's keys are those its type declares (ORBIT's, such as
    mongodb's ``apikey_collection``) and those the entry lists itself in
    ``application_keys = [...]``; they are kept as given (placeholders
    resolved where their variables are set) and never validated, so typo
    detection stays on for everything else.
    """
    listed = entry.get("application_keys", [])
    if isinstance(listed, str):
        listed = [part.strip() for part in listed.split(",") if part.strip()]
    if not isinstance(listed, (list, tuple)) or not all(isinstance(k, str) for k in listed):
        raise ConfigurationError(
            "must be a list of key names",
            datasource=name,
            key="application_keys",
            fix='write application_keys = ["my_key", ...]',
        )
    keys = known | {key.lower() for key in listed}
    timeout = _seconds(entry, ("timeout", "connection_timeout"), DEFAULT_TIMEOUT)
    ttl = _seconds(entry, ("credential_ttl",), DEFAULT_CREDENTIAL_TTL)
    own: dict[str, Any] = {}
    application: dict[str, Any] = {}
    for key, value in entry.items():
        if key == "application_keys":
            continue
        if key in keys:
            try:
                fetch = _fetcher(name, key, timeout, ttl, environ)
                application[key] = resolve_placeholders(value, environ, fetch)[0]
            except PlaceholderError:
                application[key] = value
        else:
            own[key] = value
    return own, application
