"""Cluster settings of the cassandra type, offline: the driver policies they build
and how failed requests are worded. Node loss itself is proven on a real
two-node ring in tests/clusters/test_cassandra_ring.py; the driver errors
below are constructed here because a coordinator-side read or write timeout
cannot be produced on demand by the ring."""

from __future__ import annotations

import functools
import pickle

import pytest

from tests import helpers
from unifydb.datasources.nosql.cassandra import CassandraDatasource
from unifydb.errors import ConfigurationError, DatasourceConnectionError, DatasourceTimeoutError

build = functools.partial(
    helpers.build, "cassandra", name="c", expect=CassandraDatasource, contact_points="h1,h2"
)


def test_default_policies_are_token_aware_round_robin_and_exponential_reconnection() -> None:
    from cassandra.policies import ExponentialReconnectionPolicy, RoundRobinPolicy, TokenAwarePolicy

    arguments = build().cluster_arguments()
    profile = arguments["execution_profiles"][next(iter(arguments["execution_profiles"]))]
    assert isinstance(profile.load_balancing_policy, TokenAwarePolicy)
    assert isinstance(profile.load_balancing_policy._child_policy, RoundRobinPolicy)
    assert profile.speculative_execution_policy is None or not hasattr(
        profile.speculative_execution_policy, "delay"
    )
    reconnection = arguments["reconnection_policy"]
    assert isinstance(reconnection, ExponentialReconnectionPolicy)
    assert reconnection.base_delay == 1.0 and reconnection.max_delay == 60.0
    assert reconnection.max_attempts is None  # a node is retried for as long as it is down


def test_cluster_policies_from_settings() -> None:
    from cassandra import ConsistencyLevel
    from cassandra.policies import (
        ConstantReconnectionPolicy,
        ConstantSpeculativeExecutionPolicy,
        DCAwareRoundRobinPolicy,
    )

    datasource = build(
        local_dc="eu-west",
        load_balancing="DC-aware",
        token_aware=False,
        consistency="local_quorum",
        request_timeout=3,
        speculative_execution_delay=0.05,
        speculative_executions=3,
        reconnection="constant",
        reconnection_delay=0.5,
    )
    arguments = datasource.cluster_arguments()
    profile = next(iter(arguments["execution_profiles"].values()))
    assert isinstance(profile.load_balancing_policy, DCAwareRoundRobinPolicy)
    assert profile.load_balancing_policy.local_dc == "eu-west"
    assert profile.consistency_level == ConsistencyLevel.LOCAL_QUORUM
    assert profile.request_timeout == 3
    speculative = profile.speculative_execution_policy
    assert isinstance(speculative, ConstantSpeculativeExecutionPolicy)
    assert (speculative.delay, speculative.max_attempts) == (0.05, 3)
    assert isinstance(arguments["reconnection_policy"], ConstantReconnectionPolicy)
    assert arguments["reconnection_policy"].delay == 0.5


@pytest.mark.parametrize(
    ("options", "key"),
    [
        ({"load_balancing": "dc_aware"}, "load_balancing"),
        ({"load_balancing": "nearest"}, "load_balancing"),
        ({"reconnection": "never"}, "reconnection"),
        ({"reconnection_delay": 5, "reconnection_max_delay": 1}, "reconnection_max_delay"),
        ({"speculative_executions": 0}, "speculative_executions"),
        ({"consistency": "MOST"}, "consistency"),
        ({"consistency": 0}, "consistency"),
        ({"consistency": 4}, "consistency"),
    ],
)
def test_bad_cluster_settings_name_the_key(options: dict[str, object], key: str) -> None:
    with pytest.raises(ConfigurationError) as caught:
        build(**options)
    assert caught.value.key == key
    assert caught.value.datasource == "c"


def test_failed_requests_become_unifydb_errors_that_are_the_drivers_too() -> None:
    from cassandra import (
        ConsistencyLevel,
        OperationTimedOut,
        ReadTimeout,
        Unavailable,
        WriteTimeout,
    )
    from cassandra.cluster import NoHostAvailable

    datasource = build(password="s3cret-pw")
    cases = [
        (
            Unavailable(
                "x", consistency=ConsistencyLevel.QUORUM, required_replicas=2, alive_replicas=1
            ),
            Unavailable,
            "consistency QUORUM: 1 of 2 required",
        ),
        (
            ReadTimeout(
                "x",
                consistency=ConsistencyLevel.LOCAL_QUORUM,
                required_responses=2,
                received_responses=1,
            ),
            ReadTimeout,
            "at consistency LOCAL_QUORUM (1 of 2 responses)",
        ),
        (
            WriteTimeout(
                "x", 0, consistency=ConsistencyLevel.ALL, required_responses=3, received_responses=2
            ),
            WriteTimeout,
            "at consistency ALL (2 of 3 responses)",
        ),
        (OperationTimedOut("no answer"), OperationTimedOut, "no answer from the coordinator"),
        (NoHostAvailable("all down s3cret-pw", {}), NoHostAvailable, "no node could take"),
    ]
    for driver_error, driver_class, wording in cases:
        failure = datasource.request_error(driver_error)
        assert isinstance(failure, DatasourceConnectionError)
        assert isinstance(failure, driver_class)
        assert wording in str(failure)
        assert failure.datasource == "c" and failure.key == "consistency"
        assert "s3cret-pw" not in str(failure)
        copy = pickle.loads(pickle.dumps(failure))
        assert str(copy) == str(failure)
        assert datasource.request_error(failure) is None  # never wrapped twice
    timeout = datasource.request_error(ReadTimeout("x", consistency=1))
    assert isinstance(timeout, DatasourceTimeoutError)
    assert datasource.request_error(ValueError("not a request failure")) is None
