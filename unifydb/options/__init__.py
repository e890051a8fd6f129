"""Typed options: what a datasource's settings may hold, and their validation.

A backend declares its options as a subclass of :class:`Options`, a
``msgspec.Struct``: typed fields with defaults, constraints and a
description each (``Annotated[Port | None, doc("...")] = 5432``), checks
across keys in ``__post_init__`` (raising :class:`OptionError`), and per-key
preparation (splitting a comma-separated list, say) in ``preparers``.

* ``model.py``: :class:`Options`, :class:`Secret`, field introspection;
* ``parse.py``: :func:`parse_options` (lax for text, strict otherwise);
* ``wording.py``: errors that name the key and what it accepts;
* ``sql.py``: the keys every relational type shares.
"""

from unifydb._deadline import DEFAULT_TIMEOUT, MAX_TIMEOUT

from .model import (
    REQUIRED,
    NonNegativeInt,
    OptionError,
    OptionField,
    Options,
    OptionsT,
    Port,
    PositiveFloat,
    PositiveInt,
    RotatingSecret,
    Seconds,
    Secret,
    SecretSource,
    doc,
    members,
    number_as_text,
    secret_strings,
    split_list,
)
from .parse import NUL_MESSAGE, check_url_userinfo, env_scalar, has_nul, parse_options
from .sql import ServerSQLOptions, SQLOptions
from .wording import describe

__all__ = [
    "DEFAULT_TIMEOUT",
    "MAX_TIMEOUT",
    "NUL_MESSAGE",
    "REQUIRED",
    "NonNegativeInt",
    "OptionError",
    "OptionField",
    "Options",
    "OptionsT",
    "Port",
    "PositiveFloat",
    "PositiveInt",
    "RotatingSecret",
    "SQLOptions",
    "Seconds",
    "Secret",
    "SecretSource",
    "ServerSQLOptions",
    "check_url_userinfo",
    "describe",
    "doc",
    "env_scalar",
    "has_nul",
    "members",
    "number_as_text",
    "parse_options",
    "secret_strings",
    "split_list",
]
