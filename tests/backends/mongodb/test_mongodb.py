"""MongoDB datasource against a real MongoDB wire-protocol server.

The servers are SecantusDB (``tests/servers/mongo_wire.py``, reports MongoDB
8.2.11): one open, one started with ``--auth`` for the SCRAM tests. Set
``UNIFYDB_TEST_MONGODB_URL`` (a URL with the credentials of a user that may
create users, e.g. ``mongodb://root:pw@db:27017/?authSource=admin``) to run the
same live tests against a real MongoDB as well; without it those are skipped.

Timeouts: a health check reports "timeout" whenever no server answered in time,
for a silent listener and for a refused connection alike, because pymongo's
server selection never fails fast on a refused connection.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import functools
import time
from collections.abc import Iterator
from typing import Any
from urllib.parse import quote_plus

import pytest

import unifydb
from tests import helpers
from tests.helpers import (
    EXTERNAL_ONLY,
    NASTY_PASSWORD,
    assert_no_secret,
    opened,
    registry_for,
    skip_unless_env,
    unique,
)
from tests.servers.faults import closed_port, hanging_listener, stalling_proxy
from unifydb.datasources.nosql.mongodb import MongoDBDatasource
from unifydb.errors import (
    ConfigurationError,
    DatasourceConnectionError,
    DatasourceTimeoutError,
    UnifyDBError,
)

REAL_URL_VARIABLE = "UNIFYDB_TEST_MONGODB_URL"
SECANTUS_VERSION = "8.2.11"
#: the characters a password in a MongoDB URL must have escaped
URL_SPECIALS_PASSWORD = "s3cr@t:p/a?s#s%w0rd"
PASSWORDS = [
    pytest.param(URL_SPECIALS_PASSWORD, id="url-specials"),
    pytest.param(NASTY_PASSWORD, id="nasty"),
]


# ----------------------------------------------------------------------------- targets


@dataclasses.dataclass(frozen=True)
class MongoTarget:
    """One server the live tests run against."""

    label: str
    #: a URL with the admin's credentials (when the server needs any)
    url: str
    #: the same server as field-form options, without credentials
    fields: dict[str, Any]
    #: username/password/auth_source of the admin, as options ({} when open)
    admin_credentials: dict[str, Any]
    #: the version health_check() must report (None: any)
    version: str | None
    #: whether commands without a login are refused
    auth_enforced: bool

    @contextlib.contextmanager
    def admin(self) -> Iterator[Any]:
        from pymongo import MongoClient

        client: Any = MongoClient(self.url, serverSelectionTimeoutMS=10_000)
        with client:
            yield client

    def url_for(self, username: str, password: str, database: str = "") -> str:
        """This target's URL with other credentials, quote_plus-escaped."""
        return with_credentials(self.url, username, password, database)

    @contextlib.contextmanager
    def user(self, password: str, database: str) -> Iterator[str]:
        """A user (in admin) with readWrite on ``database``, dropped afterwards."""
        name = unique("u")
        with self.admin() as client:
            client.admin.command(
                "createUser", name, pwd=password, roles=[{"role": "readWrite", "db": database}]
            )
            try:
                yield name
            finally:
                client.admin.command("dropUser", name)


def with_credentials(url: str, username: str, password: str, database: str = "") -> str:
    scheme, _, rest = url.partition("://")
    host_and_path, _, query = rest.partition("?")
    host_part, _, path = host_and_path.partition("/")
    hosts = host_part.rpartition("@")[2]
    params = [p for p in query.split("&") if p and not p.lower().startswith("authsource=")]
    params.append("authSource=admin")
    return (
        f"{scheme}://{quote_plus(username)}:{quote_plus(password)}@{hosts}/"
        f"{database or path}?{'&'.join(params)}"
    )


