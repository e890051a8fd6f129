"""Names of throwaway twins: recognisable, unique per run and worker, and agable.

A twin is named ``unifydb_test_<stamp>_<owner>_<worker>_<original>``:

* ``stamp``: when the run started, UTC, ``yymmddHHMMSS``;
* ``owner``: four hex digits of the host name's hash, ``p`` (or ``k`` for a
  run with ``--unifydb-keep``) and the pid of the run's main pytest process
  (the xdist controller, or pytest itself without xdist);
* ``worker``: the xdist worker (``gw0``, ``gw1``...), ``main`` without xdist,
  ``tpl`` for a PostgreSQL template shared by the workers of a run;
* ``original``: the original database (keyspace, file...) name, shortened
  with a hash when the server's limit on names requires it.

A later run drops a leftover (:func:`is_stale`) when its owner process is gone
from this host, or, whatever host made it, when it is older than the
``unifydb_stale_after`` ini option (hours, default 24). Twins of a kept run
(``k``) are left alone until they age out.
"""

from __future__ import annotations

import datetime
import hashlib
import os
import re
import socket
from dataclasses import dataclass

PREFIX = "unifydb_test_"
MAIN_WORKER = "main"
TEMPLATE_WORKER = "tpl"
#: hours after which any twin is stale, whoever made it
DEFAULT_STALE_AFTER = 24.0
_STAMP = "%y%m%d%H%M%S"
_NAME = re.compile(
    rf"^{PREFIX}(?P<stamp>\d{{12}})_(?P<host>[0-9a-f]{{4}})(?P<kind>[pk])(?P<pid>\d+)"
    r"_(?P<worker>[a-z0-9]+)_(?P<original>[a-z0-9_]*)$"
)


def host_tag(hostname: str | None = None) -> str:
    """Four hex digits standing for this host (a twin's pid means something only here)."""
    name = socket.gethostname() if hostname is None else hostname
    return hashlib.sha1(name.encode()).hexdigest()[:4]


@dataclass(frozen=True)
class RunId:
    """One test run: every worker of an xdist run shares it."""

    stamp: str
    host: str
    pid: int
    keep: bool = False

    @classmethod
    def new(cls, *, keep: bool = False) -> RunId:
        now = datetime.datetime.now(datetime.timezone.utc)
        return cls(now.strftime(_STAMP), host_tag(), os.getpid(), keep)

    @property
    def owner(self) -> str:
        return f"{self.host}{'k' if self.keep else 'p'}{self.pid}"

    def encode(self) -> str:
        """A string to hand to xdist workers (``RunId.decode`` reads it back)."""
        return f"{self.stamp}_{self.owner}"

    @classmethod
    def decode(cls, text: str) -> RunId:
        match = re.fullmatch(r"(\d{12})_([0-9a-f]{4})([pk])(\d+)", text)
        if match is None:
            raise ValueError(f"not a unifydb run id: {text!r}")
        stamp, host, kind, pid = match.groups()
        return cls(stamp, host, int(pid), kind == "k")

    def name(self, worker: str, original: str, *, limit: int = 63) -> str:
        """The twin of ``original`` for ``worker``, at most ``limit`` characters."""
        head = f"{PREFIX}{self.encode()}_{_clean(worker) or MAIN_WORKER}_"
        return head + shortened(original, limit - len(head))


@dataclass(frozen=True)
class TwinName:
    """What a twin's name says about it."""

    name: str
    started: datetime.datetime
    host: str
    pid: int
    kept: bool
    worker: str
    original: str


def parse(name: str) -> TwinName | None:
    """The parts of a twin's name; None for any other name (case is ignored)."""
    match = _NAME.match(name.lower())
    if match is None:
        return None
    try:
        started = datetime.datetime.strptime(match["stamp"], _STAMP).replace(
            tzinfo=datetime.timezone.utc
        )
    except ValueError:
        return None
    return TwinName(
        name,
        started,
        match["host"],
        int(match["pid"]),
        match["kind"] == "k",
        match["worker"],
        match["original"],
    )


def pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # someone else's process: alive
        return True
    return True


def is_stale(
    twin: TwinName,
    *,
    stale_after_hours: float = DEFAULT_STALE_AFTER,
    now: datetime.datetime | None = None,
    this_host: str | None = None,
) -> bool:
    """Whether a leftover twin may be dropped: its run's process is gone from
    this host (not for a kept run), or it is older than ``stale_after_hours``."""
    current = now or datetime.datetime.now(datetime.timezone.utc)
    if current - twin.started > datetime.timedelta(hours=stale_after_hours):
        return True
    if twin.kept or twin.host != (this_host or host_tag()):
        return False
    return twin.pid != os.getpid() and not pid_alive(twin.pid)


def stale_names(names: list[str], *, stale_after_hours: float = DEFAULT_STALE_AFTER) -> list[str]:
    """The names among ``names`` that are twins a run may drop now."""
    found = []
    for name in names:
        twin = parse(name)
        if twin is not None and is_stale(twin, stale_after_hours=stale_after_hours):
            found.append(name)
    return found


def shortened(original: str, room: int) -> str:
    """``original`` as lower-case ``[a-z0-9_]``, at most ``room`` characters: cut
    and ended with a hash of the whole when too long (so two long names differ)."""
    clean = _clean(original) or "db"
    if len(clean) <= room:
        return clean
    digest = hashlib.sha1(original.encode()).hexdigest()
    if room <= 6:
        return digest[: max(room, 0)]
    return f"{clean[: room - 6]}_{digest[:5]}"


def _clean(text: str) -> str:
    return re.sub(r"[^a-z0-9_]+", "_", text.lower()).strip("_")
