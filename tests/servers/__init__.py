"""Throwaway test servers, each started on a free 127.0.0.1 port in a temp dir.

Only the standard library is imported here and in the server modules, so that
collecting tests stays cheap; clients (drivers) are the tests' business.
Install the non-system parts with ``scripts/install-test-servers.sh``.
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
import shutil
import signal
import socket
import subprocess
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

__all__ = [
    "CACHE_DIR",
    "HOST",
    "REPO_ROOT",
    "ServerStartError",
    "TlsFiles",
    "free_port",
    "free_ports",
    "free_ports_on",
    "log_tail",
    "make_tls_files",
    "port_accepts",
    "spawn",
    "stop_process",
    "wait_until_ready",
]

HOST = "127.0.0.1"
REPO_ROOT = Path(__file__).resolve().parents[2]
CACHE_DIR = REPO_ROOT / ".cache" / "test-servers"
INSTALL_HINT = "run scripts/install-test-servers.sh"


class ServerStartError(RuntimeError):
    """A test server did not come up (or a setup step failed)."""


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    return free_ports(1)[0]


def free_ports(count: int) -> list[int]:
    """``count`` distinct free ports (all sockets are held open until every
    port is picked, so the kernel cannot hand out the same one twice)."""
    with contextlib.ExitStack() as stack:
        ports = []
        for _ in range(count):
            sock = stack.enter_context(socket.socket(socket.AF_INET, socket.SOCK_STREAM))
            sock.bind((HOST, 0))
            ports.append(sock.getsockname()[1])
        return ports


def free_ports_on(hosts: Sequence[str], count: int) -> list[int]:
    """``count`` distinct ports free on every one of ``hosts`` (loopback addresses
    such as 127.0.0.1 and 127.0.0.2), for servers that share ports across addresses."""
    for _ in range(100):
        ports = free_ports(count)
        if all(_bindable(host, port) for host in hosts for port in ports):
            return ports
    raise ServerStartError(f"no {count} ports free on all of {', '.join(hosts)}")


def _bindable(host: str, port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        try:
            sock.bind((host, port))
        except OSError:
            return False
    return True


def port_accepts(host: str, port: int, timeout: float = 0.5) -> bool:
    """True when a TCP connect to host:port succeeds."""
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True
    except OSError:
        return False


def log_tail(path: Path, lines: int = 40) -> str:
    """Last ``lines`` lines of a log file (for error messages)."""
    try:
        text = path.read_text(errors="replace")
    except OSError as exc:
        return f"<no log at {path}: {exc}>"
    return "\n".join(text.splitlines()[-lines:])


# If the test process dies without running its cleanup (SIGKILL, os._exit),
# the kernel SIGKILLs the server too. setpriv sets this and execs the server
# (no middle process). The signal is tied to the *thread* that started the
# server: start servers from the main thread or one that outlives them.
_SETPRIV = shutil.which("setpriv")
_DIE_WITH_PARENT = [_SETPRIV, "--pdeathsig", "KILL", "--"] if _SETPRIV else []


def spawn(
    argv: Sequence[str | os.PathLike[str]],
    log_path: Path,
    *,
    env: dict[str, str] | None = None,
    cwd: Path | None = None,
    user: str | None = None,
) -> subprocess.Popen[bytes]:
    """Start a server with stdout+stderr appended to ``log_path``.

    The child gets its own session so that ``stop_process`` can kill any
    helper processes it forked, and no stdin so it can never block on a tty.
    """
    log_path.parent.mkdir(parents=True, exist_ok=True)
    with log_path.open("ab") as log:
        return subprocess.Popen(
            [*_DIE_WITH_PARENT, *(os.fspath(a) for a in argv)],
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            env=env,
            cwd=cwd,
            start_new_session=True,
            # Popen(user=...) switches uid in the child itself; unlike runuser
            # or su there is no middle process that would turn our signals
            # into SIGKILLs. Only root can switch, and only root needs to.
            **_switch_user(user if os.geteuid() == 0 else None),
        )


def _switch_user(user: str | None) -> dict[str, Any]:
    if user is None:
        return {}
    return {"user": user, "group": user, "extra_groups": []}


def _exited_unreaped(proc: subprocess.Popen[bytes]) -> bool:
    # WNOWAIT keeps the zombie, so its pid (= process group id) cannot be
    # reused before we have swept the group.
    try:
        info = os.waitid(os.P_PID, proc.pid, os.WEXITED | os.WNOHANG | os.WNOWAIT)
    except ChildProcessError:
        return True
    return info is not None


def stop_process(
    proc: subprocess.Popen[bytes],
    sig: int = signal.SIGTERM,
    grace: float = 20.0,
) -> None:
    """Ask ``proc`` to stop with ``sig``; SIGKILL its whole process group
    after ``grace`` seconds. Always returns with the process reaped."""
    if proc.returncode is not None:
        return
    if not _exited_unreaped(proc):
        with contextlib.suppress(ProcessLookupError):
            os.kill(proc.pid, sig)
        deadline = time.monotonic() + grace
        while not _exited_unreaped(proc) and time.monotonic() < deadline:
            time.sleep(0.05)
    # Sweeps stragglers too (the group leader is a zombie or still alive,
    # so the group id still belongs to our child).
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()


def wait_until_ready(
    check: Callable[[], bool],
    *,
    proc: subprocess.Popen[bytes],
    log_path: Path,
    what: str,
    timeout: float,
    interval: float = 0.1,
) -> float:
    """Poll ``check`` until it returns True; returns the seconds waited.

    Raises ServerStartError (with the log's tail) when the process exits or
    ``timeout`` passes first. ``check`` must not raise for "not yet".
    """
    start = time.monotonic()
    while True:
        if check():
            return time.monotonic() - start
        if _exited_unreaped(proc):
            stop_process(proc)  # sweeps its process group and reaps it
            raise ServerStartError(
                f"{what} exited with code {proc.returncode} before it was ready; "
                f"log {log_path}:\n{log_tail(log_path)}"
            )
        if time.monotonic() - start > timeout:
            raise ServerStartError(
                f"{what} not ready after {timeout:.0f}s; log {log_path}:\n{log_tail(log_path)}"
            )
        time.sleep(interval)


@dataclasses.dataclass(frozen=True)
class TlsFiles:
    """A throwaway CA and a server certificate for ``localhost``/127.0.0.1."""

    ca_cert: Path
    ca_key: Path
    server_cert: Path
    server_key: Path


_CA_CNF = """\
[req]
distinguished_name = dn
prompt = no
x509_extensions = ext
[dn]
CN = unifydb test CA
[ext]
basicConstraints = critical, CA:TRUE
keyUsage = critical, keyCertSign, cRLSign
subjectKeyIdentifier = hash
"""

_SERVER_EXT = """\
basicConstraints = critical, CA:FALSE
keyUsage = critical, digitalSignature, keyEncipherment
extendedKeyUsage = serverAuth
subjectAltName = DNS:localhost, IP:127.0.0.1
authorityKeyIdentifier = keyid
"""


def make_tls_files(directory: Path, days: int = 30) -> TlsFiles:
    """Create a CA and a CA-signed server cert (CN and SAN ``localhost`` and
    ``127.0.0.1``) with the openssl CLI. Keys are EC P-256 (fast to make)."""
    directory.mkdir(parents=True, exist_ok=True)
    files = TlsFiles(
        ca_cert=directory / "ca.crt",
        ca_key=directory / "ca.key",
        server_cert=directory / "server.crt",
        server_key=directory / "server.key",
    )
    ca_cnf = directory / "ca.cnf"
    ca_cnf.write_text(_CA_CNF)
    ext = directory / "server-ext.cnf"
    ext.write_text(_SERVER_EXT)
    csr = directory / "server.csr"
    ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"]
    days_arg = ["-days", str(days)]
    _openssl(
        "req",
        "-x509",
        "-config",
        ca_cnf,
        *ec,
        *days_arg,
        "-keyout",
        files.ca_key,
        "-out",
        files.ca_cert,
    )
    _openssl("req", "-new", *ec, "-subj", "/CN=localhost", "-keyout", files.server_key, "-out", csr)
    _openssl(
        "x509",
        "-req",
        "-in",
        csr,
        "-CA",
        files.ca_cert,
        "-CAkey",
        files.ca_key,
        "-CAcreateserial",
        "-extfile",
        ext,
        *days_arg,
        "-out",
        files.server_cert,
    )
    files.server_key.chmod(0o600)
    files.ca_key.chmod(0o600)
    return files


def _openssl(*args: str | os.PathLike[str]) -> None:
    result = subprocess.run(
        ["openssl", *(os.fspath(a) for a in args)],
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        check=False,
    )
    if result.returncode != 0:
        raise ServerStartError(f"openssl {args[0]} failed: {result.stderr.strip()}")
