"""``UNIFYDB_DATASOURCES__<NAME>__<KEY>`` variables over the settings files.

Their values are kept as the exact strings the user set (:class:`EnvText`) and
typed later, per datasource type, so a password such as ``1e5`` or ``true`` is
never turned into a number or a boolean.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any

from unifydb.errors import SettingsFileError

from .limits import ENV_DATASOURCES_PREFIX
from .tree import _is_plain, _plain


class EnvText(str):
    """Text set through an environment variable: typed later, by the field it goes to."""

    __slots__ = ()


def apply_env_overrides(
    datasources: dict[str, Any], environ: Mapping[str, str] | None = None
) -> dict[str, Any]:
    """Apply ``UNIFYDB_DATASOURCES__<NAME>__<KEY>[__<SUBKEY>...]`` variables.

    Values stay the strings the user wrote; the typed option models turn
    ``"5432"`` into an int and ``"false"`` into False where the field asks for
    it. A value that starts with ``[`` or ``{`` and parses as a TOML/JSON list
    or table becomes one (contact points, connect args); anything else stays
    text. ``@int``-style dynaconf tokens are honoured.
    """
    env = os.environ if environ is None else environ
    for variable in sorted(env):
        if not variable.upper().startswith(ENV_DATASOURCES_PREFIX):
            continue
        path = [part for part in variable[len(ENV_DATASOURCES_PREFIX) :].split("__") if part]
        if not path:
            continue
        name = path[0]
        value: Any = _parse_env_value(env[variable], variable, name.lower())
        if len(path) == 1:
            if not isinstance(value, Mapping):
                raise SettingsFileError(
                    f"{variable} must hold a table of options, e.g. '{{type=\"sqlite\"}}'",
                    datasource=name.lower(),
                    key=variable,
                    fix=f"set {variable}__<KEY> for each option instead",
                )
            for option, item in value.items():
                _merge_env_path(datasources, name, [str(option)], item)
            if not value:
                datasources.setdefault(name.lower(), {})
            continue
        _merge_env_path(datasources, name, path[1:], value)
    return datasources


def _merge_env_path(tree: dict[str, Any], name: str, parts: list[str], value: Any) -> None:
    """Set ``value`` at ``parts`` inside datasource ``name``, matching each sub-key
    case-insensitively against the keys already there (new ones lower-cased):
    an environment variable's name cannot say whether the file wrote
    ``application_name`` or ``Application_Name``."""
    key = name.lower()
    current = tree.get(key)
    entry: dict[str, Any] = dict(current) if isinstance(current, Mapping) else {}
    node = entry
    for part in parts[:-1]:
        existing = _matching_key(node, part)
        child = node.get(existing)
        node[existing] = dict(child) if isinstance(child, Mapping) else {}
        node = node[existing]
    last = _matching_key(node, parts[-1])
    previous = node.get(last)
    if isinstance(previous, Mapping) and isinstance(value, Mapping):
        node[last] = _deep_merge_casefold(previous, value)
    else:
        node[last] = value
    tree[key] = entry


def _matching_key(table: Mapping[str, Any], key: str) -> str:
    return next((existing for existing in table if existing.lower() == key.lower()), key.lower())


def _deep_merge_casefold(base: Mapping[str, Any], update: Mapping[str, Any]) -> dict[str, Any]:
    result = dict(base)
    for key, value in update.items():
        existing = _matching_key(result, str(key))
        if isinstance(result.get(existing), Mapping) and isinstance(value, Mapping):
            result[existing] = _deep_merge_casefold(result[existing], value)
        else:
            result[existing] = value
    return result


def _parse_env_value(text: str, variable: str, datasource: str | None = None) -> Any:
    stripped = text.strip()
    if not stripped.startswith(("[", "{", "@")):
        return EnvText(text)
    from dynaconf.utils.parse_conf import Lazy, parse_conf_data

    try:
        parsed = parse_conf_data(text, tomlfy=True, box_settings={})
    except Exception:  # not TOML after all: the text is the value
        return EnvText(text)
    if not (stripped.startswith("@") or isinstance(parsed, (list, dict))):
        return EnvText(text)
    problem: SettingsFileError | None = None
    if isinstance(parsed, Lazy):  # @format, @jinja, @get, @read_file: evaluate now
        try:
            parsed = parsed(None)
        except Exception as error:
            problem = SettingsFileError(
                f"its {stripped.split()[0]} value could not be evaluated ({type(error).__name__})",
                datasource=datasource,
                key=variable,
                fix="use a plain value, or a ${VAR} placeholder",
            )
    if problem is None and not _is_plain(parsed):
        # @merge, @del, @insert, @empty...: meaningful only between settings files
        problem = SettingsFileError(
            f"the dynaconf token {stripped.split()[0]} is not supported in an environment override",
            datasource=datasource,
            key=variable,
            fix="use a plain value, a TOML list or table, or @int/@float/@bool/@json/@none",
        )
    if problem is not None:
        raise problem
    return _plain(parsed, where=variable)
