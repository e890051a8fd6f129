"""Oracle Database through python-oracledb (``oracle+oracledb``).

Thin mode (pure Python, no Oracle Client libraries) is the default; set
``thick_mode = true`` (and optionally ``thick_lib_dir``) to load the Oracle
Client. Name the database by ``service_name`` or ``sid``, or give a ``dsn``
(an Easy Connect string or a tnsnames.ora alias).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, ClassVar

from pydantic import Field, SecretStr, model_validator

from unifydb.base import SQLDatasource
from unifydb.errors import DriverNotInstalledError
from unifydb.options import BaseOptions, ServerSQLOptions, mask_credentials

if TYPE_CHECKING:
    from sqlalchemy.engine import URL


class OracleOptions(ServerSQLOptions):
    port: int | None = Field(1521, ge=1, le=65535)
    service_name: str | None = Field(None, description="The service name (preferred).")
    sid: str | None = Field(None, description="The SID, for old databases without a service.")
    dsn: str | None = Field(
        None, description="Easy Connect string or tnsnames alias instead of host/port."
    )
    thick_mode: bool = Field(False, description="Load the Oracle Client libraries (thick mode).")
    thick_lib_dir: str | None = None
    config_dir: str | None = Field(None, description="Folder holding tnsnames.ora.")
    wallet_location: str | None = None
    wallet_password: SecretStr | None = None

    secret_fields: ClassVar[tuple[str, ...]] = ("password", "url", "wallet_password")

    @model_validator(mode="after")
    def _one_database_name(self) -> OracleOptions:
        if self.service_name and self.sid:
            raise ValueError("give service_name or sid, not both")
        if self.database and (self.service_name or self.sid):
            raise ValueError("'database' is the SID: give it, or service_name/sid, not both")
        if self.dsn and (self.host or self.service_name or self.sid):
            raise ValueError("give dsn alone, or host with service_name/sid, not both")
        if not self.dsn and not self.host:
            raise ValueError("host (with service_name or sid), or dsn, is required")
        if not self.dsn and not (self.service_name or self.sid or self.database):
            raise ValueError("service_name or sid is required")
        return self


class OracleDatasource(SQLDatasource):
    type_name = "oracle"
    options_model: ClassVar[type[BaseOptions]] = OracleOptions
    extra = "oracle"
    driver_modules = ("oracledb",)
    drivername = "oracle+oracledb"
    async_drivername = "oracle+oracledb_async"
    async_driver_modules = ("oracledb",)
    url_dialects = frozenset({"oracle"})
    url_drivers = frozenset({"oracledb", "oracledb_async"})
    version_sql = "SELECT banner FROM v$version WHERE ROWNUM = 1"
    async_connect_function = "oracledb:connect_async"

    @property
    def oracle_options(self) -> OracleOptions:
        assert isinstance(self._options, OracleOptions)
        return self._options

    @classmethod
    def prepare_settings(cls, name: str, data: dict[str, Any]) -> dict[str, Any]:
        data = super().prepare_settings(name, data)
        # in an oracle URL the "database" part is the SID
        if "database" in data and "sid" not in data and "service_name" not in data:
            data["sid"] = data.pop("database")
        return data

    def _build_url(self, drivername: str) -> URL:
        from sqlalchemy.engine import URL

        options = self.oracle_options
        password = options.password.get_secret_value() if options.password else None
        query = dict(options.query)
        if options.service_name:
            query["service_name"] = options.service_name
        return URL.create(
            drivername,
            username=options.username,
            password=password or None,
            host=None if options.dsn else options.host,
            port=None if options.dsn else options.port,
            database=options.sid or options.database,
            query=query,
        )

    def connect_args(self) -> dict[str, Any]:
        options = self.oracle_options
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

    def bound_statement(self, dbapi_connection: Any, timeout: float) -> None:
        # python-oracledb bounds every round trip by call_timeout (milliseconds)
        dbapi_connection.call_timeout = int(timeout * 1000)

    def _initialize(self) -> None:
        if not self.oracle_options.thick_mode:
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
        options = self.oracle_options
        if options.thick_mode:
            kwargs["thick_mode"] = (
                {"lib_dir": options.thick_lib_dir} if options.thick_lib_dir else True
            )
        return kwargs

    def _target(self) -> str:
        options = self.oracle_options
        if options.dsn:
            # a dsn may carry "user/password@" itself
            return f"oracle+oracledb://{options.username or ''}@{mask_credentials(options.dsn)}"
        return super()._target()
