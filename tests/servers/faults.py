"""Network faults on 127.0.0.1: a silent listener, a listener that answers
garbage, a proxy that can stall or reset its connections, and a port with
nothing behind it.

Threads block in accept()/recv() (no polling); on exit the sockets are shut
down, which wakes them, and they are joined.
"""

from __future__ import annotations

import contextlib
import dataclasses
import socket
import struct
import threading
from collections.abc import Iterator

from . import HOST, free_port

_JOIN_TIMEOUT = 5.0


def closed_port() -> int:
    """A 127.0.0.1 port with nothing listening (connects get ECONNREFUSED)."""
    return free_port()


def _listener(host: str = HOST) -> socket.socket:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, 0))
    sock.listen(128)
    return sock


def _shut(sock: socket.socket, *, reset: bool = False) -> None:
    """Close ``sock``, waking any thread blocked on it; ``reset`` sends RST."""
    # close() alone does not wake a thread blocked in recv() on Linux;
    # shutdown() does. SHUT_RD sends nothing, so with linger 0 the final
    # close() turns into a RST instead of a FIN.
    with contextlib.suppress(OSError):
        if reset:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        sock.shutdown(socket.SHUT_RD if reset else socket.SHUT_RDWR)
    sock.close()


@dataclasses.dataclass
class HangingListener:
    """Accepts TCP connections and never sends a byte. Unpacks as (host, port)."""

    host: str
    port: int
    _conns: list[socket.socket] = dataclasses.field(default_factory=list, repr=False)

    @property
    def accepted(self) -> int:
        return len(self._conns)

    @property
    def address(self) -> tuple[str, int]:
        return (self.host, self.port)

    def __iter__(self) -> Iterator[str | int]:
        return iter((self.host, self.port))


@contextlib.contextmanager
def hanging_listener(
    host: str = HOST, *, close_after_accept: bool = False
) -> Iterator[HangingListener]:
    """A silent listener on ``host`` (``"::1"`` for IPv6); ``close_after_accept``
    closes every connection as soon as it is accepted instead."""
    sock = _listener(host)
    listener = HangingListener(host, sock.getsockname()[1])

    def accept_loop() -> None:
        while True:
            try:
                conn, _ = sock.accept()
            except OSError:  # listener shut down: we are exiting
                return
            if close_after_accept:
                _shut(conn)
            listener._conns.append(conn)

    thread = threading.Thread(target=accept_loop, name="hanging-listener", daemon=True)
    thread.start()
    try:
        yield listener
    finally:
        _shut(sock)
        thread.join(_JOIN_TIMEOUT)
        for conn in listener._conns:
            _shut(conn)


#: what a garbage listener answers: no protocol's greeting or reply
GARBAGE = b"\x00\xff\xfeGARBAGE \x1b[0m not a reply of any protocol \x00\r\n\r\n" * 8


@contextlib.contextmanager
def garbage_listener(host: str = HOST, *, payload: bytes = GARBAGE) -> Iterator[HangingListener]:
    """A listener that answers every connection with ``payload`` (after reading
    what the client sent first, if anything, within a second) and closes it."""
    sock = _listener(host)
    listener = HangingListener(host, sock.getsockname()[1])
    threads: list[threading.Thread] = []

    def answer(conn: socket.socket) -> None:
        with contextlib.suppress(OSError):
            conn.settimeout(1.0)
            with contextlib.suppress(TimeoutError):
                conn.recv(65536)
            conn.sendall(payload)
        _shut(conn)

    def accept_loop() -> None:
        while True:
            try:
                conn, _ = sock.accept()
            except OSError:  # listener shut down: we are exiting
                return
            listener._conns.append(conn)
            thread = threading.Thread(target=answer, args=(conn,), daemon=True)
            threads.append(thread)
            thread.start()

    thread = threading.Thread(target=accept_loop, name="garbage-listener", daemon=True)
    thread.start()
    try:
        yield listener
    finally:
        _shut(sock)
        thread.join(_JOIN_TIMEOUT)
        for conn in listener._conns:
            _shut(conn)
        for answering in threads:
            answering.join(_JOIN_TIMEOUT)


