"""Keeping secrets out of everything unifydb shows.

Two rules, used everywhere something is printed, logged or raised:

* a credential is masked where it *stands* as one: the password of a URL's
  userinfo, ``password=``/``PWD=``-style pairs of connection strings, Oracle's
  ``user/password@``, and values under credential-like keys of tables;
* a known secret found anywhere else in a message is masked only when it is
  distinctive (:func:`distinctive`), so that a password such as ``failed``
  does not turn "connect failed" into "connect ***" and so reveal itself.

This module imports only the standard library.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Iterable, Mapping
from typing import Any
from urllib.parse import quote, quote_plus, unquote

#: keys inside option tables (connect_args, query, client_options, ...) whose
#: values are credentials: shown as '***'
SENSITIVE_KEY = re.compile(
    r"pass(?:w(?:or)?d|phrase)|^pass$|pwd|secret|token|credential|api[-_]?key|"
    r"private[-_]?key|authorization|cookie|access[-_]?key",
    re.IGNORECASE,
)


@functools.cache
def _patterns() -> tuple[re.Pattern[str], re.Pattern[str], re.Pattern[str]]:
    """(URL password, key=value credential, Oracle user/password@), compiled on
    first use: a process that never prints a datasource never pays for them."""
    return (
        # the password of a URL's userinfo (greedy up to the last '@', so an
        # unescaped '@', '/' or '?' in the password is hidden too)
        re.compile(r"(\b[A-Za-z][A-Za-z0-9+.\-]*://[^:/?#@\s]*:)[^\s]*@"),
        # key=value credentials inside free-form connection strings: ODBC
        # (PWD={x;y}), libpq conninfo (password='x y'), query strings
        re.compile(
            r"(?i)(?<![A-Za-z0-9_])"
            r"((?:pwd|password|passwd|pass|sslpassword|secret|token|api[-_]?key|access[-_]?key|"
            r"secret[-_]?key|session[-_]?token|authmechanismproperties)\s*=\s*)"
            r"(\{(?:[^}]|\}\})*\}|'(?:[^'\\]|\\.)*'|\"(?:[^\"\\]|\\.)*\"|[^;&\s]*)"
        ),
        # Oracle's user/password@connect_identifier (a DSN or EZConnect string)
        re.compile(r"(?<![\w/:.@\-])([^/@\s:=;()'\"]+/)([^@\s/]+)(@)"),
    )


def mask_credentials(text: str) -> str:
    """``text`` with every credential in a URL, DSN or connection-string position
    replaced by ``***``."""
    url_password, credential_pair, slash_credentials = _patterns()
    if "://" in text:
        text = url_password.sub(r"\1***@", text)
    if "=" in text:
        text = credential_pair.sub(r"\1***", text)
    if "/" in text and "@" in text:
        text = slash_credentials.sub(r"\1***\3", text)
    return text


def credentials_in(text: str) -> list[str]:
    """The secrets :func:`mask_credentials` would hide in ``text`` (unquoted too)."""
    found: list[str] = list(url_passwords(text))
    _, credential_pair, slash_credentials = _patterns()
    if "=" in text:
        for match in credential_pair.finditer(text):
            value = match.group(2)
            if value[:1] in "{'\"" and len(value) >= 2:
                value = value[1:-1].replace("}}", "}")
            found.append(value)
    if "/" in text and "@" in text:
        found += [match.group(2) for match in slash_credentials.finditer(text)]
    return [value for value in found if value and value != "***"]


def url_passwords(text: str) -> list[str]:
    """The password inside a URL's userinfo, as written and decoded.

    Split at the last "@" the way database drivers do (a raw "#", "/" or "?"
    in a password would make urllib cut the URL short), and at the first, the
    way stricter parsers do.
    """
    _, separator, rest = text.partition("://")
    if not separator or "@" not in rest:
        return []
    forms: set[str] = set()
    for userinfo in {rest[: rest.rfind("@")], rest[: rest.find("@")]}:
        if ":" in userinfo:
            raw = userinfo.split(":", 1)[1]
            forms |= {raw, unquote(raw), unquote(raw.replace("+", " "))}
    return [form for form in forms if form]


def distinctive(secret: str) -> bool:
    """Whether ``secret`` is unlikely to occur in a message by chance: 8 or more
    characters, not all letters, or 16 or more characters."""
    return len(secret) >= 16 or (len(secret) >= 8 and not secret.isalpha())


def redact(text: str, secrets: Iterable[str]) -> str:
    """``text`` with credentials masked where they stand, and the distinctive
    ``secrets`` (raw or URL-encoded) masked wherever they occur."""
    text = mask_credentials(text)
    for secret in sorted(set(secrets), key=len, reverse=True):
        for form in {secret, quote(secret, safe=""), quote_plus(secret, safe="")}:
            if distinctive(form):
                text = text.replace(form, "***")
    return text


def is_secret(value: Any) -> bool:
    """A secret holder (unifydb's :class:`~unifydb.options.Secret`, or anything
    with ``get_secret_value()``)."""
    return callable(getattr(value, "get_secret_value", None))


def mask_secrets(value: Any) -> Any:
    """``value`` with secrets, credential-like table entries and credentials inside
    strings replaced by '***' (plain data in, plain data out)."""
    if is_secret(value):
        return "***" if value.get_secret_value() else ""
    if isinstance(value, Mapping):
        return {
            key: "***"
            if isinstance(key, str) and SENSITIVE_KEY.search(key) and value[key] not in (None, "")
            else mask_secrets(value[key])
            for key in value
        }
    if isinstance(value, (list, tuple)):
        return [mask_secrets(item) for item in value]
    if isinstance(value, str):
        return mask_credentials(value)
    return value


def sensitive_values(value: Any) -> list[str]:
    """Values under credential-like keys anywhere inside tables and lists."""
    found: list[str] = []
    if isinstance(value, Mapping):
        for key, item in value.items():
            if isinstance(key, str) and SENSITIVE_KEY.search(key) and item not in (None, ""):
                found.append(item.get_secret_value() if is_secret(item) else str(item))
            else:
                found += sensitive_values(item)
    elif isinstance(value, (list, tuple)):
        for item in value:
            found += sensitive_values(item)
    return found
