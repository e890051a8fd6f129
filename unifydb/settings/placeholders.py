"""``${VAR}``, ``${VAR:-default}`` and ``${secret:PROVIDER:PATH#KEY}`` placeholders.

They are *not* resolved when settings are read: they resolve when a datasource
is first used (:func:`resolve_placeholders`), so an unset variable of an
unused datasource is no error. Secret-manager references
(:mod:`unifydb.settings.secret_refs`) resolve only when a caller passes
``secrets``; otherwise they are kept as written.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Iterable, Mapping
from typing import Any

from .secret_refs import SECRET_REFERENCE

# ${VAR} or ${VAR:-default}; $${...} is a literal "${...}". The default may not
# hold braces or another placeholder: nesting is refused, not half-expanded.
_PLACEHOLDER = re.compile(r"\$(\$?)\{([A-Za-z_][A-Za-z0-9_]*)(?::-((?:[^{}$]|\$(?!\{))*))?\}")
#: where a placeholder starts; one that _PLACEHOLDER does not match is malformed
_OPENING = re.compile(r"\$\$\{|\$\{")


class PlaceholderError(ValueError):
    """A ``${...}`` that is malformed, nested, or expands to another placeholder.

    The message names no value (the text around it may be a secret).
    """


def check_placeholders(text: str) -> None:
    """Raise :class:`PlaceholderError` for a ``${`` that is not a valid placeholder."""
    position = 0
    while (opening := _OPENING.search(text, position)) is not None:
        match = _PLACEHOLDER.match(text, opening.start())
        if opening.group(0) == "$${":
            # an escape: "$${NAME}" is the literal "${NAME}", "$${" alone a literal "${"
            position = match.end() if match is not None else opening.end()
            continue
        if match is None:
            reference = SECRET_REFERENCE.match(text, opening.start())
            if reference is not None:
                position = reference.end()
                continue
            raise PlaceholderError(
                "holds a malformed placeholder: write ${NAME}, ${NAME:-default} (NAME of "
                "letters, digits and '_'; a default without braces, so no nesting) or "
                "${secret:PROVIDER:PATH#KEY}, or $${ for a literal '${'"
            )
        position = match.end()


def placeholder_variables(value: Any) -> list[str]:
    """Names of the environment variables a raw value refers to."""
    found: list[str] = []
    for text in _strings(value):
        for match in _PLACEHOLDER.finditer(text):
            if not match.group(1):
                found.append(match.group(2))
    return found


def missing_variables(value: Any, environ: Mapping[str, str] | None = None) -> list[str]:
    """Variables referred to without a default that are not set."""
    env = os.environ if environ is None else environ
    missing: list[str] = []
    for text in _strings(value):
        for match in _PLACEHOLDER.finditer(text):
            escaped, name, default = match.groups()
            if not escaped and default is None and name not in env and name not in missing:
                missing.append(name)
    return missing


#: keys a ``url`` setting stands in for
URL_FIELDS = frozenset({"host", "port", "database", "username", "password"})


#: the keys a whole connection URL may be given in
URL_KEYS = ("url", "connection_string")


def is_covered(key: str, given: Mapping[str, Any], url_fields: frozenset[str] = URL_FIELDS) -> bool:
    """Whether another given key provides ``key``, so that an unset placeholder of
    ``key`` is no problem: its ``<key>_file`` twin; a URL, for the fields a URL
    holds (``url_fields``); and the other way round, the host, for a URL.

    So a datasource written with both forms (ORBIT's mongodb: a connection
    string *or* host, port, user...) needs only the variables of one of them.
    """
    if given.get(f"{key}_file") not in (None, ""):
        return True
    if key in url_fields and any(given.get(url) for url in URL_KEYS):
        return True
    return key in URL_KEYS and given.get("host") not in (None, "")


def unresolved_variables(
    entry: Mapping[str, Any],
    url_fields: frozenset[str] = URL_FIELDS,
    environ: Mapping[str, str] | None = None,
) -> list[str]:
    """Unset variables an entry really needs (those of covered keys left out).

    A malformed placeholder raises :class:`PlaceholderError`.
    """
    resolved: dict[str, Any] = {}
    unresolved: dict[str, list[str]] = {}
    for key, raw in entry.items():
        value, missing = resolve_placeholders(raw, environ)
        if missing:
            unresolved[str(key)] = missing
        elif value != "":
            resolved[str(key)] = value
    needed = [
        var
        for key, missing in unresolved.items()
        if not is_covered(key, resolved, url_fields)
        for var in missing
    ]
    return list(dict.fromkeys(needed))


def resolve_placeholders(
    value: Any,
    environ: Mapping[str, str] | None = None,
    secrets: Callable[[str], str] | None = None,
) -> tuple[Any, list[str]]:
    """Substitute placeholders everywhere inside ``value``.

    Returns the resolved value and the variables that were unset (their
    placeholders stay in the text, so nothing is silently replaced by "").
    ``${VAR:-default}`` takes the default when VAR is unset or empty, as in a
    POSIX shell. Substituted text is never expanded again, so a variable whose
    value is itself a placeholder is refused, as is a malformed placeholder
    (:class:`PlaceholderError`). ``secrets(text)`` substitutes the secret-manager
    references of a string, once its variables are; without it they stay.
    """
    env = os.environ if environ is None else environ
    missing: list[str] = []

    def substitute(match: re.Match[str]) -> str:
        escaped, name, default = match.groups()
        if escaped:
            return match.group(0)[1:]
        current = env.get(name)
        if current and "${" in current:
            raise PlaceholderError(
                f"refers to environment variable {name}, whose value is itself a placeholder "
                "(placeholders are expanded once)",
            )
        if default is not None:
            return current if current else default
        if current is None:
            if name not in missing:
                missing.append(name)
            return match.group(0)
        return current

    def walk(item: Any) -> Any:
        if isinstance(item, str):
            if "${" not in item:
                return item
            check_placeholders(item)
            text = _PLACEHOLDER.sub(substitute, item)
            if secrets is not None and SECRET_REFERENCE.search(text):
                return secrets(text)
            return text
        if isinstance(item, Mapping):
            return {key: walk(sub) for key, sub in item.items()}
        if isinstance(item, (list, tuple)):
            return [walk(sub) for sub in item]
        return item

    return walk(value), missing


def _strings(value: Any) -> Iterable[str]:
    if isinstance(value, str):
        yield value
    elif isinstance(value, Mapping):
        for sub in value.values():
            yield from _strings(sub)
    elif isinstance(value, (list, tuple)):
        for sub in value:
            yield from _strings(sub)
