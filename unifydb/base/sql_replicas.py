"""What a SQL datasource with replicas adds: parsing a replica's settings,
measuring a replica, and a health check that lists every node.

Which replica serves a read, and the background checks, are
:mod:`unifydb.base.routing`'s.
"""

from __future__ import annotations

import dataclasses
import threading
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from unifydb._deadline import checked_timeout
from unifydb.errors import ConfigurationError
from unifydb.options import Options, parse_options
from unifydb.status import HealthStatus, NodeStatus

if TYPE_CHECKING:
    from .routing import ReplicaRouter
    from .sql import SQLDatasource


def require_lag_measure(datasource: SQLDatasource[Any]) -> None:
    """``max_replica_lag`` only where the type can tell how far a replica is behind."""
    if datasource.options.max_replica_lag is None:
        return
    if datasource.replica_lag_sql is None and not datasource.measures_replica_lag:
        raise ConfigurationError(
            f"{datasource.type_name} cannot tell how far a replica is behind",
            datasource=datasource.name,
            key="max_replica_lag",
            fix="remove max_replica_lag (replicas are then checked for health only)",
        )


def parse_replica(
    datasource: SQLDatasource[Any], name: str, spec: dict[str, Any] | str, inherited: dict[str, Any]
) -> Options:
    """A replica's options: the primary's (``inherited``), overridden by its entry."""
    if isinstance(spec, str):
        override = datasource.fields_from_url(name, spec)
    else:
        from .secret_files import read_secret_files

        secrets = datasource.options_model.secret_fields
        override = datasource.prepare_settings(name, read_secret_files(name, secrets, dict(spec)))
    return parse_options(
        datasource.options_model,
        {**inherited, **override},
        datasource=name,
        type_name=datasource.type_name,
    )


def replica_state(
    datasource: SQLDatasource[Any], dbapi_connection: Any, primary_position: str | None = None
) -> tuple[str | None, float | None]:
    """Server version and lag (``replica_lag_after_sql`` when the primary's
    position is known, else ``replica_lag_sql``) on a raw DBAPI connection."""
    cursor = dbapi_connection.cursor()
    try:
        cursor.execute(datasource.version_sql)
        row = cursor.fetchone()
        version = None if not row or row[0] is None else str(row[0]).splitlines()[0]
        lag = None
        if primary_position is not None and datasource.replica_lag_after_sql is not None:
            cursor.execute(datasource.replica_lag_after_sql, (primary_position,))
            row = cursor.fetchone()
            lag = None if not row or row[0] is None else float(row[0])
        elif datasource.replica_lag_sql is not None:
            cursor.execute(datasource.replica_lag_sql)
            row = cursor.fetchone()
            lag = None if not row or row[0] is None else float(row[0])
    finally:
        cursor.close()
        # no transaction left open: on a hot standby it would hold back replay
        dbapi_connection.rollback()
    return version, lag


def primary_position(datasource: SQLDatasource[Any], dbapi_connection: Any) -> str | None:
    """``primary_position_sql`` on a raw DBAPI connection to the primary."""
    if datasource.primary_position_sql is None:
        return None
    cursor = dbapi_connection.cursor()
    try:
        cursor.execute(datasource.primary_position_sql)
        row = cursor.fetchone()
    finally:
        cursor.close()
        dbapi_connection.rollback()
    return None if not row or row[0] is None else str(row[0])


def health_with_replicas(
    datasource: SQLDatasource[Any],
    router: ReplicaRouter,
    timeout: float | None,
    check_primary: Callable[[float | None], HealthStatus],
) -> HealthStatus:
    """The primary's check with every replica checked at the same time, all in
    ``nodes``; a replica down or behind ``max_replica_lag`` makes a healthy
    primary ``degraded``."""
    limit = checked_timeout(timeout, datasource=datasource.name) or datasource.timeout
    replicas: list[NodeStatus] = []
    worker = threading.Thread(
        target=lambda: replicas.extend(router.nodes(limit)),
        name=f"unifydb:{datasource.name}:replica-checks",
        daemon=True,
    )
    worker.start()
    status = check_primary(timeout)
    worker.join(limit + 1.0)
    primary = NodeStatus(
        address=datasource.target(),
        state="up" if status.ok else "down",
        role="primary",
        version=status.server_version,
        detail="" if status.ok else status.detail,
    )
    nodes = (primary, *replicas)
    down = [node.address for node in replicas if node.state == "down"]
    if status.ok and down:
        return dataclasses.replace(
            status,
            status="degraded",
            detail=f"{datasource.target()}; replicas down or behind: {', '.join(down)}",
            nodes=nodes,
        )
    return dataclasses.replace(status, nodes=nodes)
