"""Apache Cassandra through the DataStax driver: a ``Session`` bound to the keyspace.

``contact_points`` is a list or a comma-separated string (so one environment
variable can hold them all). With ``local_dc`` the driver routes requests to
that datacenter (``DCAwareRoundRobinPolicy``), wrapped in token awareness
unless ``token_aware = false``; speculative execution and the reconnection
policy are settings too. Failed requests raise unifydb errors naming the
consistency level (:mod:`.requests`); ``health_check()`` lists every node
the driver knows and is ``degraded`` while one of them is down.
``close()`` shuts the whole ``Cluster`` down, not only the session, so none of
its threads (scheduler, heartbeat, executor) are left behind.

One thread outlives every Cluster: cassandra-driver's libev reactor keeps a
single, process-wide ``event_loop`` daemon thread once any request has run
(its loop timer re-arms itself). It is shared by all clusters and does not
grow with them.

The driver's own connect and request timeouts are set a little below
``timeout``, so a failed connect is reported (and its Cluster shut down) before
unifydb's deadline gives up on it: a silent server reads "timeout" (the driver's
timeouts are reported as such), a refused connection or a bad login "error",
and no driver threads keep running in the background. (A health check given a
shorter timeout than the datasource's abandons the connect at its deadline; the
connect then shuts its Cluster down when the driver gives up.)
"""

from __future__ import annotations

import dataclasses
from typing import Any, Literal

from unifydb.base import ClientDatasource
from unifydb.errors import ConfigurationError, DatasourceConnectionError, DatasourceTimeoutError
from unifydb.options import RotatingSecret
from unifydb.status import HealthStatus, NodeStatus

from .options import CassandraOptions


class CassandraDatasource(ClientDatasource[CassandraOptions]):
    type_name = "cassandra"

    def cluster_arguments(self) -> dict[str, Any]:
        """Keyword arguments for ``cassandra.cluster.Cluster``."""
        from cassandra import ConsistencyLevel
        from cassandra.auth import PlainTextAuthProvider
        from cassandra.cluster import EXEC_PROFILE_DEFAULT, ExecutionProfile

        from .policies import load_balancing_policy, reconnection_policy, speculative_policy

        options = self.options
        profile = ExecutionProfile(
            load_balancing_policy=load_balancing_policy(options),
            request_timeout=options.request_timeout or self.timeout,
            speculative_execution_policy=speculative_policy(options),
        )
        if options.consistency:
            profile.consistency_level = getattr(ConsistencyLevel, options.consistency)
        driver_timeout = _driver_budget(self.timeout)
        kwargs: dict[str, Any] = {
            "contact_points": options.contact_points,
            "port": options.port,
            "connect_timeout": driver_timeout,
            "control_connection_timeout": driver_timeout,
            "execution_profiles": {EXEC_PROFILE_DEFAULT: profile},
            "reconnection_policy": reconnection_policy(options),
            "compression": options.compression,
        }
        if options.protocol_version is not None:
            kwargs["protocol_version"] = options.protocol_version
        if options.username is not None and isinstance(options.password, RotatingSecret):
            kwargs["auth_provider"] = _rotating_auth_provider(options.username, options.password)
        elif options.username is not None:
            password = options.password.get_secret_value() if options.password else ""
            kwargs["auth_provider"] = PlainTextAuthProvider(
                username=options.username, password=password
            )
        if options.tls:
            kwargs["ssl_context"] = self._ssl_context()
        kwargs.update(options.cluster_options)
        return kwargs

    def _ssl_context(self) -> Any:
        import ssl

        options = self.options
        try:
            context = ssl.create_default_context(cafile=options.tls_ca_file)
            context.check_hostname = options.tls_verify_hostname
            if options.tls_cert_file:
                context.load_cert_chain(options.tls_cert_file, options.tls_key_file)
        except (OSError, ssl.SSLError) as error:
            raise ConfigurationError(
                f"cannot load the TLS files: {type(error).__name__}: {error}",
                datasource=self.name,
                key="tls_ca_file",
                fix="point tls_ca_file/tls_cert_file/tls_key_file at readable PEM files",
            ) from None
        return context

    def _connect(self) -> Any:
        from cassandra.cluster import Cluster

        from .requests import adopt

        cluster = Cluster(**self.cluster_arguments())
        try:
            session = cluster.connect(self.options.keyspace)
        except BaseException:
            cluster.shutdown()  # or its control-connection threads keep retrying
            raise
        return adopt(session, self.request_error)

    def request_error(self, error: BaseException) -> DatasourceConnectionError | None:
        """The unifydb error for a failed request of the session (None: not one)."""
        from .requests import request_error

        return request_error(error, datasource=self.name, redact=self.redact)

    def _close_client(self, client: Any) -> None:
        # Session.shutdown() alone leaves the Cluster's control connection,
        # scheduler and executor threads running
        client.cluster.shutdown()

    def connection_error(self, action: str, error: BaseException) -> DatasourceConnectionError:
        """The driver's timeouts become status "timeout"; per-host reasons are kept."""
        from cassandra import AuthenticationFailed, OperationTimedOut
        from cassandra.cluster import NoHostAvailable, UnresolvableContactPoints

        options = self.options
        if isinstance(error, UnresolvableContactPoints):
            # the driver's own message is an empty dict
            return DatasourceConnectionError(
                f"{action} failed: no contact point resolves to an address "
                f"({', '.join(options.contact_points)})",
                datasource=self.name,
                key="contact_points",
                fix="check the host names in contact_points and that DNS resolves them",
            )
        reasons = _host_errors(error)
        if reasons and all(
            isinstance(reason, (OperationTimedOut, TimeoutError)) for reason in reasons.values()
        ):
            return DatasourceTimeoutError(
                self.redact(f"{action}: no answer in time: {_reasons(error)}"),
                datasource=self.name,
                key="timeout",
                fix="check that Cassandra is running and reachable on that host and port, "
                "or raise this datasource's 'timeout' setting",
            )
        if any(isinstance(reason, AuthenticationFailed) for reason in reasons.values()):
            return DatasourceConnectionError(
                self.redact(f"{action} failed: {_reasons(error)}"),
                datasource=self.name,
                key="password" if options.username else "username",
                fix="check username and password"
                if options.username
                else "the cluster requires a login: set username and password",
            )
        if isinstance(error, NoHostAvailable):
            if options.local_dc and not reasons:
                # the driver found the nodes but none in that datacenter to use
                return DatasourceConnectionError(
                    self.redact(f"{action} failed: {_reasons(error)}"),
                    datasource=self.name,
                    key="local_dc",
                    fix=f"check local_dc {options.local_dc!r}: it must name a datacenter "
                    "of the cluster (see data_center in system.local and system.peers)",
                )
            return DatasourceConnectionError(
                self.redact(f"{action} failed: {_reasons(error)}"),
                datasource=self.name,
                fix="check contact_points, port and protocol_version (3 for Cassandra 2.1), "
                "and that the cluster is running",
            )
        return super().connection_error(action, error)

    @property
    def cluster(self) -> Any:
        """The driver's ``Cluster`` behind the session."""
        return self.get_client().cluster

    def _probe(self, timeout: float) -> str | None:
        row = (
            self.get_client()
            .execute(
                "SELECT release_version FROM system.local",
                timeout=_driver_budget(timeout),
            )
            .one()
        )
        return None if row is None else str(row.release_version)

    def health_check(self, timeout: float | None = None) -> HealthStatus:
        """The usual check (one request), plus every node the driver knows: a
        cluster that answered while some node is down is ``degraded``."""
        status = super().health_check(timeout)
        client = self._client
        if client is None:
            return status
        nodes = tuple(_node(host) for host in client.cluster.metadata.all_hosts())
        down = [node.address for node in nodes if node.state == "down"]
        if status.ok and down:
            return dataclasses.replace(
                status,
                status="degraded",
                detail=f"{self.target()}; nodes down: {', '.join(down)}",
                nodes=nodes,
            )
        return dataclasses.replace(status, nodes=nodes)

    def _target(self) -> str:
        options = self.options
        user = f"{options.username}@" if options.username else ""
        hosts = ",".join(options.contact_points)
        return f"cassandra://{user}{hosts}:{options.port}/{options.keyspace or ''}"


