"""The redis type, live: the machine's Redis (127.0.0.1:6379, a database other
than 0, flushed by the tests) and a throwaway redis-server.

URLs and fields, the pool, timeouts, the asyncio client, logins, the ORBIT
keys. Restarts and kills under load are in tests/properties/test_faults.py;
secrets in tests/properties/test_secrets.py.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from typing import Any

import pytest

from tests.helpers import REDIS_DB, REDIS_HOST, REDIS_PORT, build, opened, require_server
from tests.servers.faults import garbage_listener, hanging_listener
from unifydb.errors import ConfigurationError, DatasourceConnectionError, DatasourceTimeoutError

pytestmark = pytest.mark.live


@pytest.fixture
def machine_redis() -> Iterator[dict[str, Any]]:
    """Settings for the machine's Redis, on database REDIS_DB, flushed before and after."""
    import redis

    require_server(REDIS_HOST, REDIS_PORT, "Redis")
    admin = redis.Redis(host=REDIS_HOST, port=REDIS_PORT, db=REDIS_DB)
    admin.flushdb()
    yield {"host": REDIS_HOST, "port": REDIS_PORT, "db": REDIS_DB}
    admin.flushdb()
    admin.close()


def test_round_trip_and_health(machine_redis: dict[str, Any]) -> None:
    with opened(build("redis", **machine_redis, decode_responses=True)) as datasource:
        client = datasource.get_client()
        assert client is datasource.get_client()  # built once
        client.set("greeting", "Grüße 🎉")
        assert client.get("greeting") == "Grüße 🎉"
        assert client.connection_pool.connection_kwargs["db"] == REDIS_DB
        status = datasource.health_check()
    assert status.ok and status.server_version and status.server_version[0].isdigit()
    assert status.detail == f"redis://{REDIS_HOST}:{REDIS_PORT}/{REDIS_DB}"


def test_url_and_fields(machine_redis: dict[str, Any]) -> None:
    url = f"redis://{REDIS_HOST}:{REDIS_PORT}/{REDIS_DB}?decode_responses=true"
    with opened(build("redis", url=url, max_connections=3)) as datasource:
        options = datasource.options
        assert (options.host, options.port, options.db) == (REDIS_HOST, REDIS_PORT, REDIS_DB)
        assert options.decode_responses is True
        client = datasource.get_client()
        client.set("k", "v")
        assert client.get("k") == "v"
        assert client.connection_pool.max_connections == 3
    # separate keys win over the URL's parts
    assert build("redis", url="redis://h:1/2", db=5).options.db == 5
    tls = build("redis", url="rediss://user:pw@h:6380")
    assert (tls.options.ssl, tls.options.username, tls.target()) == (
        True,
        "user",
        "rediss://user@h:6380/0",
    )
    unix = build("redis", url="unix:///run/redis.sock?db=4")
    assert (unix.options.unix_socket_path, unix.options.db) == ("/run/redis.sock", 4)


@pytest.mark.parametrize(
    ("settings", "key"),
    [
        ({}, None),
        ({"url": "http://h:6379"}, "url"),
        ({"url": "redis://h:port/0"}, "url"),
        ({"url": "redis://h:6379/0?bogus=1"}, "url"),
        ({"url": "redis://u:p@ss@h:6379/0"}, "url"),
        ({"host": "h", "db": -1}, "db"),
        ({"host": "redis://h"}, "host"),
        ({"host": "h", "unix_socket_path": "/s"}, "unix_socket_path"),
        ({"host": "h", "ssl_cert_reqs": "maybe"}, "ssl_cert_reqs"),
        ({"host": "h", "socket_timeout": -1}, "socket_timeout"),
        ({"host": "h", "vector_fieldd": "x"}, "vector_fieldd"),
    ],
)
def test_bad_settings_name_the_key(settings: dict[str, Any], key: str | None) -> None:
    with pytest.raises(ConfigurationError) as caught:
        build("redis", **settings)
    assert caught.value.key == key