def real_target() -> MongoTarget:
    url = skip_unless_env(REAL_URL_VARIABLE)
    from pymongo.uri_parser import parse_uri

    parsed = parse_uri(url)
    options = parsed["options"]
    fields: dict[str, Any] = {"host": [f"{host}:{port}" for host, port in parsed["nodelist"]]}
    for option, key in (
        ("replicaset", "replica_set"),
        ("directconnection", "direct_connection"),
        ("tls", "tls"),
        ("tlscafile", "tls_ca_file"),
        ("tlsallowinvalidcertificates", "tls_allow_invalid_certificates"),
    ):
        if option in options:
            fields[key] = options[option]
    credentials: dict[str, Any] = {}
    if parsed["username"]:
        credentials = {
            "username": parsed["username"],
            "password": parsed["password"],
            "auth_source": options.get("authsource", "admin"),
        }
    return MongoTarget("real", url, fields, credentials, None, auth_enforced=False)


def secantus_target(server: Any) -> MongoTarget:
    fields = {"host": [server.host], "port": server.port, "direct_connection": True}
    credentials: dict[str, Any] = {}
    if server.auth:
        credentials = {
            "username": server.admin_user,
            "password": server.admin_password,
            "auth_source": "admin",
        }
    return MongoTarget(
        "secantus-auth" if server.auth else "secantus",
        server.admin_url() if server.auth else server.url(),
        fields,
        credentials,
        SECANTUS_VERSION,
        auth_enforced=server.auth,
    )


