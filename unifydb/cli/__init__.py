"""The ``unifydb`` command: list, show, check and wait for datasources, and run migrations.

``main`` is the click group (embed it as any click command); ``run`` is the
console script around it.
"""

from __future__ import annotations

import os
import sys

from . import datasources, migrate, serve, wait  # noqa: F401 - registers the subcommands on main
from .app import failure_line, main, session

__all__ = ["failure_line", "main", "run"]


def run() -> None:
    """The console script: ``main``, then an immediate exit.

    Every failure a user can cause ends as one ``error: ...`` line on stderr
    and exit code 1 (2 for usage errors); ``--debug`` adds the traceback.

    Health checks abandoned at their deadline may still sit in a driver's C
    call (a hung server, a client whose teardown blocks in gRPC); interpreter
    shutdown would wait for them and turn "bounded" into "hung". Once the
    answer is printed the process ends at once, so the command's time is the
    checks' time. (``main`` itself stays an ordinary click command for callers
    that embed it.)
    """
    try:
        main()
        code = 0
    except SystemExit as exit_:
        code = exit_.code if isinstance(exit_.code, int) else (0 if exit_.code is None else 1)
        if not isinstance(exit_.code, int) and exit_.code is not None:
            print(exit_.code, file=sys.stderr)
    except Exception as error:
        if session.debug:
            import traceback

            text = "".join(traceback.format_exception(error))
            if session.registry is not None:
                text = session.registry.redact(text)
            print(text, file=sys.stderr, end="")
        hint = "" if session.debug else " (run with --debug for the traceback)"
        from unifydb.errors import UnifyDBError

        print(
            f"error: {failure_line(error)}{hint if not isinstance(error, UnifyDBError) else ''}",
            file=sys.stderr,
        )
        code = 1
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)
