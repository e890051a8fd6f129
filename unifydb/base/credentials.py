"""Credentials resolved when a connection is made, not when the engine is.

Secrets that may change while the process runs are
:class:`~unifydb.options.RotatingSecret` values in the options (see
:mod:`unifydb.base.sources`): ``<secret>_file`` keys, ``${secret:...}`` values of
secret keys, and the password that ``password_command`` or ``auth`` stands for.
A SQL engine asks for them in its ``do_connect`` listener, a client when it is
built (or rebuilt after a rejected login).
"""

from __future__ import annotations

from collections.abc import Iterable

import msgspec

from unifydb.errors import ConfigurationError
from unifydb.options import OptionError, Options, RotatingSecret

from .sources import CommandSource
from .tokens import token_source


def rotating_secrets(options: Options) -> list[RotatingSecret]:
    """The options' secrets that may change while the process runs."""
    return [
        value
        for name in options.secret_fields
        if isinstance(value := getattr(options, name, None), RotatingSecret)
    ]


def attach_credentials(options: Options, *, datasource: str, type_name: str) -> Options:
    """``options`` whose ``password`` comes from ``password_command`` or ``auth``
    when one is set, and whose rotating secrets know the datasource's name,
    ``timeout`` and ``credential_ttl``."""
    derived: RotatingSecret | None = None
    if options.password_command:
        derived = RotatingSecret(
            CommandSource(
                options.password_command,
                datasource=datasource,
                timeout=options.timeout,
                ttl=options.credential_ttl,
            ),
            derived_from="password_command",
        )
    elif options.auth is not None:
        derived = RotatingSecret(
            token_source(options, datasource=datasource, type_name=type_name),
            derived_from="auth",
        )
    if derived is not None:
        problem: ConfigurationError | None = None
        try:
            options = msgspec.structs.replace(options, password=derived)  # type: ignore[type-var]
        except OptionError as error:  # a check across keys, e.g. "user and password go together"
            problem = ConfigurationError(
                str(error),
                datasource=datasource,
                key=error.key or derived.derived_from,
                fix="see the README's keys of this type",
            )
        if problem is not None:
            raise problem
    for secret in rotating_secrets(options):
        configure = getattr(secret.source, "configure", None)
        if configure is not None:
            configure(datasource=datasource, timeout=options.timeout, ttl=options.credential_ttl)
    return options


def refresh_all(secrets: Iterable[RotatingSecret]) -> bool:
    """Resolve every secret again; whether there was any to resolve."""
    found = False
    for secret in secrets:
        secret.refresh()
        found = True
    return found