@pytest.fixture(scope="module")
def secantus(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    from tests.servers.mongo_wire import mongo_wire

    with mongo_wire(tmp_path_factory.mktemp("mongo")) as server:
        yield server


@pytest.fixture(scope="module")
def secantus_auth(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    from tests.servers.mongo_wire import mongo_wire

    with mongo_wire(tmp_path_factory.mktemp("mongo-auth"), auth=True) as server:
        yield server


@pytest.fixture(scope="module", params=["secantus", "real"])
def mongo(request: pytest.FixtureRequest) -> MongoTarget:
    """An open server (SecantusDB), or the real MongoDB."""
    if request.param == "real":
        return real_target()
    return secantus_target(request.getfixturevalue("secantus"))


@pytest.fixture(scope="module", params=["secantus-auth", "real"])
def mongo_auth(request: pytest.FixtureRequest) -> MongoTarget:
    """A server that requires a login (SecantusDB --auth), or the real MongoDB."""
    if request.param == "real":
        return real_target()
    return secantus_target(request.getfixturevalue("secantus_auth"))


@pytest.fixture
def database(mongo: MongoTarget) -> Iterator[str]:
    name = unique("unifydb_t")
    yield name
    with mongo.admin() as client:
        client.drop_database(name)


@pytest.fixture
def auth_database(mongo_auth: MongoTarget) -> Iterator[str]:
    name = unique("unifydb_t")
    yield name
    with mongo_auth.admin() as client:
        client.drop_database(name)


#: build(**options): a MongoDBDatasource named "db", built (not connected)
build = functools.partial(helpers.build, "mongodb", expect=MongoDBDatasource)


def round_trip(datasource: MongoDBDatasource, database: str) -> None:
    """insert/find/update/aggregate, and a unique index violation as pymongo raises it."""
    from pymongo import ASCENDING, MongoClient
    from pymongo.errors import DuplicateKeyError

    client = datasource.get_client()
    assert isinstance(client, MongoClient)
    db = datasource.database
    assert db.name == database
    things = db["things"]
    things.create_index([("sku", ASCENDING)], unique=True)
    things.insert_many([{"sku": "a", "n": 1}, {"sku": "b", "n": 2}, {"sku": "c", "n": 3}])
    assert things.find_one({"sku": "b"}, {"_id": 0}) == {"sku": "b", "n": 2}
    assert things.update_one({"sku": "c"}, {"$inc": {"n": 10}}).modified_count == 1
    total = list(things.aggregate([{"$group": {"_id": None, "total": {"$sum": "$n"}}}]))
    assert total[0]["total"] == 16
    with pytest.raises(DuplicateKeyError):  # data errors are pymongo's, not wrapped
        things.insert_one({"sku": "a"})


# ----------------------------------------------------------------------------- forms


@pytest.mark.live
@pytest.mark.parametrize("host_form", ["list", "comma-separated"])
def test_field_form_round_trip(mongo: MongoTarget, database: str, host_form: str) -> None:
    fields = dict(mongo.fields)
    if host_form == "comma-separated":
        fields["host"] = ", ".join(fields["host"])
    with opened(build(**fields, **mongo.admin_credentials, database=database)) as datasource:
        round_trip(datasource, database)


@pytest.mark.live
def test_field_form_with_several_hosts(secantus: Any, database: str) -> None:
    # two seeds for the same node, as one environment variable would give them
    hosts = f"127.0.0.1:{secantus.port}, localhost:{secantus.port}"
    with opened(build(host=hosts, replica_set="secantus", database=database)) as datasource:
        assert datasource.options.host == [
            f"127.0.0.1:{secantus.port}",
            f"localhost:{secantus.port}",
        ]
        round_trip(datasource, database)


@pytest.mark.live
def test_url_form_round_trip(mongo: MongoTarget, database: str) -> None:
    with opened(build(url=mongo.url, database=database)) as datasource:
        round_trip(datasource, database)


@pytest.mark.live
def test_url_form_default_database_comes_from_the_path(mongo: MongoTarget, database: str) -> None:
    scheme, _, rest = mongo.url.partition("://")
    head, _, query = rest.partition("?")
    url = f"{scheme}://{head.partition('/')[0]}/{database}?{query}"
    with opened(build(url=url)) as datasource:
        assert datasource.database.name == database


def test_no_database_configured_is_a_configuration_error() -> None:
    with opened(build(host="127.0.0.1", port=closed_port())) as datasource:
        with pytest.raises(ConfigurationError) as caught:
            datasource.database  # noqa: B018 - the property is what is tested
    assert caught.value.datasource == "db"
    assert caught.value.key == "database"


@pytest.mark.live
def test_transaction_commits_and_aborts(mongo: MongoTarget, database: str) -> None:
    with opened(build(url=mongo.url, database=database)) as datasource:
        client = datasource.get_client()
        orders = datasource.database["orders"]
        orders.insert_one({"_id": 0})  # a transaction cannot create its collection everywhere
        with client.start_session() as session:
            with session.start_transaction():
                orders.insert_one({"_id": 1}, session=session)
                orders.insert_one({"_id": 2}, session=session)
            assert orders.count_documents({}) == 3
            session.start_transaction()
            orders.insert_one({"_id": 3}, session=session)
            session.abort_transaction()
        assert sorted(doc["_id"] for doc in orders.find()) == [0, 1, 2]


# ----------------------------------------------------------------------------- SCRAM


@pytest.mark.live
@pytest.mark.parametrize("password", PASSWORDS)
def test_scram_login_with_fields(
    mongo_auth: MongoTarget, auth_database: str, password: str
) -> None:
    fields = mongo_auth.fields
    with mongo_auth.user(password, auth_database) as user:
        datasource = build(
            **fields, username=user, password=password, auth_source="admin", database=auth_database
        )
        with opened(datasource):
            status = datasource.health_check()
            assert status.ok, status.detail
            things = datasource.database["things"]
            things.insert_one({"who": user})
            assert things.count_documents({"who": user}) == 1
            status_doc = datasource.get_client().admin.command("connectionStatus")
            assert status_doc["authInfo"]["authenticatedUsers"] == [{"user": user, "db": "admin"}]
            assert_no_secret(repr(datasource) + str(datasource.describe()), password)


@pytest.mark.live
@pytest.mark.parametrize("password", PASSWORDS)
def test_scram_login_with_url(mongo_auth: MongoTarget, auth_database: str, password: str) -> None:
    with mongo_auth.user(password, auth_database) as user:
        url = mongo_auth.url_for(user, password, auth_database)
        with opened(build(url=url)) as datasource:
            status = datasource.health_check()
            assert status.ok, status.detail
            things = datasource.database["things"]
            things.insert_one({"who": user})
            assert things.count_documents({"who": user}) == 1
            shown = repr(datasource) + datasource.target() + str(datasource.describe())
            assert_no_secret(shown, password)
            assert f"{quote_plus(user)}:***@" in datasource.target()


@pytest.mark.live
def test_without_login_commands_are_refused(mongo_auth: MongoTarget, auth_database: str) -> None:
    from pymongo.errors import OperationFailure

    if not mongo_auth.auth_enforced:
        pytest.skip(f"{EXTERNAL_ONLY} the real server does not require a login")
    with opened(build(**mongo_auth.fields, database=auth_database)) as datasource:
        assert datasource.health_check().ok  # ping needs no login
        with pytest.raises(OperationFailure) as caught:
            datasource.database["things"].insert_one({})
        assert caught.value.code == 13


@pytest.mark.live
@pytest.mark.parametrize("form", ["fields", "url"])
def test_wrong_password(mongo_auth: MongoTarget, auth_database: str, form: str) -> None:
    from pymongo.errors import OperationFailure

    right, wrong = "Right-pw:@/?#%1", "Wr0ng:p@ss/w?rd#%"

    def wrong_login(user: str) -> MongoDBDatasource:
        if form == "fields":
            return build(
                **mongo_auth.fields,
                username=user,
                password=wrong,
                auth_source="admin",
                database=auth_database,
                timeout=2,
            )
        return build(url=mongo_auth.url_for(user, wrong, auth_database), timeout=2)

    def assert_login_failed(status: Any, datasource: MongoDBDatasource) -> None:
        assert status.status == "error", status.detail
        assert "datasource 'db'" in status.detail
        assert "authentication" in status.detail
        assert status.error is not None
        assert status.error.datasource == "db"
        assert status.error.key == ("password" if form == "fields" else "url")
        for text in (status.detail, str(status.error), repr(datasource), datasource.target()):
            assert_no_secret(text, wrong)
            assert_no_secret(text, right)

    with mongo_auth.user(right, auth_database) as user:
        # the health check is the first contact: the login fails at once
        with opened(wrong_login(user)) as datasource:
            started = time.perf_counter()
            assert_login_failed(datasource.health_check(), datasource)
            assert time.perf_counter() - started < 1

        with opened(wrong_login(user)) as datasource:
            client = datasource.get_client()  # lazy: building does not log in
            with pytest.raises(OperationFailure) as caught:
                client[auth_database]["things"].find_one()
            assert caught.value.code == 18
            # pymongo now holds the server as "Unknown" and reports selection
            # timeouts; the check still says what went wrong, within its timeout
            for _ in range(2):
                started = time.perf_counter()
                assert_login_failed(datasource.health_check(), datasource)
                assert time.perf_counter() - started < 2 + 1


# ----------------------------------------------------------------------------- health


@pytest.mark.live
def test_health_check_ok(mongo: MongoTarget) -> None:
    with opened(build(url=mongo.url)) as datasource:
        status = datasource.health_check()
        assert status.ok, status.detail
        assert status.type == "mongodb"
        if mongo.version is not None:
            assert status.server_version == mongo.version
        else:
            assert status.server_version
        assert status.latency_ms is not None
        assert 0 < status.latency_ms < 5000
        assert status.detail == datasource.target()


@pytest.mark.live
def test_registry_health_check(mongo: MongoTarget) -> None:
    registry = registry_for(
        good={"type": "mongodb", "url": mongo.url},
        fields={"type": "mongo", **mongo.fields, **mongo.admin_credentials},
        down={"type": "mongodb", "host": "127.0.0.1", "port": closed_port(), "timeout": 1},
    )
    with registry:
        started = time.perf_counter()
        statuses = registry.health_check()
        assert time.perf_counter() - started < 1 + 1
    assert statuses["good"].ok, statuses["good"].detail
    assert statuses["fields"].ok, statuses["fields"].detail
    if mongo.version is not None:
        assert statuses["good"].server_version == mongo.version
    assert statuses["down"].status == "timeout"
    assert "datasource 'down'" in statuses["down"].detail


@pytest.mark.parametrize("explicit", [True, False], ids=["timeout-arg", "timeout-option"])
def test_hanging_server_times_out(explicit: bool) -> None:
    with hanging_listener() as (host, port):
        options = {"host": host, "port": port, "timeout": 10 if explicit else 2}
        with opened(build(**options)) as datasource:
            started = time.perf_counter()
            status = datasource.health_check(timeout=2) if explicit else datasource.health_check()
            elapsed = time.perf_counter() - started
    assert status.status == "timeout", status.detail
    assert elapsed < 2 + 1
    assert "datasource 'db'" in status.detail
    assert isinstance(status.error, DatasourceTimeoutError)
    with pytest.raises(DatasourceTimeoutError):
        status.raise_for_status()


def test_closed_port_times_out_with_the_reason() -> None:
    with opened(build(host="127.0.0.1", port=closed_port(), timeout=2)) as datasource:
        started = time.perf_counter()
        status = datasource.health_check()
        elapsed = time.perf_counter() - started
    assert elapsed < 2 + 1
    assert status.status == "timeout"
    assert "datasource 'db'" in status.detail
    # pymongo is given a budget under the deadline, so its reason comes through
    assert "refused" in status.detail.lower()


@pytest.mark.live
def test_stalled_server_times_out_then_recovers(secantus: Any) -> None:
    with stalling_proxy(secantus.host, secantus.port) as proxy:
        datasource = build(host=proxy.host, port=proxy.port, direct_connection=True, timeout=2)
        with opened(datasource):
            assert datasource.health_check().ok
            proxy.stall()
            started = time.perf_counter()
            status = datasource.health_check()
            assert time.perf_counter() - started < 2 + 1
            assert status.status == "timeout", status.detail
            assert "datasource 'db'" in status.detail
            proxy.resume()
            assert datasource.health_check().ok


# ----------------------------------------------------------------------------- mongodb+srv


@pytest.mark.live  # asks this machine's DNS resolver
def test_srv_url_is_accepted_and_fails_as_a_unifydb_error() -> None:
    password = "srv-s3cret:@/?"
    url = f"mongodb+srv://app:{quote_plus(password)}@cluster0.unifydb-test.invalid/shop?retryWrites=true"
    datasource = build(url=url, timeout=3)
    assert datasource.target() == (
        "mongodb+srv://app:***@cluster0.unifydb-test.invalid/shop?retryWrites=true"
    )
    with opened(datasource):
        started = time.perf_counter()
        with pytest.raises(UnifyDBError) as caught:
            datasource.get_client()
        assert time.perf_counter() - started < 3 + 1
        status = datasource.health_check()
        assert time.perf_counter() - started < 2 * (3 + 1)
    error = caught.value
    assert isinstance(error, DatasourceConnectionError)
    assert error.datasource == "db"
    assert error.key == "url"
    assert "DNS" in str(error)
    assert status.status == "error"
    assert "datasource 'db'" in status.detail
    for text in (str(error), status.detail, repr(datasource), str(datasource.describe())):
        assert_no_secret(text, password)


@pytest.mark.parametrize("cause", ["timeout", "nxdomain"])
def test_srv_lookup_failures_are_classified(cause: str) -> None:
    # a resolver that never answers cannot be arranged here, so pymongo's error
    # (a ConfigurationError raised from dnspython's) is built as pymongo builds it
    import dns.resolver
    from pymongo.errors import ConfigurationError as MongoConfigurationError

    reason = (
        dns.resolver.LifetimeTimeout(timeout=3.0, errors=[])  # type: ignore[no-untyped-call]
        if cause == "timeout"
        else dns.resolver.NXDOMAIN()  # type: ignore[no-untyped-call]
    )
    try:
        raise MongoConfigurationError(str(reason)) from reason
    except MongoConfigurationError as raised:
        error = build(url="mongodb+srv://cluster0.example.invalid/")._construction_error(raised)
    expected = DatasourceTimeoutError if cause == "timeout" else DatasourceConnectionError
    assert type(error) is expected
    assert isinstance(error, UnifyDBError)
    assert error.datasource == "db"


def test_srv_url_with_a_port_is_a_configuration_error() -> None:
    with opened(build(url="mongodb+srv://cluster0.example.invalid:27017/")) as datasource:
        with pytest.raises(ConfigurationError) as caught:
            datasource.get_client()
    assert caught.value.datasource == "db"
    assert caught.value.key == "url"


# ----------------------------------------------------------------------------- lifecycle


@pytest.mark.live
def test_close_closes_the_client_and_allows_reuse(mongo: MongoTarget) -> None:
    from pymongo.errors import InvalidOperation

    datasource = build(url=mongo.url)
    first = datasource.get_client()
    assert datasource.get_client() is first
    assert datasource.health_check().ok
    datasource.close()
    assert not datasource.initialized
    with pytest.raises(InvalidOperation):
        first.admin.command("ping")
    datasource.close()  # twice is harmless
    second = datasource.get_client()
    assert second is not first
    assert second.admin.command("ping")["ok"] == 1
    assert datasource.health_check().ok
    datasource.close()
    datasource.close()


# ----------------------------------------------------------------------------- asyncio


@pytest.mark.live
def test_async_client_pings(mongo: MongoTarget, database: str) -> None:
    from pymongo import AsyncMongoClient

    async def main() -> None:
        with opened(build(url=mongo.url, database=database)) as datasource:
            client = await datasource.get_async_client()
            try:
                assert isinstance(client, AsyncMongoClient)
                assert (await client.admin.command("ping"))["ok"] == 1
                await client[database]["things"].insert_one({"n": 1})
                assert await client[database]["things"].count_documents({}) == 1
            finally:
                await client.close()
            status = await datasource.health_check_async()
            assert status.ok, status.detail

    asyncio.run(main())


def test_async_health_check_does_not_block_the_event_loop() -> None:
    async def main() -> tuple[Any, int, float]:
        ticks = 0

        async def ticker() -> None:
            nonlocal ticks
            while True:
                await asyncio.sleep(0.05)
                ticks += 1

        with hanging_listener() as (host, port):
            with opened(build(host=host, port=port, timeout=2)) as datasource:
                task = asyncio.create_task(ticker())
                started = time.perf_counter()
                status = await datasource.health_check_async()
                elapsed = time.perf_counter() - started
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
        return status, ticks, elapsed

    status, ticks, elapsed = asyncio.run(main())
    assert status.status == "timeout"
    assert elapsed < 2 + 1
    assert ticks >= elapsed / 0.05 * 0.5  # the loop kept running all along


# ----------------------------------------------------------------------------- secrets


def test_secrets_never_shown_in_field_form() -> None:
    password = NASTY_PASSWORD
    datasource = build(host="db.example", username="app", password=password, database="shop")
    assert datasource.target() == "mongodb://app@db.example:27017/shop"
    assert datasource.describe()["options"]["password"] == "***"
    for text in (repr(datasource), str(datasource.describe()), datasource.target()):
        assert_no_secret(text, password)


@pytest.mark.parametrize("password", PASSWORDS)
def test_secrets_never_shown_in_url_form(password: str) -> None:
    url = f"mongodb://app:{quote_plus(password)}@127.0.0.1:{closed_port()}/shop?authSource=admin"
    with opened(build(url=url, timeout=1)) as datasource:
        assert datasource.target().startswith("mongodb://app:***@127.0.0.1:")
        status = datasource.health_check()
        assert status.status == "timeout"
        shown = [repr(datasource), str(datasource.describe()), datasource.target(), status.detail]
        shown.append(str(status.error))
        for text in shown:
            assert_no_secret(text, password)
            assert quote_plus(password) not in text


def test_credential_options_in_the_url_are_hidden() -> None:
    url = (
        "mongodb://app@db.example/?tls=true&tlsCertificateKeyFilePassword=k3y-pw"
        "&authMechanismProperties=AWS_SESSION_TOKEN:t0ken"
    )
    datasource = build(url=url, client_options={"tlsCertificateKeyFilePassword": "k3y-pw"})
    shown = repr(datasource) + datasource.target() + str(datasource.describe())
    assert "k3y-pw" not in shown
    assert "t0ken" not in shown
    assert "tlsCertificateKeyFilePassword=***" in datasource.target()
    assert "k3y-pw" in datasource.secrets()


@pytest.mark.parametrize(
    "userinfo",
    ["app:pa/ss", "app:pa?ss", "app:p:ss", "app:100%", "app:pa@ss"],
    ids=["slash", "question-mark", "colon", "percent", "at"],
)
def test_unescaped_password_in_url_is_refused_without_echoing_it(userinfo: str) -> None:
    url = f"mongodb://{userinfo}@db.example:27017/shop"
    with pytest.raises(ConfigurationError) as caught:
        build(url=url)
    message = str(caught.value)
    assert caught.value.datasource == "db"
    assert caught.value.key == "url"
    assert "percent-escaped" in message
    assert userinfo.partition(":")[2] not in message


@pytest.mark.parametrize("host", ["mongodb://app:pw@db.example", "app@db.example", "db/x"])
def test_host_must_not_be_a_connection_string(host: str) -> None:
    with pytest.raises(ConfigurationError) as caught:
        build(host=host)
    assert caught.value.key == "host"
    assert "pw" not in str(caught.value)


@pytest.mark.parametrize("url", [0, 5, 1.5])
def test_a_number_is_no_url(url: float) -> None:
    """The same as the string an environment variable would give (found by the fuzzer)."""
    with pytest.raises(ConfigurationError, match="must start with mongodb://") as caught:
        build(host="db.example", url=url)
    assert caught.value.key == "url"


def test_url_or_host_is_required() -> None:
    with pytest.raises(ConfigurationError):
        build(database="shop")
    with pytest.raises(ConfigurationError) as caught:
        build(url="postgresql://db.example/shop")
    assert caught.value.key == "url"


def test_client_arguments_carry_credentials_as_keywords() -> None:
    datasource = build(
        host="a.example:27018, b.example",
        port=27019,
        username="app",
        password=NASTY_PASSWORD,
        auth_source="admin",
        replica_set="rs0",
        timeout=3,
    )
    host, kwargs = datasource.client_arguments()
    assert host == ["a.example:27018", "b.example"]
    assert kwargs["port"] == 27019
    assert kwargs["username"] == "app"
    assert kwargs["password"] == NASTY_PASSWORD  # as given: no escaping for keywords
    assert kwargs["authSource"] == "admin"
    assert kwargs["replicaSet"] == "rs0"
    assert kwargs["serverSelectionTimeoutMS"] == 3000
    assert kwargs["connectTimeoutMS"] == 3000


def test_registry_hands_out_mongodb_datasources() -> None:
    registry = unifydb.Registry(
        settings={"datasources": {"docs": {"type": "mongo", "host": "db.example"}}}
    )
    datasource = registry.get_datasource("docs")
    assert isinstance(datasource, MongoDBDatasource)
    assert datasource.category == "nosql"
    registry.close_all()
