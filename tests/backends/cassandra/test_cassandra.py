"""Cassandra datasource against real Apache Cassandra nodes.

Two throwaway 2.1.0 nodes (``tests/servers/cassandra.py``): one open, one with
PasswordAuthenticator. cassandra-driver 3.30 must be told ``protocol_version=3``
for 2.1. Set ``UNIFYDB_TEST_CASSANDRA_HOSTS`` (comma-separated contact points;
optionally ``UNIFYDB_TEST_CASSANDRA_PORT``, ``_USERNAME``, ``_PASSWORD`` of a
superuser, ``_PROTOCOL_VERSION``) to run the live tests against a newer cluster
too; without it those are skipped.

Threads: after ``close()`` none of the Cluster's threads may remain. The one
exception is cassandra-driver's process-wide libev reactor thread
(``event_loop``): once any request has run it never exits (its loop timer is
started with ``ev_timer_again`` and keeps re-arming), it is shared by every
Cluster in the process, so the tests allow at most one of it.
"""

from __future__ import annotations

import contextlib
import dataclasses
import functools
import os
import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest

from tests import helpers
from tests.helpers import (
    NASTY_PASSWORD,
    assert_no_secret,
    opened,
    registry_for,
    skip_unless_env,
    unique,
)
from tests.servers.faults import closed_port, hanging_listener, stalling_proxy
from unifydb.datasources.nosql.cassandra import CassandraDatasource
from unifydb.errors import (
    ConfigurationError,
    DatasourceConnectionError,
    DatasourceTimeoutError,
    UnifyDBError,
    UnsupportedOperationError,
)

HOSTS_VARIABLE = "UNIFYDB_TEST_CASSANDRA_HOSTS"
#: cassandra-driver's libev reactor: one per process, outlives every Cluster
REACTOR_THREAD = "event_loop"


# ----------------------------------------------------------------------------- targets


@dataclasses.dataclass(frozen=True)
class CassandraTarget:
    label: str
    contact_points: list[str]
    port: int
    protocol_version: int | None
    #: a superuser's username/password as options ({} when the cluster is open)
    admin_credentials: dict[str, Any]
    #: the release_version health_check() must report (None: any)
    version: str | None

    @property
    def options(self) -> dict[str, Any]:
        """Options reaching this cluster, without credentials."""
        options: dict[str, Any] = {"contact_points": self.contact_points, "port": self.port}
        if self.protocol_version is not None:
            options["protocol_version"] = self.protocol_version
        return options

    @contextlib.contextmanager
    def admin(self) -> Iterator[Any]:
        """A driver session as the superuser; its Cluster is shut down afterwards."""
        from cassandra.auth import PlainTextAuthProvider
        from cassandra.cluster import Cluster

        kwargs: dict[str, Any] = {"port": self.port}
        if self.protocol_version is not None:
            kwargs["protocol_version"] = self.protocol_version
        if self.admin_credentials:
            kwargs["auth_provider"] = PlainTextAuthProvider(**self.admin_credentials)
        cluster = Cluster(self.contact_points, **kwargs)
        try:
            yield cluster.connect()
        finally:
            cluster.shutdown()


