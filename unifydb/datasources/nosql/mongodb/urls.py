"""MongoDB connection strings, split the way pymongo splits them, never quoted."""

from __future__ import annotations

import re
from urllib.parse import unquote_plus

from unifydb.options import number_as_text

SCHEMES = ("mongodb://", "mongodb+srv://")
#: client keyword arguments and URL options whose values are credentials
SENSITIVE_OPTION = re.compile(r"password|secret|token|authmechanismproperties", re.IGNORECASE)
#: a '%' that does not start a percent-escape (pymongo rejects those in userinfo)
_BARE_PERCENT = re.compile(r"%(?![0-9A-Fa-f]{2})")
#: what separates a URL's options (pymongo takes both)
_OPTION_SEPARATOR = re.compile(r"[&;]")


def check_url(value: object) -> object:
    """A preparer: refuse a URL pymongo would misread (without quoting it)."""
    value = number_as_text(value)
    if not isinstance(value, str):
        return value
    if not value.startswith(SCHEMES):
        raise ValueError("must start with mongodb:// or mongodb+srv://")
    # a URL has one '@' (between credentials and hosts); more means an unescaped
    # one in the password, wherever the parser would split it
    if value.count("@") > 1 or _misplaced_at(value) or _bad_userinfo(value):
        raise ValueError(
            "the username and password in the URL must be percent-escaped "
            "(urllib.parse.quote_plus), or given as the 'username'/'password' keys"
        )
    return value


def _split(url: str) -> tuple[str, str | None, str]:
    """(scheme://, userinfo or None, the rest), split the way pymongo splits."""
    scheme = next((scheme for scheme in SCHEMES if url.startswith(scheme)), "")
    rest = url[len(scheme) :]
    host_and_path, question, query = rest.partition("?")
    host_part, slash, path = host_and_path.partition("/")
    if "@" not in host_part:
        return scheme, None, rest
    userinfo, _, hosts = host_part.rpartition("@")
    return scheme, userinfo, hosts + slash + path + question + query


def _misplaced_at(url: str) -> bool:
    """An '@' after the host part: a password with a raw '/' or '?' in it."""
    _, _, rest = _split(url)
    host_and_path, _, query = rest.partition("?")
    if "@" in host_and_path.partition("/")[2]:
        return True
    return any("@" in piece.partition("=")[0] for piece in _OPTION_SEPARATOR.split(query))


def _bad_userinfo(url: str) -> bool:
    _, userinfo, _ = _split(url)
    return userinfo is not None and (
        "@" in userinfo or userinfo.count(":") > 1 or bool(_BARE_PERCENT.search(userinfo))
    )


def url_password(url: str) -> str | None:
    _, userinfo, _ = _split(url)
    if userinfo is None or ":" not in userinfo:
        return None
    return userinfo.split(":", 1)[1] or None


def without_credentials(url: str) -> str:
    """The URL with its password and credential-like options replaced by ``***``."""
    scheme, userinfo, rest = _split(url)
    if userinfo is not None:
        user = userinfo.split(":", 1)[0]
        rest = f"{user}:***@{rest}" if ":" in userinfo else f"{user}@{rest}"
    head, question, query = rest.partition("?")
    if query:
        # pymongo accepts ';' between options as well as '&'
        pieces = _OPTION_SEPARATOR.split(query)
        separators = _OPTION_SEPARATOR.findall(query)
        shown = []
        for piece in pieces:
            key, equals, _ = piece.partition("=")
            shown.append(f"{key}=***" if equals and SENSITIVE_OPTION.search(key) else piece)
        rest = head + question + shown[0]
        for separator, piece in zip(separators, shown[1:], strict=True):
            rest += separator + piece
    return scheme + rest


def sensitive_url_options(url: str) -> list[str]:
    """Values of credential-like options in the URL's query (raw and decoded)."""
    _, _, rest = _split(url)
    query = rest.partition("?")[2]
    values: list[str] = []
    for piece in _OPTION_SEPARATOR.split(query):
        key, equals, value = piece.partition("=")
        if equals and value and SENSITIVE_OPTION.search(key):
            values += [value, unquote_plus(value)]
    return values
