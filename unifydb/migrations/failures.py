"""Why a migration failed, said in one line: the revision that was running, the
cause, what the version table says now, and a hint when an env.py looks for
something unifydb does not provide."""

from __future__ import annotations

import os
import traceback
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from alembic.config import Config

    from .runner import TargetResult


def failing_revision(
    error: BaseException, config: Config, options: Any, current: str | None
) -> str | None:
    """The revision that was running when an upgrade or downgrade failed: the
    innermost revision script in the traceback, else the next step from ``current``."""
    found = revision_in_traceback(error)
    if found is not None:
        return found
    from alembic.script import ScriptDirectory

    command = getattr(options, "cmd", (None,))[0]
    name = getattr(command, "__name__", "")
    try:
        script = ScriptDirectory.from_config(config)
        if name == "downgrade":
            return current
        if name == "upgrade":
            target = getattr(options, "revision", "heads")
            path = list(script.iterate_revisions(target, current or "base"))
            return path[-1].revision if path else None
    except Exception:  # an unknown revision: the error says so itself
        return None
    return None


def revision_in_traceback(error: BaseException) -> str | None:
    """The ``revision`` of the innermost revision script (a file under versions/)
    the error passed through."""
    found = None
    for frame, _ in traceback.walk_tb(error.__traceback__):
        if f"{os.sep}versions{os.sep}" in frame.f_code.co_filename:
            revision = frame.f_globals.get("revision")
            if isinstance(revision, str):
                found = revision
    return found


class RevisionFailed(Exception):
    """A command failed while migrating; ``revision`` is the one that was running."""

    def __init__(
        self, error: BaseException, revision: str | None, rolled_back: bool, partial: bool
    ) -> None:
        super().__init__(str(error))
        self.error = error
        self.revision = revision
        #: the database undid the failed revision's changes (transactional DDL)
        self.rolled_back = rolled_back
        #: what the failed revision ran before failing stays (DDL commits itself)
        self.partial = partial


def failure_line(
    error: BaseException,
    result: TargetResult,
    failing: str | None,
    *,
    rolled_back: bool = False,
    partial: bool = False,
    offline: bool = False,
) -> str:
    """One line for an env.py's or a revision's failure: where, what, and a hint."""
    from alembic.util import CommandError

    if isinstance(error, CommandError):  # Alembic's own: an unknown revision, say
        return (
            f"alembic: {error}. Fix: check the revision (`unifydb migrate status` shows where "
            "each database stands)"
        )
    where = _env_frame(error)
    if not _in_revision(error):
        failing = None  # the environment failed before any revision ran
    elif failing is None:
        failing = revision_in_traceback(error)
    text = str(error).strip()
    cause = f"{type(error).__name__}: {text.splitlines()[0] if text else ''}"
    parts = []
    if failing:
        parts.append(f"revision {failing} failed")
    elif where:
        parts.append(f"the Alembic environment failed ({where})")
    else:
        parts.append("the migration failed")
    parts.append(cause.rstrip(": "))
    version = result.after or "base (no revision)"
    if offline:
        pass  # no database was touched: there is no version table to speak of
    elif rolled_back and failing is not None:
        parts.append(f"its changes were rolled back; the version table says {version}")
    elif failing is not None or result.before != result.after:
        parts.append(f"the version table now says {version}")
    if partial and failing is not None:
        parts.append(
            f"statements {failing} ran before failing stay (this database commits each DDL "
            f"statement), so the schema may be partly at {failing}: repair it before upgrading"
        )
    hint = _hint(error)
    return "; ".join(parts) + (f". Hint: {hint}" if hint else "")


def _env_frame(error: BaseException) -> str | None:
    """Where in the env.py the error came from (its innermost env.py frame)."""
    for frame in reversed(traceback.extract_tb(error.__traceback__)):
        if Path(frame.filename).name == "env.py":
            return f"env.py line {frame.lineno}"
    return None


def _in_revision(error: BaseException) -> bool:
    """Whether the error came out of a revision script (a file under versions/)."""
    return any(
        f"{os.sep}versions{os.sep}" in frame.filename
        for frame in traceback.extract_tb(error.__traceback__)
    )


def _hint(error: BaseException) -> str | None:
    if isinstance(error, KeyError):
        return (
            f"the env.py looks up {error.args[0]!r}, which unifydb does not provide; it "
            "provides config.attributes['connection'] (a live connection), "
            "config.attributes['unifydb.registry'] and sqlalchemy.url"
        )
    if "MockConnection" in str(error):
        return (
            "this revision reads or writes data, which offline --sql cannot render; run it "
            "online, or stamp past it"
        )
    if isinstance(error, AttributeError) and "NoneType" in str(error):
        return (
            "the env.py used something that is None here; unifydb provides "
            "config.attributes['connection'], config.attributes['unifydb.registry'] and "
            "sqlalchemy.url"
        )
    return None
