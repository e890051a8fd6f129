"""From a raw settings entry to the values a datasource's options are validated from."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from unifydb.errors import ConfigurationError, NotConfiguredError
from unifydb.settings import PlaceholderError, is_covered, resolve_placeholders


def resolve_entry(name: str, entry: Mapping[str, Any]) -> dict[str, Any]:
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
            value, missing = resolve_placeholders(raw)
        except PlaceholderError as error:
            raise ConfigurationError(
                str(error), datasource=name, key=key, fix="see 'Placeholders' in the README"
            ) from None
        if missing:
            unresolved[key] = missing
        elif value != "":
            resolved[key] = value
    for key in list(unresolved):
        if is_covered(key, resolved):
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
