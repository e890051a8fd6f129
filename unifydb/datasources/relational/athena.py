"""Amazon Athena through PyAthena (``awsathena+rest``): a SQLAlchemy engine.

Credentials are passed to PyAthena (and so to boto3) as connect arguments,
never written into the engine's URL: ``aws_access_key_id`` with
``aws_secret_access_key`` (and ``aws_session_token`` for temporary ones), or
``profile_name``, or nothing at all, which is boto3's default chain
(environment variables, ``~/.aws``, the instance or task role). ``role_arn``
assumes a role through STS first.

Every AWS call is bounded: botocore's connect and read timeouts are the
datasource's ``timeout``, with ``max_retries`` retries. A health check asks
Athena for the work group (``GetWorkGroup``): it proves the credentials, the
region (or ``endpoint_url``) and the work group without running, and paying
for, a query.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import TYPE_CHECKING, Annotated, Any, ClassVar

from unifydb.base import SQLDatasource, scrub_driver_logs
from unifydb.errors import DatasourceConnectionError
from unifydb.options import NonNegativeInt, OptionError, PositiveFloat, Secret, SQLOptions, doc

if TYPE_CHECKING:
    from sqlalchemy.engine import URL

_REGION = re.compile(r"^[a-z]{2}(-[a-z]+)+-\d+$")
_ATHENA_HOST = re.compile(r"^athena\.([a-z0-9-]+)\.amazonaws\.com(\.cn)?$")
#: the URL parts PyAthena's own URLs use -> unifydb's keys
_FROM_URL = {
    "username": "aws_access_key_id",
    "password": "aws_secret_access_key",
    "database": "schema_name",
}
#: Athena's work group when none is named
DEFAULT_WORK_GROUP = "primary"
#: botocore's loggers that print request headers (the session token among them) at DEBUG
BOTOCORE_LOGGERS = ("botocore.auth", "botocore.endpoint", "botocore.parsers", "botocore.hooks")


def _s3_uri(value: Any) -> Any:
    if isinstance(value, str) and value and not value.startswith("s3://"):
        raise ValueError("must be an S3 URI, e.g. s3://my-bucket/athena-results/")
    return value


class AthenaOptions(SQLOptions, kw_only=True, frozen=True):
    region: Annotated[
        str | None, doc("AWS region, e.g. eu-west-1 (unset: boto3's default region).")
    ] = None
    s3_staging_dir: Annotated[
        str | None,
        doc("s3:// folder for query results (unset: the work group's result location)."),
    ] = None
    schema_name: Annotated[str, doc("Default schema (Glue database).")] = "default"
    catalog_name: Annotated[
        str | None, doc("Data catalog (PyAthena's default: awsdatacatalog).")
    ] = None
    work_group: Annotated[str | None, doc("Athena work group (Athena's default: primary).")] = None
    aws_access_key_id: Annotated[
        str | None, doc("Access key; unset: boto3's default credential chain.")
    ] = None
    aws_secret_access_key: Annotated[Secret | None, doc("Secret key of aws_access_key_id.")] = None
    aws_session_token: Annotated[Secret | None, doc("Session token of temporary credentials.")] = (
        None
    )
    profile_name: Annotated[str | None, doc("A profile of ~/.aws/config instead of keys.")] = None
    role_arn: Annotated[str | None, doc("IAM role to assume (through STS) before querying.")] = None
    endpoint_url: Annotated[
        str | None, doc("Another Athena endpoint (a VPC endpoint, or a test double).")
    ] = None
    poll_interval: Annotated[
        PositiveFloat | None, doc("Seconds between polls of a running query (PyAthena: 1).")
    ] = None
    max_retries: Annotated[
        NonNegativeInt, doc("Retries of a failed AWS call (botocore's standard mode).")
    ] = 2

    secret_fields: ClassVar[tuple[str, ...]] = (
        "aws_secret_access_key",
        "aws_session_token",
        "url",
    )
    preparers: ClassVar[Mapping[str, Any]] = {
        **SQLOptions.preparers,
        "s3_staging_dir": _s3_uri,
    }
    aliases: ClassVar[Mapping[str, str]] = {
        **SQLOptions.aliases,
        "region_name": "region",  # ORBIT's and boto3's name
    }

    def __post_init__(self) -> None:
        if self.region is not None and not _REGION.match(self.region):
            raise OptionError("must be an AWS region name such as us-east-1", "region")
        if self.aws_secret_access_key is not None and not self.aws_access_key_id:
            raise OptionError("needs aws_access_key_id as well", "aws_secret_access_key")
        if self.aws_access_key_id and self.aws_secret_access_key is None:
            raise OptionError("needs aws_secret_access_key as well", "aws_access_key_id")
        if self.aws_session_token is not None and not self.aws_access_key_id:
            raise OptionError("goes with aws_access_key_id and aws_secret_access_key",
                              "aws_session_token")  # fmt: skip
        if self.profile_name and self.aws_access_key_id:
            raise OptionError("give profile_name or access keys, not both", "profile_name")
        if self.endpoint_url is not None and not self.endpoint_url.startswith(
            ("http://", "https://")
        ):
            raise OptionError("must be an http(s):// URL", "endpoint_url")
        if self.isolation_level:
            raise OptionError("Athena has no transactions", "isolation_level")


class AthenaDatasource(SQLDatasource[AthenaOptions]):
    type_name = "athena"
    drivername = "awsathena+rest"
    url_dialects = frozenset({"awsathena"})
    url_drivers = frozenset({"rest"})

    @classmethod
    def fields_from_url(cls, name: str, text: str) -> dict[str, Any]:
        """PyAthena's URL form: access key and secret as user and password, the
        region in the host (athena.<region>.amazonaws.com), the schema as database."""
        fields = super().fields_from_url(name, text)
        host = fields.pop("host", None)
        fields.pop("port", None)
        if host is not None:
            match = _ATHENA_HOST.match(str(host))
            if match is None:
                from unifydb.errors import ConfigurationError

                raise ConfigurationError(
                    "the URL's host must be athena.<region>.amazonaws.com",
                    datasource=name,
                    key="url",
                    fix="write it as awsathena+rest://@athena.us-east-1.amazonaws.com:443/"
                    "schema?s3_staging_dir=s3://bucket/path/ (an endpoint of your own goes "
                    "in endpoint_url)",
                )
            fields["region"] = match.group(1)
        return {_FROM_URL.get(key, key): value for key, value in fields.items()}

    def _build_url(self, drivername: str) -> URL:
        from sqlalchemy.engine import URL

        options = self.options
        query: dict[str, str] = {}
        for key in ("s3_staging_dir", "work_group", "catalog_name"):
            value = getattr(options, key)
            if value:
                query[key] = value
        region = options.region
        return URL.create(
            drivername,
            host=f"athena.{region}.amazonaws.com" if region else None,
            port=443 if region else None,
            database=options.schema_name,
            query={**query, **options.query},
        )

    def _initialize(self) -> None:
        scrub_driver_logs(self, BOTOCORE_LOGGERS)
        super()._initialize()

    def connect_args(self) -> dict[str, Any]:
        from botocore.config import Config

        options = self.options
        args: dict[str, Any] = {
            "config": Config(
                connect_timeout=self.timeout,
                read_timeout=self.timeout,
                retries={"total_max_attempts": options.max_retries + 1, "mode": "standard"},
            ),
        }
        if options.region:
            args["region_name"] = options.region
        if options.aws_access_key_id:
            args["aws_access_key_id"] = options.aws_access_key_id
        for key in ("aws_secret_access_key", "aws_session_token"):
            secret = getattr(options, key)
            if secret is not None:
                args[key] = secret.get_secret_value()
        for key in ("profile_name", "role_arn", "endpoint_url", "poll_interval"):
            value = getattr(options, key)
            if value is not None:
                args[key] = value
        return args

    def _probe(self, timeout: float) -> str | None:
        from botocore.config import Config

        with self.get_engine().connect() as connection:
            athena: Any = connection.connection.dbapi_connection
            # a client of its own: no retries, and no more time than the check has
            client = athena.session.client(
                "athena",
                region_name=athena.region_name,
                config=Config(
                    connect_timeout=timeout,
                    read_timeout=timeout,
                    retries={"total_max_attempts": 1},
                ),
                **athena._client_kwargs,
            )
            work_group = self.options.work_group or DEFAULT_WORK_GROUP
            answer = client.get_work_group(WorkGroup=work_group)
        group = answer.get("WorkGroup")
        if not group:  # AWS raises InvalidRequestException; doubles may answer empty
            raise DatasourceConnectionError(
                f"health check failed: Athena has no work group {work_group!r}",
                datasource=self.name,
                key="work_group",
                fix="check work_group (and region)",
            )
        engine = group.get("Configuration", {}).get("EngineVersion", {})
        version = engine.get("EffectiveEngineVersion") or engine.get("SelectedEngineVersion")
        return str(version) if version else None

    def connection_error(self, action: str, error: BaseException) -> DatasourceConnectionError:
        """Rejected credentials, missing permissions and no credentials at all say
        which keys to check (AWS's own message is not repeated: it can be a page
        of XML)."""
        code, status = _aws_error(error)
        if code == "AccessDeniedException":
            return DatasourceConnectionError(
                f"{action} failed: AWS accepted the credentials but denied the request ({code})",
                datasource=self.name,
                key="work_group",
                fix="allow athena:GetWorkGroup (and the query actions) on the work group to "
                "this identity, or check work_group",
            )
        if code in _CREDENTIAL_ERRORS or status in (401, 403):
            return DatasourceConnectionError(
                f"{action} failed: AWS rejected the credentials ({code or status})",
                datasource=self.name,
                key="aws_secret_access_key" if self.options.aws_access_key_id else None,
                fix="check aws_access_key_id and aws_secret_access_key (and aws_session_token "
                "for temporary credentials), or the default credential chain",
            )
        if type(error).__name__ == "NoCredentialsError":
            return DatasourceConnectionError(
                f"{action} failed: no AWS credentials were found",
                datasource=self.name,
                key="aws_access_key_id",
                fix="set aws_access_key_id and aws_secret_access_key, or profile_name, or "
                "configure boto3's default chain (AWS_ACCESS_KEY_ID, ~/.aws, a role)",
            )
        return super().connection_error(action, error)

    def is_timeout(self, error: BaseException) -> bool:
        from botocore.exceptions import ConnectTimeoutError, ReadTimeoutError

        return super().is_timeout(error) or isinstance(
            error, (ConnectTimeoutError, ReadTimeoutError)
        )

    def _target(self) -> str:
        options = self.options
        where = f"athena.{options.region}.amazonaws.com" if options.region else "athena"
        extras = [
            f"{label} {value}"
            for label, value in (
                ("work group", options.work_group),
                ("results", options.s3_staging_dir),
                ("endpoint", options.endpoint_url),
            )
            if value
        ]
        shown = f" ({', '.join(extras)})" if extras else ""
        return f"awsathena+rest://{where}/{options.schema_name}{shown}"


_CREDENTIAL_ERRORS = frozenset(
    {
        "UnrecognizedClientException",
        "InvalidSignatureException",
        "SignatureDoesNotMatch",
        "InvalidClientTokenId",
        "ExpiredTokenException",
    }
)


def _aws_error(error: BaseException) -> tuple[str | None, int | None]:
    """(AWS error code, HTTP status) of a botocore error in ``error``'s chain."""
    from unifydb.base import error_chain

    for item in error_chain(error):
        response = getattr(item, "response", None)
        if isinstance(response, Mapping):
            code = response.get("Error", {}).get("Code")
            status = response.get("ResponseMetadata", {}).get("HTTPStatusCode")
            if code and str(code).isdigit():  # an error page AWS's parser could not read
                status, code = status or int(code), None
            return (str(code) if code else None), (int(status) if status else None)
    return None, None