def cql_literal(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


def real_target(need_login: bool) -> CassandraTarget:
    hosts = skip_unless_env(HOSTS_VARIABLE)
    credentials: dict[str, Any] = {}
    username = os.environ.get("UNIFYDB_TEST_CASSANDRA_USERNAME")
    if username:
        credentials = {
            "username": username,
            "password": os.environ.get("UNIFYDB_TEST_CASSANDRA_PASSWORD", ""),
        }
    elif need_login:
        skip_unless_env("UNIFYDB_TEST_CASSANDRA_USERNAME")  # a superuser is needed
    protocol = os.environ.get("UNIFYDB_TEST_CASSANDRA_PROTOCOL_VERSION")
    return CassandraTarget(
        "real",
        [host.strip() for host in hosts.split(",") if host.strip()],
        int(os.environ.get("UNIFYDB_TEST_CASSANDRA_PORT", "9042")),
        int(protocol) if protocol else None,
        credentials,
        None,
    )


def node_target(server: Any) -> CassandraTarget:
    credentials: dict[str, Any] = {}
    if server.password_auth:
        credentials = {"username": server.superuser, "password": server.superuser_password}
    return CassandraTarget(
        "node-auth" if server.password_auth else "node",
        [server.host],
        server.port,
        server.protocol_version,
        credentials,
        "2.1.0",
    )


@pytest.fixture(scope="module")
def node(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    from tests.servers.cassandra import cassandra

    with cassandra(tmp_path_factory.mktemp("cassandra")) as server:
        yield server


@pytest.fixture(scope="module")
def auth_node(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    from tests.servers.cassandra import PASSWORD_AUTH, cassandra

    with cassandra(
        tmp_path_factory.mktemp("cassandra-auth"), authenticator=PASSWORD_AUTH
    ) as server:
        yield server


@pytest.fixture(scope="module", params=["node", "real"])
def cluster(request: pytest.FixtureRequest) -> CassandraTarget:
    """An open 2.1 node, or the real cluster."""
    if request.param == "real":
        return real_target(need_login=False)
    return node_target(request.getfixturevalue("node"))


@pytest.fixture(scope="module", params=["node-auth", "real"])
def auth_cluster(request: pytest.FixtureRequest) -> CassandraTarget:
    """A 2.1 node with PasswordAuthenticator, or the real cluster (as its superuser)."""
    if request.param == "real":
        return real_target(need_login=True)
    return node_target(request.getfixturevalue("auth_node"))


@contextlib.contextmanager
def keyspace_on(target: CassandraTarget) -> Iterator[str]:
    name = unique("unifydb_t")
    with target.admin() as admin:
        admin.execute(
            f"CREATE KEYSPACE {name} WITH replication = "
            "{'class': 'SimpleStrategy', 'replication_factor': 1}"
        )
    try:
        yield name
    finally:
        with target.admin() as admin:
            admin.execute(f"DROP KEYSPACE IF EXISTS {name}")


@pytest.fixture
def keyspace(cluster: CassandraTarget) -> Iterator[str]:
    with keyspace_on(cluster) as name:
        yield name


@contextlib.contextmanager
def user_on(target: CassandraTarget, password: str, keyspace: str) -> Iterator[str]:
    """A login user (CREATE USER works on 2.1 and, as a role alias, on 3.x/4.x)."""
    from cassandra import InvalidRequest, Unauthorized

    name = unique("u")
    with target.admin() as admin:
        admin.execute(f"CREATE USER {name} WITH PASSWORD {cql_literal(password)} NOSUPERUSER")
        # needed only where an authorizer enforces permissions
        with contextlib.suppress(InvalidRequest, Unauthorized):
            admin.execute(f"GRANT ALL ON KEYSPACE {keyspace} TO {name}")
    try:
        yield name
    finally:
        with target.admin() as admin:
            admin.execute(f"DROP USER IF EXISTS {name}")


#: build(**options): a CassandraDatasource named "c", built (not connected)
build = functools.partial(helpers.build, "cassandra", name="c", expect=CassandraDatasource)


def leftover_threads(before: set[threading.Thread], settle: float = 2.0) -> list[str]:
    """Threads started since ``before`` that are still alive after ``settle`` s at most
    (the process-wide reactor thread excepted)."""
    deadline = time.monotonic() + settle
    while True:
        leftover = [
            thread.name
            for thread in threading.enumerate()
            if thread not in before and thread.is_alive() and thread.name != REACTOR_THREAD
        ]
        if not leftover or time.monotonic() > deadline:
            return leftover
        time.sleep(0.05)


def assert_no_driver_threads_left(before: set[threading.Thread]) -> None:
    assert leftover_threads(before) == []
    reactors = [thread for thread in threading.enumerate() if thread.name == REACTOR_THREAD]
    assert len(reactors) <= 1


# ----------------------------------------------------------------------------- plain node


@pytest.mark.live
@pytest.mark.parametrize("form", ["list", "comma-separated"])
def test_round_trip_with_prepared_statements(
    cluster: CassandraTarget, keyspace: str, form: str
) -> None:
    from cassandra.cluster import Session

    options = cluster.options
    if form == "comma-separated":
        options["contact_points"] = ", ".join(cluster.contact_points)
    with opened(build(**options, **cluster.admin_credentials, keyspace=keyspace)) as datasource:
        session = datasource.get_client()
        assert isinstance(session, Session)
        assert session.keyspace == keyspace
        assert datasource.cluster is session.cluster
        session.execute("CREATE TABLE things (id int PRIMARY KEY, name text, tags set<text>)")
        insert = session.prepare("INSERT INTO things (id, name, tags) VALUES (?, ?, ?)")
        for number in range(3):
            session.execute(insert, (number, f"thing {number}", {"a", str(number)}))
        select = session.prepare("SELECT name, tags FROM things WHERE id = ?")
        row = session.execute(select, (2,)).one()
        assert row.name == "thing 2"
        assert row.tags == {"a", "2"}
        assert session.execute("SELECT count(*) FROM things").one()[0] == 3

        status = datasource.health_check()
        assert status.ok, status.detail
        if cluster.version is not None:
            assert status.server_version == cluster.version
        else:
            assert status.server_version
        assert status.latency_ms is not None
        assert status.detail == datasource.target()


@pytest.mark.live
def test_registry_health_check(cluster: CassandraTarget) -> None:
    registry = registry_for(
        up={"type": "cassandra", **cluster.options, **cluster.admin_credentials},
        down={
            "type": "cassandra",
            "contact_points": "127.0.0.1",
            "port": closed_port(),
            "protocol_version": 3,
            "timeout": 2,
        },
    )
    with registry:
        started = time.perf_counter()
        statuses = registry.health_check()
        assert time.perf_counter() - started < 10 + 1
    assert statuses["up"].ok, statuses["up"].detail
    if cluster.version is not None:
        assert statuses["up"].server_version == cluster.version
    assert statuses["down"].status == "error"
    assert "datasource 'down'" in statuses["down"].detail


@pytest.mark.live
def test_unknown_keyspace_is_a_unifydb_error(cluster: CassandraTarget) -> None:
    before = set(threading.enumerate())
    datasource = build(**cluster.options, **cluster.admin_credentials, keyspace="no_such_ks")
    with opened(datasource), pytest.raises(DatasourceConnectionError) as caught:
        datasource.get_client()
    assert caught.value.datasource == "c"
    assert "no_such_ks" in str(caught.value)
    assert_no_driver_threads_left(before)


@pytest.mark.live
def test_protocol_version_mismatch_names_the_fix(node: Any) -> None:
    # cassandra-driver 3.30 starts at a version 2.1 rejects instead of negotiating down
    datasource = build(contact_points=node.host, port=node.port, timeout=3)
    with opened(datasource):
        status = datasource.health_check()
    assert status.status == "error"
    assert "protocol_version" in status.detail
    assert "datasource 'c'" in status.detail


# ----------------------------------------------------------------------------- logins


@pytest.mark.live
def test_password_login(auth_cluster: CassandraTarget) -> None:
    with (
        keyspace_on(auth_cluster) as keyspace,
        user_on(auth_cluster, NASTY_PASSWORD, keyspace) as user,
    ):
        datasource = build(
            **auth_cluster.options, username=user, password=NASTY_PASSWORD, keyspace=keyspace
        )
        with opened(datasource):
            status = datasource.health_check()
            assert status.ok, status.detail
            session = datasource.get_client()
            session.execute("CREATE TABLE notes (id int PRIMARY KEY, body text)")
            session.execute(
                session.prepare("INSERT INTO notes (id, body) VALUES (?, ?)"), (1, NASTY_PASSWORD)
            )
            assert session.execute("SELECT body FROM notes WHERE id = 1").one()[0] == NASTY_PASSWORD
            shown = repr(datasource) + datasource.target() + str(datasource.describe())
            assert_no_secret(shown, NASTY_PASSWORD)
            assert datasource.describe()["options"]["password"] == "***"


@pytest.mark.live
def test_wrong_password(auth_cluster: CassandraTarget) -> None:
    right, wrong = "Right'pw:@/?#%1", "Wr0ng'p@ss/w?rd#%"
    with keyspace_on(auth_cluster) as keyspace, user_on(auth_cluster, right, keyspace) as user:
        before = set(threading.enumerate())
        datasource = build(**auth_cluster.options, username=user, password=wrong, timeout=5)
        with opened(datasource):
            started = time.perf_counter()
            status = datasource.health_check()
            assert time.perf_counter() - started < 5 + 1
            with pytest.raises(DatasourceConnectionError) as caught:
                datasource.get_client()
        assert status.status == "error"
        assert "datasource 'c'" in status.detail
        assert status.error is not None
        assert status.error.key == "password"
        for text in (status.detail, str(status.error), str(caught.value), repr(datasource)):
            assert_no_secret(text, wrong)
            assert_no_secret(text, right)
        assert_no_driver_threads_left(before)


@pytest.mark.live
def test_missing_login_says_so(auth_cluster: CassandraTarget) -> None:
    with opened(build(**auth_cluster.options, timeout=5)) as datasource:
        status = datasource.health_check()
    assert status.status == "error"
    assert status.error is not None
    assert status.error.key == "username"


@pytest.mark.live
def test_local_dc_routes_to_the_nodes_datacenter(auth_cluster: CassandraTarget) -> None:
    from cassandra.policies import DCAwareRoundRobinPolicy

    with auth_cluster.admin() as admin:
        local_dc = admin.execute("SELECT data_center FROM system.local").one()[0]
    if auth_cluster.version == "2.1.0":
        assert local_dc == "datacenter1"  # SimpleSnitch's one datacenter
    datasource = build(**auth_cluster.options, **auth_cluster.admin_credentials, local_dc=local_dc)
    with opened(datasource):
        status = datasource.health_check()
        assert status.ok, status.detail
        session = datasource.get_client()
        policy = session.cluster.profile_manager.default.load_balancing_policy
        child = policy._child_policy
        assert isinstance(child, DCAwareRoundRobinPolicy)
        assert child.local_dc == local_dc
        assert session.execute("SELECT data_center FROM system.local").one()[0] == local_dc

    elsewhere = build(
        **auth_cluster.options, **auth_cluster.admin_credentials, local_dc="no-such-dc", timeout=5
    )
    with opened(elsewhere):
        status = elsewhere.health_check()
    assert status.status == "error"
    assert status.error is not None
    assert status.error.key == "local_dc"


# ----------------------------------------------------------------------------- lifecycle


@pytest.mark.live
def test_close_shuts_the_cluster_down(cluster: CassandraTarget) -> None:
    before = set(threading.enumerate())
    datasource = build(**cluster.options, **cluster.admin_credentials)
    session = datasource.get_client()
    assert datasource.get_client() is session
    assert datasource.health_check().ok
    assert not session.cluster.is_shutdown
    datasource.close()
    assert session.cluster.is_shutdown
    assert session.is_shutdown
    assert not datasource.initialized
    datasource.close()  # twice is harmless
    assert_no_driver_threads_left(before)

    again = datasource.get_client()  # usable again: a new Cluster
    try:
        assert again is not session
        assert again.cluster is not session.cluster
        assert again.execute("SELECT release_version FROM system.local").one() is not None
    finally:
        datasource.close()
    assert again.cluster.is_shutdown
    assert_no_driver_threads_left(before)


@pytest.mark.live
def test_stalled_node_times_out_then_recovers(node: Any) -> None:
    with stalling_proxy(node.host, node.port) as proxy:
        datasource = build(
            contact_points=proxy.host, port=proxy.port, protocol_version=3, timeout=2
        )
        with opened(datasource):
            assert datasource.health_check().ok
            proxy.stall()
            started = time.perf_counter()
            status = datasource.health_check()
            assert time.perf_counter() - started < 2 + 1
            assert status.status == "timeout", status.detail
            assert "datasource 'c'" in status.detail
            proxy.resume()
            assert datasource.health_check().ok


def test_closed_port_fails_fast_and_leaves_no_threads() -> None:
    before = set(threading.enumerate())
    port = closed_port()
    datasource = build(contact_points="127.0.0.1", port=port, protocol_version=3, timeout=2)
    with opened(datasource):
        started = time.perf_counter()
        with pytest.raises(DatasourceConnectionError) as caught:
            datasource.get_client()
        assert time.perf_counter() - started < 2 + 1
        status = datasource.health_check()
    assert not isinstance(caught.value, DatasourceTimeoutError)
    assert caught.value.datasource == "c"
    assert "refused" in str(caught.value).lower()
    assert status.status == "error"
    assert "datasource 'c'" in status.detail
    assert_no_driver_threads_left(before)


@pytest.mark.live  # asks this machine's DNS resolver
def test_unresolvable_contact_point() -> None:
    before = set(threading.enumerate())
    datasource = build(contact_points="cassandra.unifydb-test.invalid", timeout=2)
    with opened(datasource), pytest.raises(DatasourceConnectionError) as caught:
        datasource.get_client()
    assert caught.value.datasource == "c"
    assert caught.value.key == "contact_points"
    assert "cassandra.unifydb-test.invalid" in str(caught.value)
    assert_no_driver_threads_left(before)


@pytest.mark.parametrize("explicit", [True, False], ids=["timeout-arg", "timeout-option"])
def test_hanging_listener_times_out_and_leaves_no_threads(explicit: bool) -> None:
    before = set(threading.enumerate())
    with hanging_listener() as (host, port):
        datasource = build(contact_points=host, port=port, protocol_version=3, timeout=2)
        with opened(datasource):
            started = time.perf_counter()
            status = datasource.health_check(timeout=2) if explicit else datasource.health_check()
            assert time.perf_counter() - started < 2 + 1
            started = time.perf_counter()
            with pytest.raises(DatasourceTimeoutError) as caught:
                datasource.get_client()
            assert time.perf_counter() - started < 2 + 1
    assert status.status == "timeout", status.detail
    assert "datasource 'c'" in status.detail
    assert caught.value.datasource == "c"
    assert_no_driver_threads_left(before)


# ----------------------------------------------------------------------------- options


def test_contact_points_and_driver_arguments() -> None:
    from cassandra.policies import DCAwareRoundRobinPolicy, TokenAwarePolicy

    datasource = build(
        contact_points="10.0.0.1, 10.0.0.2,",
        port="9142",
        keyspace="shop",
        username="app",
        password=NASTY_PASSWORD,
        local_dc="dc1",
        consistency="local_quorum",
        protocol_version=4,
        timeout=8,
    )
    options = datasource.options
    assert options.contact_points == ["10.0.0.1", "10.0.0.2"]
    assert options.consistency == "LOCAL_QUORUM"
    kwargs = datasource.cluster_arguments()
    assert kwargs["contact_points"] == ["10.0.0.1", "10.0.0.2"]
    assert kwargs["port"] == 9142
    assert kwargs["protocol_version"] == 4
    # the driver gives up before unifydb's deadline, so it can still shut down cleanly
    assert 0 < kwargs["connect_timeout"] < 8
    assert 0 < kwargs["control_connection_timeout"] < 8
    policy = next(iter(kwargs["execution_profiles"].values())).load_balancing_policy
    assert isinstance(policy, TokenAwarePolicy)
    assert isinstance(policy._child_policy, DCAwareRoundRobinPolicy)
    assert kwargs["auth_provider"].password == NASTY_PASSWORD
    assert datasource.target() == "cassandra://app@10.0.0.1,10.0.0.2:9142/shop"
    for text in (repr(datasource), str(datasource.describe()), datasource.target()):
        assert_no_secret(text, NASTY_PASSWORD)


@pytest.mark.parametrize(
    "options",
    [{}, {"contact_points": []}, {"contact_points": "h", "consistency": "MOST"}],
    ids=["missing", "empty", "bad-consistency"],
)
def test_invalid_options(options: dict[str, Any]) -> None:
    with pytest.raises(ConfigurationError) as caught:
        build(**options)
    assert caught.value.datasource == "c"


def test_unreadable_tls_files_are_a_configuration_error(tmp_path: Any) -> None:
    datasource = build(contact_points="h", tls=True, tls_ca_file=str(tmp_path / "missing.pem"))
    with pytest.raises(ConfigurationError) as caught:
        datasource.cluster_arguments()
    assert caught.value.key == "tls_ca_file"


def test_no_async_client() -> None:
    import asyncio

    datasource = build(contact_points="h")
    with pytest.raises(UnsupportedOperationError):
        asyncio.run(datasource.get_async_client())
    assert isinstance(UnsupportedOperationError("x"), UnifyDBError)
