"""A Cassandra cluster of two nodes (127.0.0.1 and 127.0.0.2), keyspace replicated
to both: losing a node is invisible to requests at consistency ONE, and a
clear unifydb error (naming the level), never a hang, at QUORUM.

The ring (``tests/servers/cassandra_ring.py``) is started once per session;
the test that kills a node starts it again.
"""

from __future__ import annotations

import itertools
import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest

from tests.clusters.workload import Loop, all_failures
from tests.figures import measure, record
from tests.helpers import registry_for, wait_until
from unifydb.errors import DatasourceConnectionError

pytestmark = pytest.mark.live

REQUEST_TIMEOUT = 4.0


def settings(ring: Any, **extra: Any) -> dict[str, Any]:
    return {
        "type": "cassandra",
        "contact_points": ring.hosts,
        "port": ring.port,
        "protocol_version": 3,
        "keyspace": "ring",
        "timeout": 5,
        "request_timeout": REQUEST_TIMEOUT,
        "consistency": "ONE",
        "reconnection": "constant",
        "reconnection_delay": 0.5,
        **extra,
    }


def coordinator(result: Any) -> str:
    """The address of the node that coordinated a request (its endpoint without the port)."""
    return str(result.response_future.coordinator_host).rsplit(":", 1)[0]


class HostEvents:
    """The driver's view of the nodes: when it marked each down and up."""

    def __init__(self) -> None:
        self.down: dict[str, float] = {}
        self.up: dict[str, float] = {}
        self.changed = threading.Event()

    def on_down(self, host: Any) -> None:
        self.down[str(host.address)] = time.monotonic()
        self.changed.set()

    def on_up(self, host: Any) -> None:
        self.up[str(host.address)] = time.monotonic()
        self.changed.set()

    def on_add(self, host: Any) -> None:
        pass

    def on_remove(self, host: Any) -> None:
        pass


@pytest.fixture
def registry(cassandra_cluster: Any) -> Iterator[Any]:
    registry = registry_for(
        one=settings(cassandra_cluster),
        quorum=settings(cassandra_cluster, consistency="QUORUM"),
    )
    yield registry
    registry.close_all()


def test_the_ring_has_two_healthy_nodes(registry: Any) -> None:
    session = registry.get_client("one")
    assert wait_until(lambda: all(h.is_up for h in session.cluster.metadata.all_hosts()))
    status = registry.get_datasource("one").health_check()
    assert status.status == "ok", status.detail
    assert sorted((node.address, node.state, node.version) for node in status.nodes) == [
        ("127.0.0.1", "up", "2.1.0"),
        ("127.0.0.2", "up", "2.1.0"),
    ]
    assert {node.role for node in status.nodes} == {"datacenter1/rack1"}
    coordinators = {
        coordinator(session.execute("SELECT now() FROM system.local")) for _ in range(10)
    }
    assert len(coordinators) == 2  # both nodes coordinate requests


def test_losing_a_node_fails_no_request_at_consistency_one(
    cassandra_cluster: Any, registry: Any
) -> None:
    from cassandra import ConsistencyLevel
    from cassandra.query import SimpleStatement

    victim = cassandra_cluster.nodes[1]
    session = registry.get_client("one")
    events = HostEvents()
    session.cluster.register_listener(events)
    insert = session.prepare("INSERT INTO kv (k, v) VALUES (?, ?)")
    select = session.prepare("SELECT v FROM kv WHERE k = ?")
    keys = itertools.count(1)
    written: list[int] = []

    def write() -> str:
        key = next(keys)
        result = session.execute(insert, (key, key))
        written.append(key)
        return coordinator(result)

    def read() -> str:
        key = written[-1] if written else 0
        result = session.execute(select, (key,))
        if key:
            assert result.one().v == key
        return coordinator(result)

    # a steady load (a few hundred requests a second), not a flood that starves the
    # restarting node of CPU
    loops = [
        Loop(write, name="writer", pause=0.003).start(),
        Loop(read, name="reader", pause=0.003).start(),
    ]
    try:
        time.sleep(1.0)
        killed_at = time.monotonic()
        victim.kill()
        assert wait_until(lambda: victim.host in events.down, timeout=30)
        marked_down = events.down[victim.host] - killed_at
        time.sleep(2.0)
        down_for_a_while = time.monotonic()

        status = registry.get_datasource("one").health_check()
        assert status.status == "degraded"
        assert not status.ok and not status.failed
        states = {node.address: node.state for node in status.nodes}
        assert states == {"127.0.0.1": "up", "127.0.0.2": "down"}
        assert "127.0.0.2" in status.detail

        # QUORUM of 2 needs both: a unifydb error naming the level, at once, not a hang
        started = time.monotonic()
        with pytest.raises(DatasourceConnectionError, match="QUORUM") as caught:
            registry.get_client("quorum").execute(insert, (-1, -1))
        assert time.monotonic() - started < REQUEST_TIMEOUT + 1
        assert caught.value.datasource == "quorum"
        assert caught.value.key == "consistency"
        from cassandra import Unavailable, WriteTimeout

        assert isinstance(caught.value, (Unavailable, WriteTimeout))  # the driver's too
        read_quorum = SimpleStatement(
            "SELECT v FROM kv WHERE k = 1", consistency_level=ConsistencyLevel.QUORUM
        )
        with pytest.raises(DatasourceConnectionError, match="QUORUM"):
            session.execute(read_quorum)

        restarted_at = time.monotonic()
        victim.start()
        assert wait_until(lambda: events.up.get(victim.host, 0) > restarted_at, timeout=60), (
            "the driver never saw the node come back"
        )
        rejoined = events.up[victim.host] - restarted_at
        back_at = time.monotonic()
        assert wait_until(
            lambda: any(
                o.ok and o.at > back_at and o.value == victim.host
                for loop in loops
                for o in loop.outcomes
            ),
            timeout=30,
        ), "the node coordinates no request since it came back"
        time.sleep(0.5)
    finally:
        for loop in loops:
            loop.stop()
        session.cluster.unregister_listener(events)
        if not victim.running:
            victim.start()

    before = all_failures(loops, since=killed_at, until=killed_at + marked_down)
    assert all_failures(loops, until=killed_at) == []
    assert all_failures(loops, since=killed_at + marked_down) == []
    assert max(loop.slowest for loop in loops) < REQUEST_TIMEOUT + 1
    assert registry.get_datasource("one").health_check().status == "ok"
    # every acknowledged write is there (ALL: both nodes, hints replayed or repaired)
    everything = SimpleStatement("SELECT k FROM kv", consistency_level=ConsistencyLevel.ALL)
    stored = {row.k for row in session.execute(everything)}
    assert set(written) <= stored

    requests = sum(len(loop.outcomes) for loop in loops)
    during = sum(
        1 for loop in loops for o in loop.outcomes if killed_at <= o.at < restarted_at and o.ok
    )
    record("cassandra node killed: requests run (writes and reads at ONE)", requests)
    record("cassandra node killed: requests served while the node was down", during)
    record("cassandra node killed: requests failed before the driver marked it down", len(before))
    record("cassandra node killed: requests failed after it was marked down", 0)
    record("cassandra node killed: acknowledged writes checked at ALL", len(written))
    measure("cassandra node killed: seconds until the driver marked it down", marked_down)
    measure("cassandra node killed: seconds from restart until it rejoined the pool", rejoined)
    assert down_for_a_while > killed_at
    record("faults injected (cassandra node killed)")
