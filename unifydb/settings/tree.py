"""The ``datasources`` tree: dynaconf environments merged, names checked, plain data."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from unifydb.errors import SettingsFileError

from .limits import DEFAULT_ENVIRONMENT, MAX_DEPTH, MAX_VALUES


def merge_environments(tree: Mapping[str, Any], environment: str | None) -> dict[str, Any]:
    """Flatten dynaconf-style environment sections into one ``datasources`` tree."""
    sections = {str(key).lower(): value for key, value in tree.items()}
    active = (environment or DEFAULT_ENVIRONMENT).lower()
    layers = [
        _section_datasources(sections.get("default")),
        sections.get("datasources"),
        _section_datasources(sections.get(active)) if active not in ("default", "global") else None,
        _section_datasources(sections.get("global")),
    ]
    merged: dict[str, Any] = {}
    for layer in layers:
        if layer is None:
            continue
        if not isinstance(layer, Mapping):
            raise SettingsFileError(
                f"'datasources' must be a table of named datasources, not {type(layer).__name__}",
                key="datasources",
                fix="write [datasources.<name>] tables (or datasources: <name>: in YAML)",
            )
        _check_names(layer)
        for name, entry in layer.items():
            merged = merge_entry(merged, str(name), entry)
    return merged


_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


def _check_names(layer: Mapping[str, Any]) -> None:
    """Names are case-insensitive, so two that differ only in case are one
    datasource written twice: refused, as are empty names and control characters.
    The same holds for the keys of each entry."""
    seen: dict[str, str] = {}
    for name in map(str, layer):
        if not name.strip() or _CONTROL.search(name):
            raise SettingsFileError(
                "a datasource has an empty name, or one holding a control character",
                key="datasources",
                fix="name every [datasources.<name>] table with letters, digits, '_' or '-'",
            )
        other = seen.setdefault(name.lower(), name)
        if other != name:
            raise SettingsFileError(
                f"datasources {other!r} and {name!r} differ only in case, and names are "
                "case-insensitive",
                datasource=name.lower(),
                key="datasources",
                fix="keep one of the two tables (merge their keys)",
            )
        entry = layer[name]
        if isinstance(entry, Mapping):
            keys: dict[str, str] = {}
            for option in map(str, entry):
                first = keys.setdefault(option.lower(), option)
                if first != option:
                    raise SettingsFileError(
                        f"keys {first!r} and {option!r} differ only in case, and keys are "
                        "case-insensitive",
                        datasource=name.lower(),
                        key=option.lower(),
                        fix="keep one of the two",
                    )


def _section_datasources(section: Any) -> Any:
    if isinstance(section, Mapping):
        for key, value in section.items():
            if str(key).lower() == "datasources":
                return value
    return None


def merge_entry(tree: dict[str, Any], name: str, entry: Any) -> dict[str, Any]:
    """Merge one datasource entry into ``tree``; names and first-level keys are case-insensitive."""
    key = name.lower()
    if not isinstance(entry, Mapping):
        # kept as-is: the registry reports it against this datasource's name,
        # so one broken entry never hides the others
        tree[key] = entry
        return tree
    current = tree.get(key)
    merged: dict[str, Any] = dict(current) if isinstance(current, Mapping) else {}
    for option, value in entry.items():
        option_key = str(option).lower()
        previous = merged.get(option_key)
        if isinstance(previous, Mapping) and isinstance(value, Mapping):
            merged[option_key] = _deep_merge(previous, value)
        else:
            merged[option_key] = value
    tree[key] = merged
    return tree


def _deep_merge(base: Mapping[str, Any], update: Mapping[str, Any]) -> dict[str, Any]:
    result = dict(base)
    for key, value in update.items():
        if isinstance(result.get(key), Mapping) and isinstance(value, Mapping):
            result[key] = _deep_merge(result[key], value)
        else:
            result[key] = value
    return result


def _is_plain(value: Any) -> bool:
    """Whether ``value`` is data (not one of dynaconf's lazy or marker objects)."""
    if isinstance(value, Mapping):
        return all(_is_plain(sub) for sub in value.values())
    if isinstance(value, (list, tuple)):
        return all(_is_plain(sub) for sub in value)
    return not type(value).__module__.startswith("dynaconf")


def _plain(value: Any, *, where: str = "the settings") -> Any:
    """Dynaconf boxes -> plain dicts and lists (cheap to copy, safe to hand out).

    Refuses trees deeper than MAX_DEPTH (or that contain themselves) and
    bigger than MAX_VALUES with a :class:`SettingsFileError`.
    """
    count = 0

    def convert(item: Any, depth: int) -> Any:
        nonlocal count
        count += 1
        if count > MAX_VALUES:
            raise SettingsFileError(
                f"too many values in {where} (more than {MAX_VALUES:,})",
                fix="datasource settings are a few dozen keys; check for generated or "
                "aliased values",
            )
        if depth > MAX_DEPTH:
            raise SettingsFileError(
                f"values in {where} nest more than {MAX_DEPTH} levels deep (or contain themselves)",
                fix="datasource settings nest a few levels at most",
            )
        if isinstance(item, Mapping):
            return {str(key): convert(sub, depth + 1) for key, sub in item.items()}
        if isinstance(item, (list, tuple)):
            return [convert(sub, depth + 1) for sub in item]
        return item

    return convert(value, 0)
