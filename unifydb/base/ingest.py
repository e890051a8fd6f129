"""From a raw settings entry to the values a datasource's options are validated from."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from unifydb.errors import ConfigurationError, NotConfiguredError
from unifydb.settings import URL_FIELDS, PlaceholderError, is_covered, resolve_placeholders


def resolve_entry(
    name: str,
    entry: Mapping[str, Any],
    url_fields: frozenset[str] = URL_FIELDS,
    environ: Mapping[str, str] | None = None,
) -> dict[str, Any]:
    """``entry`` with its placeholders resolved and empty values dropped (an empty
    value means "not given", so defaults apply).

    Unset variables are an error only for keys nothing else covers (a
    ``password`` whose ``password_file`` is given, a field a ``url`` holds):
    :class:`NotConfiguredError` names every variable still needed.
    """
    resolved: dict[str, Any] = {}
    unresolved: dict[str, list[str]] = {}
    for key, raw in entry.items():
        try:
            value, missing = resolve_placeholders(raw, environ)
        except PlaceholderError as error:
            raise ConfigurationError(
                str(error), datasource=name, key=key, fix="see 'Placeholders' in the README"
            ) from None
        if missing:
            unresolved[key] = missing
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
    own: dict[str, Any] = {}
    application: dict[str, Any] = {}
    for key, value in entry.items():
        if key == "application_keys":
            continue
        if key in keys:
            try:
                application[key] = resolve_placeholders(value, environ)[0]
            except PlaceholderError:
                application[key] = value
        else:
            own[key] = value
    return own, application
