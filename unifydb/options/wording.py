"""Error wording for options: which key, what it accepts, how to fix it."""

from __future__ import annotations

import difflib
import re
import types
import typing
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any, Literal

import msgspec

from unifydb.errors import ConfigurationError
from unifydb.redaction import url_passwords

from .model import Options, Secret, decode, members


def unknown_keys(
    model: type[Options], unknown: list[str], *, datasource: str, type_name: str
) -> ConfigurationError:
    known = sorted(model.fields())
    first = unknown[0]
    close = difflib.get_close_matches(first, known, n=1)
    hint = f"did you mean {close[0]!r}? " if close else ""
    message = f"unknown key for type {type_name!r}"
    if len(unknown) > 1:
        message += " (also unknown: " + ", ".join(repr(key) for key in unknown[1:]) + ")"
    return ConfigurationError(
        message,
        datasource=datasource,
        key=first,
        fix=f"{hint}remove it, or see the {type_name} keys in the README: " + ", ".join(known),
    )


def problem_at(
    model: type[Options],
    key: str | None,
    message: str,
    *,
    datasource: str,
    type_name: str,
    annotation: Any = None,
    constraints: Mapping[str, Any] | None = None,
) -> ConfigurationError:
    if key is None:
        # a check across several keys ("give 'url', or 'host'"): the message says which
        return ConfigurationError(
            message, datasource=datasource, fix=f"see the {type_name} keys in the README"
        )
    top = key.split(".", 1)[0]
    field = model.fields().get(top)
    if annotation is None and field is not None:
        annotation = field.annotation if top == key else _at_path(field.annotation, key)
        constraints = field.constraints if top == key else {}
    expected = describe(annotation, constraints or {}) if annotation is not None else None
    return ConfigurationError(
        message,
        datasource=datasource,
        key=key,
        fix=f"give {expected}" if expected else f"see the {type_name} keys in the README",
    )


def validation_problem(
    model: type[Options],
    error: msgspec.ValidationError,
    data: Mapping[str, Any],
    *,
    datasource: str,
    type_name: str,
) -> ConfigurationError:
    cause = error.__cause__
    if isinstance(cause, (ValueError, TypeError)):  # from __post_init__ or _decode
        key = getattr(cause, "key", None)
        path = _path(str(error))
        message = scrub(str(cause), data)
        return problem_at(model, key or path, message, datasource=datasource, type_name=type_name)
    text = str(error)
    path = _path(text)
    if text.startswith("Object missing required field"):
        name = text.split("`")[1] if "`" in text else None
        return ConfigurationError(
            "is required",
            datasource=datasource,
            key=name,
            fix=f"set {name!r} (or give a 'url')",
        )
    if path is None:
        return problem_at(model, None, text.split(" - at ", maxsplit=1)[0], datasource=datasource,
                        type_name=type_name)  # fmt: skip
    if path.endswith(".*"):  # a value inside a table: find which key
        path = _failing_key(model, path, data)
    top = path.split(".", 1)[0]
    field = model.fields()[top]
    annotation = field.annotation if top == path else _at_path(field.annotation, path)
    constraints = field.constraints if top == path else {}
    expected = describe(annotation, constraints)
    if text.startswith("Invalid enum value"):
        message = f"is not {expected}"
    elif "got `" in text:
        got = text.split("got `", 1)[1].split("`", 1)[0]
        message = f"must be {expected}, not {_KIND_WORDS.get(got, got)}"
    else:  # a constraint: "Expected `int` >= 1"
        message = f"is out of range: must be {expected}"
    return problem_at(
        model,
        path,
        message,
        datasource=datasource,
        type_name=type_name,
        annotation=annotation,
        constraints=constraints,
    )


def scrub(message: str, given: Any, *, secret: bool = False) -> str:
    """A check's message with the given values, and any URL password in them, removed.

    Library messages may quote what they refused (``urllib.parse`` quotes a
    URL's whole netloc, say). Short values of other keys stay: "one" may well
    be a word of the message.
    """
    for text in _strings(given):
        pieces = [text] if len(text) >= (3 if secret else 8) else []
        pieces += url_passwords(text)
        for piece in sorted(pieces, key=len, reverse=True):
            if piece and piece in message:
                message = message.replace(piece, "***")
    return message


