"""Where datasource settings come from, and how placeholders resolve.

Files are read with dynaconf (TOML, YAML, JSON, ``.secrets.toml``, dynaconf
environments, ``@format``/``@jinja`` values). On top of them, environment
variables ``UNIFYDB_DATASOURCES__<NAME>__<KEY>`` override any file; their values
are kept as the exact strings the user set and typed later, per datasource
type, so a password such as ``1e5`` or ``true`` is never turned into a number
or a boolean.

``${VAR}`` and ``${VAR:-default}`` placeholders are *not* resolved here: they
resolve when a datasource is first used (:func:`resolve_placeholders`), so an
unset variable of an unused datasource is no error.
"""

from .dotenv import ENV_FILE_VAR, environment, read_env_file
from .envvars import EnvText, apply_env_overrides
from .files import (
    explain_empty,
    from_source,
    load_files,
    read_text_file,
    settings_files,
    source_files,
)
from .limits import (
    DEFAULT_ENVIRONMENT,
    DEFAULT_FILES,
    ENV_DATASOURCES_PREFIX,
    ENV_PREFIX,
    ENVIRONMENT_ENV_VAR,
    MAX_DEPTH,
    MAX_FILE_BYTES,
    MAX_VALUES,
    SETTINGS_ENV_VAR,
    SUPPORTED_SUFFIXES,
)
from .placeholders import (
    URL_FIELDS,
    PlaceholderError,
    check_placeholders,
    is_covered,
    missing_variables,
    placeholder_variables,
    resolve_placeholders,
    unresolved_variables,
)
from .tree import merge_entry, merge_environments

__all__ = [
    "DEFAULT_ENVIRONMENT",
    "DEFAULT_FILES",
    "ENVIRONMENT_ENV_VAR",
    "ENV_DATASOURCES_PREFIX",
    "ENV_FILE_VAR",
    "ENV_PREFIX",
    "MAX_DEPTH",
    "MAX_FILE_BYTES",
    "MAX_VALUES",
    "SETTINGS_ENV_VAR",
    "SUPPORTED_SUFFIXES",
    "URL_FIELDS",
    "EnvText",
    "PlaceholderError",
    "apply_env_overrides",
    "check_placeholders",
    "environment",
    "explain_empty",
    "from_source",
    "is_covered",
    "load_files",
    "merge_entry",
    "merge_environments",
    "missing_variables",
    "placeholder_variables",
    "read_env_file",
    "read_text_file",
    "resolve_placeholders",
    "settings_files",
    "source_files",
    "unresolved_variables",
]
