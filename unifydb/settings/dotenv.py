"""``.env`` files: variables for placeholders, read only when asked for.

``unifydb --env-file PATH``, ``Registry(env_file=PATH)`` or
``UNIFYDB_ENV_FILE=PATH`` name one (ORBIT documents its variables in an
``env.example`` to copy to ``.env``); unifydb never loads a ``.env`` by itself.
Variables of the process's environment win over the file's, as with docker
compose.
"""

from __future__ import annotations

import io
import os
from collections import ChainMap
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from unifydb.errors import SettingsFileError

from .files import read_text_file

ENV_FILE_VAR = "UNIFYDB_ENV_FILE"


def read_env_file(path: str | os.PathLike[str]) -> dict[str, str]:
    """The variables a ``.env`` file sets (``KEY=value``, quotes and ``export``
    allowed, comments ignored), or a :class:`SettingsFileError` naming the file."""
    text = read_text_file(Path(path), what="env file", key="env_file")
    dotenv: Any = __import__("dynaconf.vendor.dotenv", fromlist=["dotenv_values"])
    problem: SettingsFileError | None = None
    values: dict[str, str] = {}
    try:
        parsed = dotenv.dotenv_values(stream=io.StringIO(text), interpolate=False)
        values = {str(key): str(value) for key, value in parsed.items() if value is not None}
    except Exception:  # the parser's message may quote a line (a password)
        problem = SettingsFileError(
            f"env file {str(path)!r} could not be read as KEY=value lines",
            key="env_file",
            fix="write one KEY=value per line (quotes allowed)",
        )
    if problem is not None:
        raise problem
    return values


def environment(
    env_file: str | os.PathLike[str] | None = None, base: Mapping[str, str] | None = None
) -> Mapping[str, str]:
    """The process's environment (or ``base``) over the variables of ``env_file``
    (default: the file ``UNIFYDB_ENV_FILE`` names; none: no file)."""
    env = os.environ if base is None else base
    path = env_file if env_file is not None else env.get(ENV_FILE_VAR) or None
    if path is None:
        return env
    return ChainMap(dict(env), read_env_file(path))
