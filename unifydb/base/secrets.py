"""What a datasource must never show, and recognising timeouts in driver errors."""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from typing import Any

from unifydb.options import Options, Secret, secret_strings
from unifydb.redaction import credentials_in, sensitive_values

#: exception class names drivers use for their own timeouts (httpx.ReadTimeout,
#: pymongo's NetworkTimeout, cassandra's OperationTimedOut, ...)
_TIMEOUT_NAME = re.compile(r"Time(d)?[Oo]ut")


def option_secrets(options: Options) -> list[str]:
    """Every secret the options hold: the secret fields (and URL passwords in
    them), values under credential-like keys of tables, and credentials inside
    free-form strings a driver parses (an ODBC ``PWD=``, an Oracle
    ``user/password@dsn``, a libpq ``password=``)."""
    values = secret_strings(options)
    values += sensitive_values(options.to_dict())
    for text in _option_strings(options):
        values.extend(credentials_in(text))
    return values


def is_timeout_error(error: BaseException) -> bool:
    """Whether a driver error (or one in its chain) means "no answer in time"."""
    return any(
        isinstance(item, TimeoutError) or _TIMEOUT_NAME.search(type(item).__name__)
        for item in error_chain(error)
    )


def error_chain(error: BaseException) -> Iterator[BaseException]:
    """``error`` and the exceptions it was raised from or while handling."""
    seen: set[int] = set()
    current: BaseException | None = error
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        yield current
        current = current.__cause__ or current.__context__


def _option_strings(options: Options) -> Iterator[str]:
    """Every string inside the options (tables and lists included), secrets excluded."""

    def walk(value: Any) -> Iterator[str]:
        if isinstance(value, str):
            yield value
        elif isinstance(value, Mapping):
            for item in value.values():
                yield from walk(item)
        elif isinstance(value, (list, tuple)):
            for item in value:
                yield from walk(item)

    for _field, value in options.items():
        if not isinstance(value, Secret):
            yield from walk(value)