def _node(host: Any) -> NodeStatus:
    where = "/".join(part for part in (host.datacenter, host.rack) if part)
    state: Literal["up", "down", "unknown"]
    if host.is_up is None:
        state, detail = "unknown", "not connected (the load-balancing policy ignores it)"
    else:
        state, detail = ("up" if host.is_up else "down"), ""
    return NodeStatus(
        address=str(host.address),
        state=state,
        role=where,
        version=host.release_version,
        detail=detail,
    )


def _driver_budget(timeout: float) -> float:
    """The driver's own timeouts: under unifydb's deadline, leaving time to shut down."""
    return timeout - min(1.0, timeout / 4)


def _host_errors(error: BaseException) -> dict[str, BaseException]:
    """Host -> what went wrong there, as far as the driver said (NoHostAvailable
    carries a dict when connections failed, a bare list of hosts when none could
    be used at all)."""
    from cassandra.cluster import NoHostAvailable

    if isinstance(error, NoHostAvailable):
        errors = error.errors
        if isinstance(errors, dict):
            return {str(host): reason for host, reason in errors.items()}
        return {}
    return {"": error}


def _reasons(error: BaseException) -> str:
    from cassandra.cluster import NoHostAvailable

    if not isinstance(error, NoHostAvailable):
        return f"{type(error).__name__}: {error}"
    message = str(error.args[0]) if error.args else "no host available"
    reasons = _host_errors(error)
    if reasons:
        per_host = "; ".join(
            f"{host}: {type(reason).__name__}: {reason}" for host, reason in reasons.items()
        )
        return f"{message} ({per_host})"
    if isinstance(error.errors, (list, tuple)) and error.errors:
        return f"{message} (hosts: {', '.join(str(host) for host in error.errors)})"
    return message


def _rotating_auth_provider(username: str, password: RotatingSecret) -> Any:
    """The driver's own hook: each new connection asks for the current password
    (a changed password file, a command's fresh output, a new token)."""
    from cassandra.auth import PlainTextAuthenticator, PlainTextAuthProvider

    class RotatingAuthProvider(PlainTextAuthProvider):  # type: ignore[misc]
        def new_authenticator(self, host: Any) -> Any:
            return PlainTextAuthenticator(username, password.get_secret_value())

    return RotatingAuthProvider(username=username, password="")
