"""The oracle type, short of a server (none can run on this machine): service
name, SID and DSN, thick mode.

Tests shared with the other SQL types, the live one included (it runs when
``UNIFYDB_TEST_ORACLE_URL`` is set), are in tests/backends/test_relational.py.
"""

from __future__ import annotations

import pytest

from tests.helpers import (
    build,
    connect_args,
)
from unifydb.errors import (
    ConfigurationError,
)


def test_oracle_service_name_sid_and_dsn() -> None:
    _, by_service = connect_args(
        build("oracle", host="h", service_name="S1", username="u", password="p")
    )
    assert "SERVICE_NAME=S1" in by_service["dsn"]
    assert by_service["tcp_connect_timeout"] == 10.0
    _, by_sid = connect_args(build("oracle", host="h", sid="ORCL", username="u", password="p"))
    assert "SID=ORCL" in by_sid["dsn"]
    _, by_dsn = connect_args(build("oracle", dsn="h:1521/S2", username="u", password="p"))
    assert by_dsn["dsn"] == "h:1521/S2"
    with pytest.raises(ConfigurationError) as both:
        build("oracle", host="h", service_name="a", sid="b")
    assert "not both" in str(both.value)
    with pytest.raises(ConfigurationError) as neither:
        build("oracle", host="h")
    assert "service_name or sid" in str(neither.value)


def test_oracle_thick_mode_is_passed_to_the_dialect() -> None:
    datasource = build(
        "oracle", host="h", service_name="s", thick_mode=True, thick_lib_dir="/opt/oracle"
    )
    assert datasource.engine_kwargs()["thick_mode"] == {"lib_dir": "/opt/oracle"}
    assert "thick_mode" not in build("oracle", host="h", service_name="s").engine_kwargs()