def test_orbit_keys() -> None:
    datasource = build(
        "redis",
        host="h",
        port=6380,
        password="",
        db=0,
        use_ssl=False,
        vector_field="embedding",
        text_field="content",
        distance_metric="COSINE",
    )
    assert datasource.options.ssl is False and datasource.options.password is None
    assert datasource.settings == {
        "vector_field": "embedding",
        "text_field": "content",
        "distance_metric": "COSINE",
    }
    with pytest.raises(Exception, match="not a vector datasource"):
        datasource.vectors()


def test_client_options_that_redis_refuses() -> None:
    with opened(build("redis", host="h", client_options={"no_such_option": 1})) as datasource:
        with pytest.raises(ConfigurationError) as caught:
            datasource.get_client()
    assert caught.value.key == "client_options"


def test_timeouts_reach_the_client() -> None:
    datasource = build("redis", host="h", timeout=3, retries=1)
    kwargs = datasource.client_arguments()
    assert (kwargs["socket_connect_timeout"], kwargs["socket_timeout"]) == (3, 3)
    assert build("redis", host="h", socket_timeout=0).client_arguments()["socket_timeout"] is None
    with opened(datasource):
        client = datasource.get_client()
        assert client.get_retry().get_retries() == 1


def test_silent_and_garbage_servers_are_bounded() -> None:
    for listener in (hanging_listener, garbage_listener):
        with listener() as (host, port):
            with opened(build("redis", host=host, port=port, timeout=1.5)) as datasource:
                datasource.initialize()  # the driver import is no part of what is timed
                started = time.monotonic()
                status = datasource.health_check()
                elapsed = time.monotonic() - started
        assert elapsed < 3.0, (listener.__name__, elapsed)
        expected = "timeout" if listener is hanging_listener else "error"
        assert status.status == expected, (listener.__name__, status)
        assert status.error is not None and status.error.datasource == "db"


def test_a_command_against_a_silent_server_gives_up() -> None:
    with hanging_listener() as (host, port):
        with opened(build("redis", host=host, port=port, timeout=1, retries=0)) as datasource:
            started = time.monotonic()
            with pytest.raises(Exception, match=r"(?i)timeout"):
                datasource.get_client().get("x")
            assert time.monotonic() - started < 3.0


def test_closed_port_fails_fast(closed_port: int) -> None:
    with opened(build("redis", host="127.0.0.1", port=closed_port, timeout=5)) as datasource:
        datasource.initialize()  # the driver import is no part of what is timed
        started = time.monotonic()
        status = datasource.health_check()
    assert status.status == "error" and time.monotonic() - started < 2.5
    assert isinstance(status.error, DatasourceConnectionError)


def test_the_asyncio_client(machine_redis: dict[str, Any]) -> None:
    import redis.asyncio

    datasource = build("redis", **machine_redis, decode_responses=True)

    async def use() -> str | None:
        client = await datasource.get_async_client()
        assert isinstance(client, redis.asyncio.Redis)
        try:
            await client.set("async", "yes")
            return await client.get("async")  # type: ignore[no-any-return]
        finally:
            await client.aclose()

    with opened(datasource):
        assert asyncio.run(use()) == "yes"
        assert datasource.get_client().get("async") == "yes"


def test_login_with_requirepass(tmp_path: Any) -> None:
    from tests.servers.redis_server import redis_server

    with redis_server(tmp_path, password="right-Pw-1") as server:
        common = {"host": server.host, "port": server.port, "timeout": 3}
        for settings, ok, key in (
            ({"password": "right-Pw-1"}, True, None),
            ({"password": "wrong-Pw-2"}, False, "password"),
            ({}, False, "username"),
        ):
            with opened(build("redis", **common, **settings)) as datasource:
                status = datasource.health_check()
            assert status.ok is ok, (settings, status)
            if not ok:
                assert status.error is not None and status.error.key == key, status
                assert "Pw-" not in status.detail


def test_a_silent_check_times_out_with_its_own_limit() -> None:
    with hanging_listener() as (host, port):
        with opened(build("redis", host=host, port=port, timeout=10)) as datasource:
            datasource.initialize()  # the driver import is no part of what is timed
            started = time.monotonic()
            status = datasource.health_check(1.0)
    assert status.status == "timeout" and time.monotonic() - started < 2.0
    assert isinstance(status.error, DatasourceTimeoutError)
