"""YAML that would cost dynaconf minutes and gigabytes, refused before it reads it:
too many values, or aliases of aliases ("billion laughs")."""

from __future__ import annotations

import importlib
import re
from pathlib import Path
from typing import Any

from unifydb.errors import SettingsFileError

from .limits import MAX_DEPTH, MAX_VALUES

_YAML_VALUE_LINE = re.compile(r"^[ \t]*(?:-[ \t]+\S|[^\s#:-][^:#\n]*:[ \t]+[^\s#])", re.MULTILINE)


def check_yaml_size(path: Path, text: str) -> None:
    """Refuse YAML holding more than MAX_VALUES values, before dynaconf reads it.

    dynaconf spent 20 s and 330 MB on a 300,000-entry file before our limit
    was checked. Block-style lines ("key: value", "- value") are counted with
    one regular expression; flow style (``{a: 1, b: 2}``) by the parser's
    events, stopping at the limit.
    """
    if text.count("\n") < MAX_VALUES // 2 and text.count(",") < MAX_VALUES // 2:
        return  # too short to hold that many values
    if len(_YAML_VALUE_LINE.findall(text)) <= MAX_VALUES and not _too_many_yaml_scalars(text):
        return
    raise SettingsFileError(
        f"settings file {str(path)!r} holds more than {MAX_VALUES:,} values",
        fix="datasource settings are a few dozen keys each; check for generated content",
    )


def _too_many_yaml_scalars(text: str) -> bool:
    try:
        yaml: Any = importlib.import_module("dynaconf.vendor.ruamel.yaml")
        scalars = 0
        for event in yaml.parse(text, Loader=yaml.SafeLoader):
            if type(event).__name__ == "ScalarEvent":
                scalars += 1
                if scalars > 2 * MAX_VALUES:  # a key and a value per entry
                    return True
    except Exception:  # not valid YAML: dynaconf reports that, without the value
        return False
    return False


def check_yaml_aliases(path: Path, text: str) -> None:
    """Refuse YAML whose aliases expand to more than MAX_VALUES values.

    A few lines of nested aliases ("billion laughs") expand to millions of
    values; dynaconf would spend minutes (and gigabytes) copying them.
    """
    try:
        # imported by name: mypy cannot parse dynaconf's vendored (minified) ruamel
        yaml: Any = importlib.import_module("dynaconf.vendor.ruamel.yaml")
        documents = list(yaml.compose_all(text, Loader=yaml.SafeLoader))
    except Exception:  # not valid YAML: dynaconf reports that, without the value
        return
    sizes: dict[int, int] = {}

    def size(node: Any, depth: int) -> int:
        known = sizes.get(id(node))
        if known is not None:
            return known
        if depth > MAX_DEPTH:
            return MAX_VALUES + 1  # or an alias to itself
        sizes[id(node)] = MAX_VALUES + 1  # while counting: a node that contains itself
        total = 1
        for child in node.value if isinstance(node.value, list) else ():
            for item in child if isinstance(child, tuple) else (child,):
                total += size(item, depth + 1)
                if total > MAX_VALUES:
                    break
        sizes[id(node)] = total
        return total

    for document in documents:
        if document is not None and size(document, 0) > MAX_VALUES:
            raise SettingsFileError(
                f"settings file {str(path)!r} expands to more than {MAX_VALUES:,} values "
                "(through YAML anchors and aliases) or contains itself",
                fix="write the values out instead of nesting aliases of aliases",
            )