def _strings(value: Any) -> Iterator[str]:
    if isinstance(value, str):
        yield value
    elif isinstance(value, Secret):
        yield from value.known_values()
    elif isinstance(value, Mapping):
        for item in value.values():
            yield from _strings(item)
    elif isinstance(value, (list, tuple)):
        for item in value:
            yield from _strings(item)


_KIND_WORDS = {
    "str": "text",
    "int": "a whole number",
    "float": "a number",
    "bool": "true/false",
    "object": "a table",
    "array": "a list",
    "null": "nothing",
}


def _path(text: str) -> str | None:
    """msgspec's ``$.replicas[2]`` / ``$.headers[...]`` as ``replicas.2`` / ``headers.*``."""
    if " - at `$." not in text:
        return None
    raw = text.rsplit(" - at `$.", 1)[1].rstrip("`")
    return re.sub(
        r"\[(\d+|\.\.\.)\]", lambda m: "." + ("*" if m.group(1) == "..." else m.group(1)), raw
    )


def _failing_key(model: type[Options], path: str, data: Mapping[str, Any]) -> str:
    """Replace the final ``*`` of a path with the key whose value fails."""
    parent = path[: -len(".*")]
    container: Any = data
    for part in parent.split("."):
        if isinstance(container, Mapping):
            container = container.get(part)
        elif isinstance(container, list) and part.isdigit() and int(part) < len(container):
            container = container[int(part)]
    top = parent.split(".", 1)[0]
    annotation = _at_path(model.fields()[top].annotation, path)
    if isinstance(container, Mapping):
        for key, value in container.items():
            try:
                msgspec.convert(value, annotation, strict=False, dec_hook=decode)
            except (msgspec.ValidationError, TypeError):
                return f"{parent}.{key}"
    return parent


def _at_path(annotation: Any, path: str) -> Any:
    """The annotation of the item at ``path`` (``replicas.2``, ``headers.a``)."""
    for _ in path.split(".")[1:]:
        for member in members(annotation):
            origin = typing.get_origin(member)
            args = typing.get_args(member)
            if origin is dict and len(args) == 2:
                annotation = args[1]
                break
            if origin is list and args:
                annotation = args[0]
                break
        else:
            return Any
    return annotation


def describe(annotation: Any, constraints: Mapping[str, Any] | None = None) -> str:
    """Words for what a key accepts: 'a whole number from 1 to 65535', "one of 'a', 'b'"."""
    constraints = constraints or {}
    origin = typing.get_origin(annotation)
    if origin in (typing.Union, types.UnionType):
        parts = [describe(arg, constraints) for arg in members(annotation)]
        return " or ".join(dict.fromkeys(parts))
    if origin is Literal:
        return "one of " + ", ".join(repr(arg) for arg in typing.get_args(annotation))
    if origin is dict:
        return "a table (TOML) / mapping"
    if origin is list:
        return "a non-empty list" if constraints.get("min_length") else "a list"
    if annotation in (int, float):
        noun = "a whole number (an integer)" if annotation is int else "a number"
        return noun + _range_words(constraints)
    return {
        bool: "true or false",
        str: "a string",
        Secret: "a string",
        Path: "a path",
        Any: "any value",
    }.get(annotation, f"a value of type {getattr(annotation, '__name__', annotation)}")


def _range_words(constraints: Mapping[str, Any]) -> str:
    ge, gt, le, lt = (constraints.get(name) for name in ("ge", "gt", "le", "lt"))
    if ge is not None and le is not None:
        return f" from {ge:g} to {le:g}"
    words = []
    if ge is not None:
        words.append(f"of at least {ge:g}")
    if gt is not None:
        words.append(f"greater than {gt:g}")
    if le is not None:
        words.append(f"at most {le:g}")
    if lt is not None:
        words.append(f"less than {lt:g}")
    return (" " + " and ".join(words)) if words else ""
