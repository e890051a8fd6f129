"""The keys of the cassandra type, cluster policies included."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Annotated, Any, ClassVar, Literal

from msgspec import Meta

from unifydb.options import (
    OptionError,
    Options,
    Port,
    PositiveFloat,
    Secret,
    doc,
    number_as_text,
    split_list,
)

CONSISTENCY_LEVELS = (
    "ANY", "ONE", "TWO", "THREE", "QUORUM", "ALL", "LOCAL_QUORUM",
    "EACH_QUORUM", "SERIAL", "LOCAL_SERIAL", "LOCAL_ONE",
)  # fmt: skip


def _consistency(value: Any) -> Any:
    value = number_as_text(value)  # the driver's numbers (ONE == 1) are no level names
    if not isinstance(value, str):
        return value
    level = value.upper()
    if level not in CONSISTENCY_LEVELS:
        raise ValueError(
            f"unknown consistency level; use one of {', '.join(sorted(CONSISTENCY_LEVELS))}"
        )
    return level


def _lower(value: Any) -> Any:
    return value.lower().replace("-", "_") if isinstance(value, str) else value


class CassandraOptions(Options, kw_only=True, frozen=True):
    contact_points: Annotated[
        Annotated[list[str], Meta(min_length=1)],
        doc("Host names or IPs, a list or comma-separated."),
    ]
    port: Port = 9042
    keyspace: Annotated[str | None, doc("Keyspace the session is bound to.")] = None
    username: str | None = None
    password: Secret | None = None
    local_dc: Annotated[
        str | None, doc("Datacenter to route requests to (its nodes are tried first).")
    ] = None
    protocol_version: Annotated[
        Annotated[int, Meta(ge=1, le=66)] | None,
        doc("CQL native protocol version (driver negotiates when unset; Cassandra 2.1 needs 3)."),
    ] = None
    request_timeout: Annotated[
        PositiveFloat | None, doc("Seconds per request (default: timeout).")
    ] = None
    consistency: Annotated[
        str | None, doc("Default consistency level, e.g. LOCAL_QUORUM, QUORUM, ONE.")
    ] = None
    load_balancing: Annotated[
        Literal["round_robin", "dc_aware"] | None,
        doc(
            "Which nodes coordinate requests: dc_aware (DCAwareRoundRobinPolicy, local_dc "
            "first) or round_robin over all nodes (default: dc_aware with local_dc, else "
            "round_robin)."
        ),
    ] = None
    token_aware: Annotated[
        bool, doc("Send each request to a replica of its partition first (TokenAwarePolicy).")
    ] = True
    speculative_execution_delay: Annotated[
        PositiveFloat | None,
        doc(
            "Seconds after which an idempotent request is also sent to the next node "
            "(unset: no speculative execution)."
        ),
    ] = None
    speculative_executions: Annotated[
        Annotated[int, Meta(ge=1, le=16)],
        doc("Extra nodes an idempotent request may be sent to speculatively."),
    ] = 2
    reconnection: Annotated[
        Literal["exponential", "constant"],
        doc("How often the driver tries a node that went down again."),
    ] = "exponential"
    reconnection_delay: Annotated[
        PositiveFloat,
        doc("Seconds before the first retry of a down node (constant: between all retries)."),
    ] = 1.0
    reconnection_max_delay: Annotated[
        PositiveFloat, doc("Seconds between retries at most (exponential).")
    ] = 60.0
    tls: Annotated[bool, doc("Use TLS for the native protocol.")] = False
    tls_ca_file: str | None = None
    tls_cert_file: str | None = None
    tls_key_file: str | None = None
    tls_verify_hostname: bool = True
    compression: bool = True
    cluster_options: Annotated[
        dict[str, Any], doc("Any other cassandra.cluster.Cluster keyword.")
    ] = {}

    secret_fields: ClassVar[tuple[str, ...]] = ("password",)
    preparers: ClassVar[Mapping[str, Callable[[Any], Any]]] = {
        "contact_points": split_list,
        "consistency": _consistency,
        "load_balancing": _lower,
        "reconnection": _lower,
    }

    def __post_init__(self) -> None:
        if self.load_balancing == "dc_aware" and not self.local_dc:
            raise OptionError(
                "dc_aware needs local_dc: the datacenter whose nodes are tried first",
                "load_balancing",
            )
        if self.reconnection_max_delay < self.reconnection_delay:
            raise OptionError("must be at least reconnection_delay", "reconnection_max_delay")
