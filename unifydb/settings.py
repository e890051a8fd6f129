"""Where datasource settings come from, and how placeholders resolve.

Files are read with dynaconf (TOML, YAML, JSON, ``.secrets.toml``, dynaconf
environments, ``@format``/``@jinja`` values). On top of them, environment
variables ``UNIFYDB_DATASOURCES__<NAME>__<KEY>`` override any file; their values
are kept as the exact strings the user set and typed later, per datasource
type, so a password such as ``1e5`` or ``true`` is never turned into a number
or a boolean.

``${VAR}`` and ``${VAR:-default}`` placeholders are *not* resolved here: they
resolve when a datasource is first used (:func:`resolve_placeholders`), so an
unset variable of an unused datasource is no error.
"""

from __future__ import annotations

import importlib
import os
import re
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from .errors import SettingsFileError

ENV_PREFIX = "UNIFYDB_"
ENV_DATASOURCES_PREFIX = "UNIFYDB_DATASOURCES__"
SETTINGS_ENV_VAR = "UNIFYDB_SETTINGS"
ENVIRONMENT_ENV_VAR = "UNIFYDB_ENV"
DEFAULT_ENVIRONMENT = "development"
DEFAULT_FILES = ("settings.toml", ".secrets.toml")
SUPPORTED_SUFFIXES = (".toml", ".yaml", ".yml", ".json")

#: how deep a settings tree may nest and how many values it may hold: real
#: settings stay far below both, and deeper or bigger trees (a YAML "billion
#: laughs" of aliases, a structure that contains itself) would otherwise hang
#: or overflow the stack in every walk over them
MAX_DEPTH = 64
MAX_VALUES = 100_000

#: the limit of a settings file's size: real ones are kilobytes
MAX_FILE_BYTES = 16 * 1024 * 1024

# ${VAR} or ${VAR:-default}; $${...} is a literal "${...}". The default may not
# hold braces or another placeholder: nesting is refused, not half-expanded.
_PLACEHOLDER = re.compile(r"\$(\$?)\{([A-Za-z_][A-Za-z0-9_]*)(?::-((?:[^{}$]|\$(?!\{))*))?\}")
#: where a placeholder starts; one that _PLACEHOLDER does not match is malformed
_OPENING = re.compile(r"\$\$\{|\$\{")


