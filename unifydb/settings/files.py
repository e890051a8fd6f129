"""Reading settings files: TOML, YAML and JSON, through dynaconf where needed.

Files are read with dynaconf (TOML, YAML, JSON, ``.secrets.toml``, dynaconf
environments, ``@format``/``@jinja`` values); a single plain TOML file is read
directly, which saves every process's first connection dynaconf's import.
"""

from __future__ import annotations

import importlib
import os
import re
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from unifydb.errors import SettingsFileError

from .envvars import apply_env_overrides
from .limits import (
    DEFAULT_FILES,
    ENVIRONMENT_ENV_VAR,
    MAX_DEPTH,
    MAX_FILE_BYTES,
    SETTINGS_ENV_VAR,
    SUPPORTED_SUFFIXES,
)
from .tree import _plain, merge_environments
from .yaml_limits import check_yaml_aliases, check_yaml_size


def settings_files(
    cwd: Path | None = None, environ: Mapping[str, str] | None = None
) -> tuple[list[Path], bool]:
    """The files to load, and whether the user named them explicitly.

    ``UNIFYDB_SETTINGS`` (comma-separated) wins; otherwise ``settings.toml`` and
    ``.secrets.toml`` in the current directory, where they exist.
    """
    env = os.environ if environ is None else environ
    base = cwd or Path.cwd()
    named = env.get(SETTINGS_ENV_VAR, "").strip()
    if named:
        return [_absolute(part.strip(), base) for part in named.split(",") if part.strip()], True
    return [base / name for name in DEFAULT_FILES if (base / name).is_file()], False


def _absolute(path: str, base: Path) -> Path:
    candidate = Path(os.path.expanduser(path))
    return candidate if candidate.is_absolute() else base / candidate


def load_files(
    paths: Iterable[str | os.PathLike[str]],
    *,
    apply_env: bool = True,
    environ: Mapping[str, str] | None = None,
) -> dict[str, Any]:
    """Read settings files with dynaconf and return the ``datasources`` tree.

    Files may be flat (a top-level ``datasources`` table, as the seed's
    ``datasources.yaml``) or split into dynaconf environments
    (``[default.datasources.x]``, ``[production.datasources.x]``); both kinds
    merge, with the active environment (``UNIFYDB_ENV``, default
    "development") over the flat tables over ``default``, and ``global`` last.

    A file's top-level ``import:`` list (ORBIT's ``config.yaml`` pulls in its
    ``datasources.yaml`` so) loads the files it names first, relative to it.
    """
    env = os.environ if environ is None else environ
    files = with_imports([Path(p) for p in paths])
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
    datasources = merge_environments(tree, env.get(ENVIRONMENT_ENV_VAR))
    if apply_env:
        datasources = apply_env_overrides(datasources, env)
    return datasources


#: how deep ``import:`` lists may nest
MAX_IMPORT_DEPTH = 16


def with_imports(files: list[Path], seen: set[Path] | None = None, depth: int = 0) -> list[Path]:
    """``files`` with the files their ``import:`` lists name before them (each
    once, relative to the file naming it)."""
    seen = set() if seen is None else seen
    result: list[Path] = []
    for path in files:
        _check_readable(path)  # a NUL in the path, a missing file: its own clear error
        key = path.resolve()
        if key in seen:
            continue
        seen.add(key)
        imported = _imports_of(path)
        if imported:
            if depth >= MAX_IMPORT_DEPTH:
                raise SettingsFileError(
                    f"settings file {str(path)!r} imports files more than "
                    f"{MAX_IMPORT_DEPTH} levels deep (or imports itself)",
                    fix="flatten the import: lists",
                )
            result += with_imports([path.parent / name for name in imported], seen, depth + 1)
        result.append(path)
    return result


def _imports_of(path: Path) -> list[str]:
    """The top-level ``import:`` list of a settings file (empty when it has none)."""
    text = _check_readable(path)
    if "import" not in text:
        return []
    tree = _parse_top_level(path, text)
    names = tree.get("import") if isinstance(tree, dict) else None
    if names is None:
        return []
    if isinstance(names, str):
        names = [names]
    if not isinstance(names, list) or not all(isinstance(name, str) for name in names):
        raise SettingsFileError(
            f"the 'import' key of {str(path)!r} must be a list of file names",
            key="import",
            fix='write import: ["datasources.yaml", ...] (paths relative to this file)',
        )
    return names


def _parse_top_level(path: Path, text: str) -> Any:
    """The file parsed as plain data, or {} when it does not parse (the real load
    reports that, with its own wording)."""
    import json

    suffix = path.suffix.lower()
    try:
        if suffix == ".toml":
            import tomllib

            return tomllib.loads(text)
        if suffix == ".json":
            return json.loads(text)
        yaml: Any = importlib.import_module("dynaconf.vendor.ruamel.yaml")
        return yaml.YAML(typ="safe", pure=True).load(text)
    except Exception:  # reported by the real load
        return {}


def explain_empty(paths: Iterable[str | os.PathLike[str]]) -> str:
    """Why settings files hold no datasource: what their top level has instead."""
    files = [Path(p) for p in paths]
    if not files:
        return (
            "no datasources configured: no settings file here (create settings.toml, see "
            "the README, or set UNIFYDB_SETTINGS)"
        )
    found: list[str] = []
    for path in with_imports(files):
        tree = _parse_top_level(path, _check_readable(path))
        if isinstance(tree, dict):
            found += [str(key) for key in tree if str(key) != "import"]
    keys = ", ".join(dict.fromkeys(found)) or "nothing"
    return (
        f"no datasources configured: no 'datasources' table in {', '.join(map(str, files))} "
        f"(top-level keys: {keys}); "
        "datasources go under a 'datasources' key, in this file or a file it imports "
        "(import: [...])"
    )


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
        check_yaml_size(path, text)
        if "&" in text and "*" in text:
            check_yaml_aliases(path, text)
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


def source_files(source: Any, environ: Mapping[str, str] | None = None) -> list[Path] | None:
    """The files a :class:`unifydb.Registry` source stands for (None: not files)."""
    if source is None:
        return settings_files(environ=environ)[0]
    if isinstance(source, (str, os.PathLike)):
        return [Path(source)]
    if isinstance(source, (list, tuple)) and all(
        isinstance(item, (str, os.PathLike)) for item in source
    ):
        return [Path(item) for item in source]
    return None


def from_source(source: Any, environ: Mapping[str, str] | None = None) -> dict[str, Any]:
    """The ``datasources`` tree from whatever :class:`unifydb.Registry` was given.

    ``None`` loads the default files; a path or list of paths loads those; a
    Dynaconf object or any mapping with a ``datasources`` key is read as-is.
    ``environ`` (default: the process's) holds the ``UNIFYDB_*`` variables.
    """
    env = os.environ if environ is None else environ
    files = source_files(source, env)
    if files is not None:
        return load_files(files, environ=env)
    if hasattr(source, "as_dict") and callable(source.as_dict):  # a Dynaconf / LazySettings
        return merge_environments(
            _plain(source.as_dict(), where="the settings object"), env.get(ENVIRONMENT_ENV_VAR)
        )
    if isinstance(source, Mapping):
        return merge_environments(
            _plain(source, where="the settings mapping"), env.get(ENVIRONMENT_ENV_VAR)
        )
    raise SettingsFileError(
        f"Registry(settings=...) got a {type(source).__name__}",
        fix="pass a Dynaconf object, a mapping with a 'datasources' key, or a settings file path",
    )
