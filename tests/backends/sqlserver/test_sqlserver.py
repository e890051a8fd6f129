"""The sqlserver type, short of a server (none can run on this machine): ODBC
connection-string keywords and the ODBC driver check (FreeTDS is installed).

Tests shared with the other SQL types, the live one included (it runs when
``UNIFYDB_TEST_SQLSERVER_URL`` is set), are in tests/backends/test_relational.py.
"""

from __future__ import annotations

import pytest

from tests.helpers import (
    build,
    connect_args,
    parse_odbc,
)
from unifydb.errors import (
    DriverNotInstalledError,
)


def test_sqlserver_encrypt_options_and_extra_odbc_keywords() -> None:
    datasource = build(
        "sqlserver",
        host="h",
        database="d",
        username="u",
        password="p",
        driver="FreeTDS",
        encrypt="strict",
        trust_server_certificate=True,
        odbc_options={"ApplicationIntent": "ReadOnly"},
    )
    (odbc,), _ = connect_args(datasource)
    parsed = parse_odbc(odbc)
    assert (parsed["Encrypt"], parsed["TrustServerCertificate"], parsed["ApplicationIntent"]) == (
        "strict",
        "yes",
        "ReadOnly",
    )


def test_missing_odbc_driver_lists_installed_ones() -> None:
    datasource = build("sqlserver", host="h", driver="ODBC Driver 99 for SQL Server")
    with pytest.raises(DriverNotInstalledError) as caught:
        datasource.initialize()
    message = str(caught.value)
    assert "'ODBC Driver 99 for SQL Server' is not installed" in message
    assert "'FreeTDS'" in message  # Debian's tdsodbc is installed by the test setup
    assert caught.value.key == "driver"