class EnvText(str):
    """Text set through an environment variable: typed later, by the field it goes to."""

    __slots__ = ()


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
            raise PlaceholderError(
                "holds a malformed placeholder: write ${NAME} or ${NAME:-default} (NAME of "
                "letters, digits and '_'; a default without braces, so no nesting), or $${ "
                "for a literal '${'"
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


def is_covered(key: str, given: Mapping[str, Any]) -> bool:
    """Whether another given key provides ``key``: ``<key>_file``, or a ``url`` for URL fields.

    A key whose placeholder is unset is no problem then.
    """
    if given.get(f"{key}_file") not in (None, ""):
        return True
    return bool(given.get("url")) and key in URL_FIELDS


def unresolved_variables(entry: Mapping[str, Any]) -> list[str]:
    """Unset variables an entry really needs (those of covered keys left out).

    A malformed placeholder raises :class:`PlaceholderError`.
    """
    resolved: dict[str, Any] = {}
    unresolved: dict[str, list[str]] = {}
    for key, raw in entry.items():
        value, missing = resolve_placeholders(raw)
        if missing:
            unresolved[str(key)] = missing
        elif value != "":
            resolved[str(key)] = value
    needed = [
        var
        for key, missing in unresolved.items()
        if not is_covered(key, resolved)
        for var in missing
    ]
    return list(dict.fromkeys(needed))


def resolve_placeholders(
    value: Any, environ: Mapping[str, str] | None = None
) -> tuple[Any, list[str]]:
    """Substitute placeholders everywhere inside ``value``.

    Returns the resolved value and the variables that were unset (their
    placeholders stay in the text, so nothing is silently replaced by "").
    ``${VAR:-default}`` takes the default when VAR is unset or empty, as in a
    POSIX shell. Substituted text is never expanded again, so a variable whose
    value is itself a placeholder is refused, as is a malformed placeholder
    (:class:`PlaceholderError`).
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
            return _PLACEHOLDER.sub(substitute, item)
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


# --------------------------------------------------------------------------- loading


def settings_files(cwd: Path | None = None) -> tuple[list[Path], bool]:
    """The files to load, and whether the user named them explicitly.

    ``UNIFYDB_SETTINGS`` (comma-separated) wins; otherwise ``settings.toml`` and
    ``.secrets.toml`` in the current directory, where they exist.
    """
    base = cwd or Path.cwd()
    named = os.environ.get(SETTINGS_ENV_VAR, "").strip()
    if named:
        return [_absolute(part.strip(), base) for part in named.split(",") if part.strip()], True
    return [base / name for name in DEFAULT_FILES if (base / name).is_file()], False


def _absolute(path: str, base: Path) -> Path:
    candidate = Path(os.path.expanduser(path))
    return candidate if candidate.is_absolute() else base / candidate


def load_files(
    paths: Iterable[str | os.PathLike[str]], *, apply_env: bool = True
) -> dict[str, Any]:
    """Read settings files with dynaconf and return the ``datasources`` tree.

    Files may be flat (a top-level ``datasources`` table, as the seed's
    ``datasources.yaml``) or split into dynaconf environments
    (``[default.datasources.x]``, ``[production.datasources.x]``); both kinds
    merge, with the active environment (``UNIFYDB_ENV``, default
    "development") over the flat tables over ``default``, and ``global`` last.
    """
    files = [Path(p) for p in paths]
    texts = [_check_readable(path) for path in files]
    tree: dict[str, Any] = {}
    plain = _plain_toml(files, texts)
    if plain is not None:
        tree = plain
    elif files:
        from dynaconf import Dynaconf

        where = ", ".join(map(str, files))
        loaded = Dynaconf(
            settings_files=[str(p) for p in files],
            environments=False,
            encoding="utf-8-sig",
            merge_enabled=True,
            load_dotenv=False,
            # environment variables are applied by apply_env_overrides, untyped
            loaders=[],
            core_loaders=["TOML", "YAML", "JSON"],
        )
        problem: SettingsFileError | None = None
        try:
            tree = _plain(loaded.as_dict(), where=where)
        except SettingsFileError as error:
            problem = error
        except Exception as error:  # dynaconf reports parse errors as many different types
            problem = SettingsFileError(
                f"could not read settings from {where}: {_parse_error_text(error)}",
                fix="correct the file's syntax (TOML, YAML or JSON)",
            )
        if problem is not None:
            # raised outside the except block: the parser's own error, which can
            # quote values from the file (a password, say), is not kept as context
            raise problem
    datasources = merge_environments(tree, os.environ.get(ENVIRONMENT_ENV_VAR))
    if apply_env:
        datasources = apply_env_overrides(datasources)
    return datasources


def _plain_toml(files: list[Path], texts: list[str]) -> dict[str, Any] | None:
    """One TOML file using no dynaconf feature, read directly; None: let dynaconf read.

    dynaconf reads TOML with the same parser, but importing and running it costs
    about 80 ms of every process's first connection. Several files (merging),
    YAML/JSON, ``@format``-style values and ``dynaconf_*`` keys go to dynaconf.
    """
    if len(files) != 1 or files[0].suffix.lower() != ".toml":
        return None
    try:
        import tomllib
    except ImportError:  # Python 3.10
        return None

    problem: SettingsFileError | None = None
    try:
        parsed = tomllib.loads(texts[0])
    except tomllib.TOMLDecodeError as error:
        problem = SettingsFileError(
            f"could not read settings from {files[0]}: {_parse_error_text(error)}",
            fix="correct the file's syntax (TOML, YAML or JSON)",
        )
    if problem is not None:
        raise problem  # outside the except block: the parser's error is not kept
    if _uses_dynaconf(parsed):
        return None
    tree = _plain(parsed, where=str(files[0]))
    return tree if isinstance(tree, dict) else None


def _uses_dynaconf(value: Any) -> bool:
    if isinstance(value, str):
        return value.startswith("@")
    if isinstance(value, dict):
        return any(
            str(key).lower().startswith("dynaconf") or _uses_dynaconf(item)
            for key, item in value.items()
        )
    if isinstance(value, list):
        return any(_uses_dynaconf(item) for item in value)
    return False


def _check_readable(path: Path) -> str:
    if path.suffix.lower() not in SUPPORTED_SUFFIXES:
        raise SettingsFileError(
            f"settings file {str(path)!r} has an unsupported extension",
            key=SETTINGS_ENV_VAR,
            fix=f"use one of {', '.join(SUPPORTED_SUFFIXES)}",
        )
    text = read_text_file(path, what="settings file", key=SETTINGS_ENV_VAR)
    if path.suffix.lower() in (".yaml", ".yml"):
        _check_yaml_size(path, text)
        if "&" in text and "*" in text:
            _check_yaml_aliases(path, text)
    return text


def read_text_file(
    path: Path, *, what: str, key: str | None = None, limit: int = MAX_FILE_BYTES
) -> str:
    """The UTF-8 text of a small regular file (a leading byte-order mark dropped).

    A FIFO, a device (``/dev/zero``, ``/dev/stdin``) or a file over ``limit``
    bytes is refused before anything is read: reading one would block forever
    or fill memory.
    """
    import stat

    reason: str | None = None
    raw = b""
    try:
        info = path.stat()
        if not stat.S_ISREG(info.st_mode):
            reason = "it is not a regular file (a FIFO, device or folder)"
        elif info.st_size > limit:
            reason = f"it is larger than {limit // (1024 * 1024)} MiB"
        else:
            with path.open("rb") as handle:
                raw = handle.read(limit + 1)
            if len(raw) > limit:
                reason = f"it is larger than {limit // (1024 * 1024)} MiB"
    except (OSError, ValueError) as error:  # ValueError: a NUL byte in the path
        reason = str(getattr(error, "strerror", None) or type(error).__name__)
    if reason is not None:
        raise SettingsFileError(
            f"cannot read {what} {str(path)!r}: {reason}",
            key=key,
            fix="point it at a readable settings file (TOML, YAML or JSON)",
        )
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as error:
        raise SettingsFileError(
            f"{what} {str(path)!r} is not valid UTF-8 (byte {error.start})",
            key=key,
            fix="save the file as UTF-8",
        ) from None
    return text.removeprefix("\ufeff")


_YAML_VALUE_LINE = re.compile(r"^[ \t]*(?:-[ \t]+\S|[^\s#:-][^:#\n]*:[ \t]+[^\s#])", re.MULTILINE)


def _check_yaml_size(path: Path, text: str) -> None:
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


def _check_yaml_aliases(path: Path, text: str) -> None:
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


def _parse_error_text(error: BaseException) -> str:
    """What went wrong in a file, without quoting its values.

    Some parsers' messages quote values (a YAML duplicate key prints both
    values; dynaconf's @int/@json print the text they could not convert),
    and a value may be a password.
    """
    name = type(error).__name__
    if isinstance(error, RecursionError):
        return f"values nest more than {MAX_DEPTH} levels deep"
    if isinstance(error, AttributeError) and "has no attribute" in str(error):
        return "the top level is not a table of keys and values"
    problem = getattr(error, "problem", None)
    mark = getattr(error, "problem_mark", None) or getattr(error, "context_mark", None)
    if isinstance(problem, str) and mark is not None:  # YAML: where, and what, without values
        # a duplicate key prints both values; an unquoted value starting with '*' or '&'
        # is read as an alias or anchor, whose name is then quoted
        text = "found a duplicate key" if "duplicate key" in problem else _unquoted(problem)
        return f"{name}: {text} (line {mark.line + 1}, column {mark.column + 1})"
    if name in ("TOMLDecodeError", "JSONDecodeError") or isinstance(error, (ImportError, OSError)):
        return f"{name}: {error}"  # positions and single characters, never values
    if name == "DynaconfParseError":
        return f"{name}: a value using a dynaconf @-token (@int, @json, ...) could not be converted"
    if name in ("DynaconfFormatError", "DynaconfFileNotFoundError"):
        return f"{name}: an @format/@get/@read_file value could not be evaluated"
    return f"{name} (its details are not shown: they may quote a value from the file)"


def _unquoted(text: str) -> str:
    """``text`` with quoted names and values replaced by '...' (single characters and
    escapes such as '\\t' stay: they say what the parser tripped over)."""

    def hide(match: re.Match[str]) -> str:
        inner = match.group(0)[1:-1]
        return match.group(0) if len(inner) <= 1 or re.fullmatch(r"\\\w+", inner) else "'...'"

    return re.sub(r"'[^']*'|\"[^\"]*\"", hide, text)


def merge_environments(tree: Mapping[str, Any], environment: str | None) -> dict[str, Any]:
    """Flatten dynaconf-style environment sections into one ``datasources`` tree."""
    sections = {str(key).lower(): value for key, value in tree.items()}
    active = (environment or DEFAULT_ENVIRONMENT).lower()
    layers = [
        _section_datasources(sections.get("default")),
        sections.get("datasources"),
        _section_datasources(sections.get(active)) if active not in ("default", "global") else None,
        _section_datasources(sections.get("global")),
    ]
    merged: dict[str, Any] = {}
    for layer in layers:
        if layer is None:
            continue
        if not isinstance(layer, Mapping):
            raise SettingsFileError(
                f"'datasources' must be a table of named datasources, not {type(layer).__name__}",
                key="datasources",
                fix="write [datasources.<name>] tables (or datasources: <name>: in YAML)",
            )
        _check_names(layer)
        for name, entry in layer.items():
            merged = merge_entry(merged, str(name), entry)
    return merged


_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


def _check_names(layer: Mapping[str, Any]) -> None:
    """Names are case-insensitive, so two that differ only in case are one
    datasource written twice: refused, as are empty names and control characters.
    The same holds for the keys of each entry."""
    seen: dict[str, str] = {}
    for name in map(str, layer):
        if not name.strip() or _CONTROL.search(name):
            raise SettingsFileError(
                "a datasource has an empty name, or one holding a control character",
                key="datasources",
                fix="name every [datasources.<name>] table with letters, digits, '_' or '-'",
            )
        other = seen.setdefault(name.lower(), name)
        if other != name:
            raise SettingsFileError(
                f"datasources {other!r} and {name!r} differ only in case, and names are "
                "case-insensitive",
                datasource=name.lower(),
                key="datasources",
                fix="keep one of the two tables (merge their keys)",
            )
        entry = layer[name]
        if isinstance(entry, Mapping):
            keys: dict[str, str] = {}
            for option in map(str, entry):
                first = keys.setdefault(option.lower(), option)
                if first != option:
                    raise SettingsFileError(
                        f"keys {first!r} and {option!r} differ only in case, and keys are "
                        "case-insensitive",
                        datasource=name.lower(),
                        key=option.lower(),
                        fix="keep one of the two",
                    )


def _section_datasources(section: Any) -> Any:
    if isinstance(section, Mapping):
        for key, value in section.items():
            if str(key).lower() == "datasources":
                return value
    return None


def merge_entry(tree: dict[str, Any], name: str, entry: Any) -> dict[str, Any]:
    """Merge one datasource entry into ``tree``; names and first-level keys are case-insensitive."""
    key = name.lower()
    if not isinstance(entry, Mapping):
        # kept as-is: the registry reports it against this datasource's name,
        # so one broken entry never hides the others
        tree[key] = entry
        return tree
    current = tree.get(key)
    merged: dict[str, Any] = dict(current) if isinstance(current, Mapping) else {}
    for option, value in entry.items():
        option_key = str(option).lower()
        previous = merged.get(option_key)
        if isinstance(previous, Mapping) and isinstance(value, Mapping):
            merged[option_key] = _deep_merge(previous, value)
        else:
            merged[option_key] = value
    tree[key] = merged
    return tree


def _deep_merge(base: Mapping[str, Any], update: Mapping[str, Any]) -> dict[str, Any]:
    result = dict(base)
    for key, value in update.items():
        if isinstance(result.get(key), Mapping) and isinstance(value, Mapping):
            result[key] = _deep_merge(result[key], value)
        else:
            result[key] = value
    return result


def apply_env_overrides(
    datasources: dict[str, Any], environ: Mapping[str, str] | None = None
) -> dict[str, Any]:
    """Apply ``UNIFYDB_DATASOURCES__<NAME>__<KEY>[__<SUBKEY>...]`` variables.

    Values stay the strings the user wrote; the typed option models turn
    ``"5432"`` into an int and ``"false"`` into False where the field asks for
    it. A value that starts with ``[`` or ``{`` and parses as a TOML/JSON list
    or table becomes one (contact points, connect args); anything else stays
    text. ``@int``-style dynaconf tokens are honoured.
    """
    env = os.environ if environ is None else environ
    for variable in sorted(env):
        if not variable.upper().startswith(ENV_DATASOURCES_PREFIX):
            continue
        path = [part for part in variable[len(ENV_DATASOURCES_PREFIX) :].split("__") if part]
        if not path:
            continue
        name = path[0]
        value: Any = _parse_env_value(env[variable], variable, name.lower())
        if len(path) == 1:
            if not isinstance(value, Mapping):
                raise SettingsFileError(
                    f"{variable} must hold a table of options, e.g. '{{type=\"sqlite\"}}'",
                    datasource=name.lower(),
                    key=variable,
                    fix=f"set {variable}__<KEY> for each option instead",
                )
            for option, item in value.items():
                _merge_env_path(datasources, name, [str(option)], item)
            if not value:
                datasources.setdefault(name.lower(), {})
            continue
        _merge_env_path(datasources, name, path[1:], value)
    return datasources


def _merge_env_path(tree: dict[str, Any], name: str, parts: list[str], value: Any) -> None:
    """Set ``value`` at ``parts`` inside datasource ``name``, matching each sub-key
    case-insensitively against the keys already there (new ones lower-cased):
    an environment variable's name cannot say whether the file wrote
    ``application_name`` or ``Application_Name``."""
    key = name.lower()
    current = tree.get(key)
    entry: dict[str, Any] = dict(current) if isinstance(current, Mapping) else {}
    node = entry
    for part in parts[:-1]:
        existing = _matching_key(node, part)
        child = node.get(existing)
        node[existing] = dict(child) if isinstance(child, Mapping) else {}
        node = node[existing]
    last = _matching_key(node, parts[-1])
    previous = node.get(last)
    if isinstance(previous, Mapping) and isinstance(value, Mapping):
        node[last] = _deep_merge_casefold(previous, value)
    else:
        node[last] = value
    tree[key] = entry


def _matching_key(table: Mapping[str, Any], key: str) -> str:
    return next((existing for existing in table if existing.lower() == key.lower()), key.lower())


def _deep_merge_casefold(base: Mapping[str, Any], update: Mapping[str, Any]) -> dict[str, Any]:
    result = dict(base)
    for key, value in update.items():
        existing = _matching_key(result, str(key))
        if isinstance(result.get(existing), Mapping) and isinstance(value, Mapping):
            result[existing] = _deep_merge_casefold(result[existing], value)
        else:
            result[existing] = value
    return result


def _parse_env_value(text: str, variable: str, datasource: str | None = None) -> Any:
    stripped = text.strip()
    if not stripped.startswith(("[", "{", "@")):
        return EnvText(text)
    from dynaconf.utils.parse_conf import Lazy, parse_conf_data

    try:
        parsed = parse_conf_data(text, tomlfy=True, box_settings={})
    except Exception:  # not TOML after all: the text is the value
        return EnvText(text)
    if not (stripped.startswith("@") or isinstance(parsed, (list, dict))):
        return EnvText(text)
    problem: SettingsFileError | None = None
    if isinstance(parsed, Lazy):  # @format, @jinja, @get, @read_file: evaluate now
        try:
            parsed = parsed(None)
        except Exception as error:
            problem = SettingsFileError(
                f"its {stripped.split()[0]} value could not be evaluated ({type(error).__name__})",
                datasource=datasource,
                key=variable,
                fix="use a plain value, or a ${VAR} placeholder",
            )
    if problem is None and not _is_plain(parsed):
        # @merge, @del, @insert, @empty...: meaningful only between settings files
        problem = SettingsFileError(
            f"the dynaconf token {stripped.split()[0]} is not supported in an environment override",
            datasource=datasource,
            key=variable,
            fix="use a plain value, a TOML list or table, or @int/@float/@bool/@json/@none",
        )
    if problem is not None:
        raise problem
    return _plain(parsed, where=variable)


def _is_plain(value: Any) -> bool:
    """Whether ``value`` is data (not one of dynaconf's lazy or marker objects)."""
    if isinstance(value, Mapping):
        return all(_is_plain(sub) for sub in value.values())
    if isinstance(value, (list, tuple)):
        return all(_is_plain(sub) for sub in value)
    return not type(value).__module__.startswith("dynaconf")


def _plain(value: Any, *, where: str = "the settings") -> Any:
    """Dynaconf boxes -> plain dicts and lists (cheap to copy, safe to hand out).

    Refuses trees deeper than MAX_DEPTH (or that contain themselves) and
    bigger than MAX_VALUES with a :class:`SettingsFileError`.
    """
    count = 0

    def convert(item: Any, depth: int) -> Any:
        nonlocal count
        count += 1
        if count > MAX_VALUES:
            raise SettingsFileError(
                f"too many values in {where} (more than {MAX_VALUES:,})",
                fix="datasource settings are a few dozen keys; check for generated or "
                "aliased values",
            )
        if depth > MAX_DEPTH:
            raise SettingsFileError(
                f"values in {where} nest more than {MAX_DEPTH} levels deep (or contain themselves)",
                fix="datasource settings nest a few levels at most",
            )
        if isinstance(item, Mapping):
            return {str(key): convert(sub, depth + 1) for key, sub in item.items()}
        if isinstance(item, (list, tuple)):
            return [convert(sub, depth + 1) for sub in item]
        return item

    return convert(value, 0)


def from_source(source: Any) -> dict[str, Any]:
    """The ``datasources`` tree from whatever :class:`unifydb.Registry` was given.

    ``None`` loads the default files; a path or list of paths loads those; a
    Dynaconf object or any mapping with a ``datasources`` key is read as-is.
    """
    if source is None:
        paths, _ = settings_files()
        return load_files(paths)
    if isinstance(source, (str, os.PathLike)):
        return load_files([source])
    if isinstance(source, (list, tuple)) and all(
        isinstance(item, (str, os.PathLike)) for item in source
    ):
        return load_files(source)
    if hasattr(source, "as_dict") and callable(source.as_dict):  # a Dynaconf / LazySettings
        return merge_environments(
            _plain(source.as_dict(), where="the settings object"),
            os.environ.get(ENVIRONMENT_ENV_VAR),
        )
    if isinstance(source, Mapping):
        return merge_environments(
            _plain(source, where="the settings mapping"), os.environ.get(ENVIRONMENT_ENV_VAR)
        )
    raise SettingsFileError(
        f"Registry(settings=...) got a {type(source).__name__}",
        fix="pass a Dynaconf object, a mapping with a 'datasources' key, or a settings file path",
    )
