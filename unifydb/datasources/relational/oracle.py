"""Oracle Database through python-oracledb (``oracle+oracledb``).

Thin mode (pure Python, no Oracle Client libraries) is the default; set
``thick_mode = true`` (and optionally ``thick_lib_dir``) to load the Oracle
Client. Name the database by ``service_name`` or ``sid``, or give a ``dsn``
(an Easy Connect string or a tnsnames.ora alias).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated, Any, ClassVar

from unifydb.base import SQLDatasource
from unifydb.errors import DriverNotInstalledError
from unifydb.options import OptionError, Port, Secret, ServerSQLOptions, doc
from unifydb.redaction import mask_credentials

if TYPE_CHECKING:
    from sqlalchemy.engine import URL


class OracleOptions(ServerSQLOptions, kw_only=True, frozen=True):
    port: Port | None = 1521
    service_name: Annotated[str | None, doc("The service name (preferred).")] = None
    sid: Annotated[str | None, doc("The SID, for old databases without a service.")] = None
    dsn: Annotated[
        str | None, doc("Easy Connect string or tnsnames alias instead of host/port.")
    ] = None
    thick_mode: Annotated[bool, doc("Load the Oracle Client libraries (thick mode).")] = False
    thick_lib_dir: str | None = None
    config_dir: Annotated[str | None, doc("Folder holding tnsnames.ora.")] = None
    wallet_location: str | None = None
    wallet_password: Secret | None = None

    secret_fields: ClassVar[tuple[str, ...]] = ("password", "url", "wallet_password")

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.service_name and self.sid:
            raise OptionError("give service_name or sid, not both")
        if self.database and (self.service_name or self.sid):
            raise OptionError("'database' is the SID: give it, or service_name/sid, not both")
        if self.dsn and (self.host or self.service_name or self.sid):
            raise OptionError("give dsn alone, or host with service_name/sid, not both")
        if not self.dsn and not self.host:
            raise OptionError("host (with service_name or sid), or dsn, is required")
        if not self.dsn and not (self.service_name or self.sid or self.database):
            raise OptionError("service_name or sid is required")


class OracleDatasource(SQLDatasource[OracleOptions]):
    type_name = "oracle"
    drivername = "oracle+oracledb"
    async_drivername = "oracle+oracledb_async"
    url_dialects = frozenset({"oracle"})
    url_drivers = frozenset({"oracledb", "oracledb_async"})
    version_sql = "SELECT banner FROM v$version WHERE ROWNUM = 1"
    async_connect_function = "oracledb:connect_async"

    @classmethod
    def prepare_settings(cls, name: str, data: dict[str, Any]) -> dict[str, Any]:
        data = super().prepare_settings(name, data)
        # in an oracle URL the "database" part is the SID
        if "database" in data and "sid" not in data and "service_name" not in data:
            data["sid"] = data.pop("database")
        return data

    def _build_url(self, drivername: str) -> URL:
        from sqlalchemy.engine import URL

        options = self.options
        query = dict(options.query)
        if options.service_name:
            query["service_name"] = options.service_name
        return URL.create(
            drivername,
            username=options.username,
            password=self.url_password(),
            host=None if options.dsn else options.host,
            port=None if options.dsn else options.port,
            database=options.sid or options.database,
            query=query,
        )

    def connect_args(self) -> dict[str, Any]:
        options = self.options
        args: dict[str, Any] = {"tcp_connect_timeout": self.timeout}
        if options.dsn:
            args["dsn"] = options.dsn
        if options.config_dir:
            args["config_dir"] = options.config_dir
        if options.wallet_location:
            args["wallet_location"] = options.wallet_location
        if options.wallet_password is not None:
            args["wallet_password"] = options.wallet_password.get_secret_value()
        return args

    def apply_statement_timeout(self, dbapi_connection: Any, milliseconds: int) -> None:
        # python-oracledb bounds every round trip by call_timeout (milliseconds)
        connection = getattr(dbapi_connection, "_connection", dbapi_connection)
        connection.call_timeout = int(milliseconds)

    def bound_statement(self, dbapi_connection: Any, timeout: float) -> None:
        # python-oracledb bounds every round trip by call_timeout (milliseconds)
        dbapi_connection.call_timeout = int(timeout * 1000)

    def _initialize(self) -> None:
        if not self.options.thick_mode:
            super()._initialize()
            return
        import oracledb

        try:
            super()._initialize()  # thick mode loads the Oracle Client libraries now
            return
        except oracledb.Error as error:
            problem = self.redact(str(error).splitlines()[0])
        raise DriverNotInstalledError(
            f"thick mode could not load the Oracle Client libraries: {problem}",
            extra=self.extra,
            datasource=self.name,
            key="thick_lib_dir",
            fix="install Oracle Instant Client and point thick_lib_dir at it, "
            "or set thick_mode = false (thin mode needs no client libraries)",
        )

    def engine_kwargs(self) -> dict[str, Any]:
        kwargs = super().engine_kwargs()
        options = self.options
        if options.thick_mode:
            kwargs["thick_mode"] = (
                {"lib_dir": options.thick_lib_dir} if options.thick_lib_dir else True
            )
        return kwargs

    def _target(self) -> str:
        options = self.options
        if options.dsn:
            # a dsn may carry "user/password@" itself
            return f"oracle+oracledb://{options.username or ''}@{mask_credentials(options.dsn)}"
        return super()._target()
