"""The driver's cluster policies, built from the settings."""

from __future__ import annotations

from typing import Any

from .options import CassandraOptions


def load_balancing_policy(options: CassandraOptions) -> Any:
    """Which node coordinates a request: ``dc_aware`` (``local_dc``'s nodes first)
    or ``round_robin``, wrapped in token awareness unless ``token_aware = false``."""
    from cassandra.policies import DCAwareRoundRobinPolicy, RoundRobinPolicy, TokenAwarePolicy

    kind = options.load_balancing or ("dc_aware" if options.local_dc else "round_robin")
    child: Any = (
        DCAwareRoundRobinPolicy(local_dc=options.local_dc)
        if kind == "dc_aware"
        else RoundRobinPolicy()
    )
    return TokenAwarePolicy(child) if options.token_aware else child


def speculative_policy(options: CassandraOptions) -> Any:
    """Idempotent requests also sent to the next node after a delay (None: never)."""
    if options.speculative_execution_delay is None:
        return None
    from cassandra.policies import ConstantSpeculativeExecutionPolicy

    return ConstantSpeculativeExecutionPolicy(
        options.speculative_execution_delay, options.speculative_executions
    )


def reconnection_policy(options: CassandraOptions) -> Any:
    """How often a node that went down is tried again (for as long as it takes)."""
    from cassandra.policies import ConstantReconnectionPolicy, ExponentialReconnectionPolicy

    if options.reconnection == "constant":
        return ConstantReconnectionPolicy(options.reconnection_delay, max_attempts=None)
    return ExponentialReconnectionPolicy(
        options.reconnection_delay, options.reconnection_max_delay, max_attempts=None
    )
