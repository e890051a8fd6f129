"""A ring of Apache Cassandra 2.1 nodes, one per loopback address (127.0.0.1,
127.0.0.2, ...), all on the same ports, as a real cluster's nodes are.

Every node is a seed, has one token (spread evenly over the Murmur3 range) and
does not bootstrap, so the nodes start at the same time and form the ring at
once; each is a :class:`~tests.servers.cassandra.CassandraServer` that can be
killed and started again on its own. Replica timeouts on the coordinator are
short (2 s), so a request waiting for a dead node fails fast.
"""

from __future__ import annotations

import contextlib
import dataclasses
from collections.abc import Iterator
from pathlib import Path

from . import INSTALL_HINT, ServerStartError, free_ports_on
from .cassandra import _LOGBACK, ALLOW_ALL, CASSANDRA_HOME, CassandraServer, _yaml

#: the second node needs 127.0.0.2: Linux routes all of 127.0.0.0/8 to loopback
RING_HOSTS = ("127.0.0.1", "127.0.0.2")

_COORDINATOR_TIMEOUTS = """\
read_request_timeout_in_ms: 2000
range_request_timeout_in_ms: 2000
write_request_timeout_in_ms: 2000
request_timeout_in_ms: 2000
"""


#: serve clients without waiting for gossip to settle (every node is a seed
#: with a fixed token: there is nothing to wait for)
_JVM_OPTIONS = ("-Dcassandra.skip_wait_for_gossip_to_settle=0",)


@dataclasses.dataclass
class Ring:
    nodes: list[CassandraServer]

    @property
    def hosts(self) -> list[str]:
        return [node.host for node in self.nodes]

    @property
    def port(self) -> int:
        return self.nodes[0].port


def _token(index: int, count: int) -> int:
    return -(2**63) + index * (2**64 // count)


@contextlib.contextmanager
def cassandra_ring(
    tmpdir: Path,
    *,
    hosts: tuple[str, ...] = RING_HOSTS,
    heap_mb: int = 384,
    timeout: float = 180.0,
) -> Iterator[Ring]:
    """Nodes on ``hosts`` (same native and storage ports), started together."""
    if not (CASSANDRA_HOME / "lib").is_dir():
        raise ServerStartError(f"{CASSANDRA_HOME} is missing: {INSTALL_HINT}")
    native, storage, ssl_storage, rpc = free_ports_on(hosts, 4)
    root = Path(tmpdir).resolve()
    nodes = []
    for index, host in enumerate(hosts):
        base = root / f"node{index + 1}"
        base.mkdir(parents=True, exist_ok=False)
        for sub in ("data", "commitlog", "saved_caches"):
            (base / sub).mkdir()
        node = CassandraServer(
            host=host,
            port=native,
            authenticator=ALLOW_ALL,
            authorizer="AllowAllAuthorizer",
            base_dir=base,
            log_path=base / "cassandra.log",
            storage_port=storage,
            ssl_storage_port=ssl_storage,
            heap_mb=heap_mb,
            jvm_options=_JVM_OPTIONS,
        )
        extra = (
            f"initial_token: {_token(index, len(hosts))}\n"
            "auto_bootstrap: false\n"
            "hinted_handoff_enabled: true\n" + _COORDINATOR_TIMEOUTS
        )
        (base / "cassandra.yaml").write_text(_yaml(node, rpc, seeds=",".join(hosts), extra=extra))
        (base / "logback.xml").write_text(_LOGBACK)
        nodes.append(node)
    try:
        for node in nodes:
            node.launch()  # from this (the main) thread: they die with the test process
        for node in nodes:
            node.wait_ready(timeout)
        yield Ring(nodes)
    finally:
        for node in nodes:
            node.stop()