@dataclasses.dataclass
class StallingProxy:
    """Forwards 127.0.0.1:``port`` to the target until ``stall()``; then holds
    every byte (sockets stay open, so clients hang mid-session) until
    ``resume()``. ``reset()`` aborts all current connections with RST."""

    host: str
    port: int
    target_host: str
    target_port: int
    _flowing: threading.Event = dataclasses.field(default_factory=threading.Event, repr=False)
    _closing: bool = dataclasses.field(default=False, repr=False)
    _lock: threading.Lock = dataclasses.field(default_factory=threading.Lock, repr=False)
    _socks: set[socket.socket] = dataclasses.field(default_factory=set, repr=False)
    _doomed: set[socket.socket] = dataclasses.field(default_factory=set, repr=False)
    _threads: list[threading.Thread] = dataclasses.field(default_factory=list, repr=False)
    accepted: int = 0

    def __post_init__(self) -> None:
        self._flowing.set()

    @property
    def address(self) -> tuple[str, int]:
        return (self.host, self.port)

    @property
    def stalled(self) -> bool:
        return not self._flowing.is_set()

    def stall(self) -> None:
        self._flowing.clear()

    def resume(self) -> None:
        self._flowing.set()

    def reset(self) -> None:
        with self._lock:
            socks, self._socks = self._socks, set()
            # Pumps must not turn the wake-up EOF into a FIN before the RST.
            self._doomed |= socks
        for sock in socks:
            _shut(sock, reset=True)

    def _serve(self, client: socket.socket) -> None:
        try:
            upstream = socket.create_connection((self.target_host, self.target_port), timeout=10)
            upstream.settimeout(None)
        except OSError:
            _shut(client, reset=True)
            return
        with self._lock:
            if self._closing:
                _shut(client)
                _shut(upstream)
                return
            self._socks |= {client, upstream}
            for src, dst in ((client, upstream), (upstream, client)):
                t = threading.Thread(target=self._pump, args=(src, dst), daemon=True)
                self._threads.append(t)
                t.start()

    def _pump(self, src: socket.socket, dst: socket.socket) -> None:
        try:
            while True:
                data = src.recv(65536)
                # A chunk read just before stall() is held here, not forwarded.
                self._flowing.wait()
                if self._closing or src in self._doomed:
                    return
                if not data:
                    dst.shutdown(socket.SHUT_WR)
                    return
                dst.sendall(data)
        except OSError:
            with contextlib.suppress(OSError):
                dst.shutdown(socket.SHUT_RDWR)

    def _close(self) -> None:
        self._closing = True
        self._flowing.set()  # release pumps holding data so they can exit
        with self._lock:
            socks, self._socks = self._socks, set()
            threads = list(self._threads)
        for sock in socks:
            _shut(sock)
        for t in threads:
            t.join(_JOIN_TIMEOUT)


def _forward_each(sock: socket.socket, proxy: StallingProxy) -> None:
    """Accept on ``sock`` until it is shut, handing each connection to ``proxy``."""
    while True:
        try:
            client, _ = sock.accept()
        except OSError:
            return
        proxy.accepted += 1
        proxy._serve(client)


@contextlib.contextmanager
def stalling_proxy(target_host: str, target_port: int) -> Iterator[StallingProxy]:
    sock = _listener()
    proxy = StallingProxy(HOST, sock.getsockname()[1], target_host, target_port)

    thread = threading.Thread(
        target=_forward_each, args=(sock, proxy), name="stalling-proxy", daemon=True
    )
    thread.start()
    try:
        yield proxy
    finally:
        _shut(sock)
        thread.join(_JOIN_TIMEOUT)
        proxy._close()


@dataclasses.dataclass
class LateProxy:
    """A port that refuses connections until ``delay`` seconds have passed, then
    forwards to the target: a database that comes up after the application."""

    host: str
    port: int
    opened_at: float | None = None


@contextlib.contextmanager
def proxy_opening_later(target_host: str, target_port: int, delay: float) -> Iterator[LateProxy]:
    """Reserve a free port now; after ``delay`` seconds, listen on it and forward
    every connection to ``target_host:target_port``."""
    import time

    late = LateProxy(HOST, free_port())
    stop = threading.Event()
    sockets: list[socket.socket] = []
    proxy = StallingProxy(HOST, late.port, target_host, target_port)

    def open_later() -> None:
        if stop.wait(delay):
            return
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((HOST, late.port))
        sock.listen(128)
        sockets.append(sock)
        late.opened_at = time.monotonic()
        _forward_each(sock, proxy)

    thread = threading.Thread(target=open_later, name="late-proxy", daemon=True)
    thread.start()
    try:
        yield late
    finally:
        stop.set()
        for sock in sockets:
            _shut(sock)
        thread.join(_JOIN_TIMEOUT)
        proxy._close()
