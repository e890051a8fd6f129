"""Names and limits of the settings layer."""

from __future__ import annotations

ENV_PREFIX = "UNIFYDB_"
ENV_DATASOURCES_PREFIX = "UNIFYDB_DATASOURCES__"
SETTINGS_ENV_VAR = "UNIFYDB_SETTINGS"
ENVIRONMENT_ENV_VAR = "UNIFYDB_ENV"
DEFAULT_ENVIRONMENT = "development"
DEFAULT_FILES = ("settings.toml", ".secrets.toml")
SUPPORTED_SUFFIXES = (".toml", ".yaml", ".yml", ".json")

#: how deep a settings tree may nest and how many values it may hold: real
#: settings stay far below both, and deeper or bigger trees (a YAML "billion
#: laughs" of aliases, a structure that contains itself) would otherwise hang
#: or overflow the stack in every walk over them
MAX_DEPTH = 64
MAX_VALUES = 100_000

#: the limit of a settings file's size: real ones are kilobytes
MAX_FILE_BYTES = 16 * 1024 * 1024
