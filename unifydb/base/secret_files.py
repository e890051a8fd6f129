"""Secrets read from files: ``password_file = "/run/secrets/pg"`` and every
other ``<secret>_file`` twin (Docker and Kubernetes secrets)."""

from __future__ import annotations

import logging
import os
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from unifydb.errors import ConfigurationError
from unifydb.options import NUL_MESSAGE, RotatingSecret

from .sources import CachedSource

_log = logging.getLogger("unifydb.credentials")

#: a secret file larger than this is not a secret file
SECRET_FILE_LIMIT = 64 * 1024


def read_secret_files(
    name: str, secret_fields: Iterable[str], data: dict[str, Any]
) -> dict[str, Any]:
    """``data`` with each ``<secret>_file`` key replaced by the secret read from the
    file: a :class:`~unifydb.options.RotatingSecret` that reads the file again
    whenever it changed (read once here, so a missing file is reported at once).

    A trailing newline (files written by editors and ``echo`` end in one) and a
    leading byte-order mark are not part of the secret; an empty file, a NUL
    character, a file that is not a small regular UTF-8 file, or both the key
    and its ``_file`` twin are errors naming the ``_file`` key.
    """
    for secret in secret_fields:
        file_key = f"{secret}_file"
        if file_key not in data:
            continue
        path = Path(str(data.pop(file_key))).expanduser()
        if secret in data:
            raise ConfigurationError(
                f"both {secret!r} and {file_key!r} are set",
                datasource=name,
                key=file_key,
                fix=f"keep only one of {secret!r} and {file_key!r}",
            )
        source = FileSource(path, datasource=name, secret=secret)
        source.current()
        data[secret] = RotatingSecret(source)
    return data


def read_secret(path: Path, *, name: str, secret: str, key: str) -> str:
    """The secret held by the file at ``path``, or a :class:`ConfigurationError`."""
    text, reason = read_small_text(path)
    problem = None
    if text is None:
        problem = f"cannot read the {secret} from {str(path)!r}: {reason}"
    else:
        text = text.removeprefix("\ufeff")
        text = text[:-2] if text.endswith("\r\n") else text.removesuffix("\n")
        if "\x00" in text:
            problem = f"the file {str(path)!r} {NUL_MESSAGE}"
        elif not text:
            problem = f"the file {str(path)!r} is empty"
    if problem is not None:
        raise ConfigurationError(
            problem,
            datasource=name,
            key=key,
            fix=f"point it at a readable UTF-8 file holding only the {secret} (a trailing "
            f"newline is fine), or remove {key!r} if there is no {secret}",
        )
    assert text is not None
    return text


def read_small_text(path: Path) -> tuple[str | None, str]:
    """(text, "") from a small regular UTF-8 file, or (None, why not).

    A FIFO or device (/dev/stdin, /dev/zero) would block or never end.
    """
    try:
        if not path.is_file():
            return None, "not a regular file" if path.exists() else "no such file"
        with path.open("rb") as handle:
            raw = handle.read(SECRET_FILE_LIMIT + 1)
    except (OSError, ValueError) as error:  # ValueError: a NUL byte in the path
        return None, getattr(error, "strerror", None) or type(error).__name__
    if len(raw) > SECRET_FILE_LIMIT:
        return None, f"larger than {SECRET_FILE_LIMIT // 1024} KiB"
    try:
        return raw.decode("utf-8"), ""
    except UnicodeDecodeError:
        return None, "not UTF-8"


class FileSource(CachedSource):
    """A secret file, re-read when its mtime, size or inode changed.

    A file that cannot be read just then (an editor halfway through writing it,
    a Kubernetes volume swapping its symlink) keeps the previous value in use;
    the next connection looks again.
    """

    def __init__(self, path: Path, *, datasource: str, secret: str) -> None:
        super().__init__(datasource)
        self.path = path
        self.secret = secret
        self.key = f"{secret}_file"
        self._signature: tuple[int, int, int] | None = None

    def _stat(self) -> tuple[int, int, int] | None:
        try:
            info = os.stat(self.path)
        except (OSError, ValueError):
            return None
        return (info.st_mtime_ns, info.st_size, info.st_ino)

    def _changed(self) -> bool:
        return self._stat() != self._signature

    def _resolve(self, force: bool) -> tuple[str, float]:
        signature = self._stat()
        try:
            value = read_secret(self.path, name=self.datasource, secret=self.secret, key=self.key)
        except ConfigurationError:
            if self._value is None:
                raise
            _log.warning(
                "%s: %s could not be read just now; the previous %s stays in use",
                self.datasource,
                self.key,
                self.secret,
            )
            return self._value, float("inf")
        self._signature = signature
        return value, float("inf")
