"""``ManagedServer``: the process lifecycle every throwaway server shares.

A server module subclasses it (as a dataclass with ``host``, ``port`` and
``log_path``) and says only what is its own: how to start the process
(``_spawn``), when it answers (``_ready``), and, as class attributes, the
signal that stops it cleanly, how long to wait for that, and how long it may
take to come up. ``start``/``stop``/``restart``/``kill``/``running`` and the
reaping of the process (and of anything it forked) are done here, through
``spawn``/``stop_process``/``wait_until_ready`` of :mod:`tests.servers`.
"""

from __future__ import annotations

import signal
import subprocess
from pathlib import Path
from typing import ClassVar

from . import stop_process, wait_until_ready


class ManagedServer:
    """One server process that can be started, stopped, restarted and killed.

    Subclasses are dataclasses that define ``host``, ``port`` and ``log_path``
    fields and implement ``_spawn`` and ``_ready``.
    """

    host: str
    port: int
    log_path: Path

    #: what the process is called in error messages ("postgres", "mariadbd", ...)
    process_name: ClassVar[str] = "server"
    #: the signal that asks the server to shut down cleanly
    stop_signal: ClassVar[int] = signal.SIGTERM
    #: seconds ``stop()`` waits for a clean shutdown before SIGKILL, by default
    stop_grace: ClassVar[float] = 20.0
    #: seconds ``start()``/``restart()`` wait for the server to answer, by default
    start_timeout: ClassVar[float] = 60.0
    #: seconds between two readiness probes
    ready_interval: ClassVar[float] = 0.1

    _proc: subprocess.Popen[bytes] | None = None

    # ------------------------------------------------------------------ what subclasses provide

    def _spawn(self) -> subprocess.Popen[bytes]:
        """Start the server process (with :func:`tests.servers.spawn`)."""
        raise NotImplementedError

    def _ready(self) -> bool:
        """True once the server answers; must not raise for "not yet"."""
        raise NotImplementedError

    # ------------------------------------------------------------------ the shared lifecycle

    @property
    def running(self) -> bool:
        return self._proc is not None and self._proc.poll() is None

    def start(self, timeout: float | None = None) -> float:
        """Start on the same port and data; returns seconds to ready (0.0 when running)."""
        if self.running:
            return 0.0
        self.launch()
        return self.wait_ready(timeout)

    def launch(self) -> None:
        """Start the process without waiting for it (several servers start at once
        this way: ``launch()`` each, then ``wait_ready()`` each)."""
        if not self.running:
            self._proc = self._spawn()

    def wait_ready(self, timeout: float | None = None) -> float:
        """Wait until a launched server answers; returns seconds waited."""
        assert self._proc is not None, "launch() it first"
        return wait_until_ready(
            self._ready,
            proc=self._proc,
            log_path=self.log_path,
            what=f"{self.process_name} on {self.host}:{self.port}",
            timeout=self.start_timeout if timeout is None else timeout,
            interval=self.ready_interval,
        )

    def stop(self, grace: float | None = None) -> None:
        """Clean shutdown (``stop_signal``), SIGKILL to the whole process group after
        ``grace`` seconds; the process is reaped either way."""
        if self._proc is not None:
            stop_process(self._proc, self.stop_signal, self.stop_grace if grace is None else grace)
            self._proc = None

    def restart(self, timeout: float | None = None) -> float:
        """``stop()`` then ``start()``: same port, same data; returns seconds to ready."""
        self.stop()
        return self.start(timeout)

    def kill(self) -> None:
        """Crash it (SIGKILL to the whole process group); ``start()`` then recovers."""
        if self._proc is not None:
            stop_process(self._proc, signal.SIGKILL, grace=5.0)
            self._proc = None
