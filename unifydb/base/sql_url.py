"""Database URLs: a ``url`` setting split into fields, and URLs shown without secrets.

URLs are built with ``sqlalchemy.engine.URL.create`` (never by string
formatting) and parsed with ``make_url``; a URL is never quoted in an error,
because an unescaped password would be part of what is quoted.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Any

from unifydb.errors import ConfigurationError
from unifydb.options import NUL_MESSAGE, Secret, check_url_userinfo
from unifydb.redaction import SENSITIVE_KEY, mask_credentials
from unifydb.settings import URL_FIELDS

if TYPE_CHECKING:
    from sqlalchemy.engine import URL


def fields_from_url(
    text: str,
    *,
    name: str,
    type_name: str,
    dialects: Iterable[str],
    drivers: Iterable[str],
    known_keys: Iterable[str],
    example_scheme: str,
) -> dict[str, Any]:
    """The settings a URL stands for: host, port, database, username, password,
    known keys from its query string, and the rest of the query as ``query``."""
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import ArgumentError

    check_url_userinfo(text, datasource=name)
    try:
        url = make_url(text)
    except (ArgumentError, ValueError):
        # raised below, outside the except block: the parser's error quotes a
        # piece of the URL (and so of an unescaped password)
        url = None
    if url is None:
        raise ConfigurationError(
            "is not a database URL",
            datasource=name,
            key="url",
            fix=f"write it as {example_scheme}://user:password@host:port/database, with "
            "special characters in the password percent-encoded",
        )
    dialect, _, driver = url.drivername.partition("+")
    dialects, drivers = set(dialects), set(drivers)
    if dialect not in dialects or (driver and driver not in drivers):
        raise ConfigurationError(
            f"URL scheme {url.drivername!r} does not match type {type_name!r}",
            datasource=name,
            key="url",
            fix=f"use {' or '.join(sorted(dialects))}:// (drivers: "
            f"{', '.join(sorted(drivers)) or 'none'}), or change 'type'",
        )
    parts = (url.host, url.username, url.password, url.database, *url.query.values())
    if any("\x00" in str(part) for part in parts):
        raise ConfigurationError(
            NUL_MESSAGE, datasource=name, key="url", fix="remove the NUL (%00) from the URL"
        )
    fields: dict[str, Any] = {}
    for key, value in (
        ("host", url.host),
        ("port", url.port),
        ("database", url.database),
        ("username", url.username),
        ("password", url.password),
    ):
        if value not in (None, ""):
            fields[key] = value
    known = set(known_keys)
    query: dict[str, str] = {}
    for key, given in url.query.items():
        text_value = given[-1] if isinstance(given, tuple) else given
        if key in known and key not in URL_FIELDS:
            fields[key] = text_value
        else:
            query[key] = text_value
    if query:
        fields["query"] = query
    return fields


def merge_url(data: dict[str, Any], from_url: Mapping[str, Any]) -> dict[str, Any]:
    """Separate keys win over the URL's parts (so a password can live in
    ``password_file``); query tables merge."""
    merged = {**from_url, **data}
    given_query = data.get("query", {})
    if isinstance(given_query, Mapping):  # anything else is the options model's to report
        merged["query"] = {**from_url.get("query", {}), **given_query}
    return merged


def url_text(value: Any) -> str:
    return value.get_secret_value() if isinstance(value, Secret) else str(value)


def safe_url(url: URL) -> str:
    """``url`` as text with its password, credential-like query values and
    credentials written into its other parts masked."""
    hidden = {
        key: "***" if SENSITIVE_KEY.search(key) else mask_credentials(str(value))
        for key, value in url.query.items()
        if not isinstance(value, tuple)
    }
    # rendering percent-encodes the parts, which would hide a credential written
    # into one of them from the masking of target()
    url = url.set(
        username=mask_credentials(url.username) if url.username else url.username,
        database=mask_credentials(url.database) if url.database else url.database,
    )
    return url.update_query_dict(hidden).render_as_string(hide_password=True)
