"""Run a command beside a throwaway MongoDB-wire server (SecantusDB).

    python -m tests.servers.run VARIABLE -- COMMAND [ARGS...]

starts the server, runs COMMAND with VARIABLE set to the server's URL, stops
the server, and exits with COMMAND's exit code. ``scripts/test.sh`` runs the
example application's tests this way.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
from pathlib import Path

from .mongo_wire import mongo_wire


def main(argv: list[str]) -> int:
    if len(argv) < 3 or argv[1] != "--":
        print(__doc__, file=sys.stderr)
        return 2
    variable, command = argv[0], argv[2:]
    with tempfile.TemporaryDirectory(prefix="unifydb-mongo-") as folder:
        with mongo_wire(Path(folder)) as server:
            environment = {**os.environ, variable: server.url()}
            return subprocess.run(command, env=environment, check=False).returncode


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
