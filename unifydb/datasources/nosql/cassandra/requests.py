"""Failed requests of a Cassandra session as unifydb errors that are also the driver's.

``get_client()`` returns the driver's ``Session``, of a subclass whose
``execute``/``execute_async`` futures raise these instead of the driver's
own request errors: each is a :class:`~unifydb.errors.DatasourceConnectionError`
(or its timeout subclass) that names the datasource and the consistency
level, and an instance of the driver's class too, so ``except
cassandra.Unavailable`` keeps working. Imported only once a client exists
(it imports the driver).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from cassandra import ConsistencyLevel, OperationTimedOut, ReadTimeout, Unavailable, WriteTimeout
from cassandra.cluster import NoHostAvailable, ResponseFuture, Session

from unifydb.errors import DatasourceConnectionError, DatasourceTimeoutError


class CassandraUnavailableError(DatasourceConnectionError, Unavailable):  # type: ignore[misc]
    """Fewer replicas alive than the consistency level needs: failed at once."""


class CassandraReadTimeoutError(DatasourceTimeoutError, ReadTimeout):  # type: ignore[misc]
    """The coordinator's replicas did not answer a read in time."""


class CassandraWriteTimeoutError(DatasourceTimeoutError, WriteTimeout):  # type: ignore[misc]
    """The coordinator's replicas did not acknowledge a write in time."""


class CassandraRequestTimeoutError(DatasourceTimeoutError, OperationTimedOut):  # type: ignore[misc]
    """No answer from the coordinator within ``request_timeout``."""


class CassandraNoHostError(DatasourceConnectionError, NoHostAvailable):  # type: ignore[misc]
    """No node could take the request."""


_TRANSLATED: tuple[tuple[type[BaseException], type[DatasourceConnectionError]], ...] = (
    (Unavailable, CassandraUnavailableError),
    (ReadTimeout, CassandraReadTimeoutError),
    (WriteTimeout, CassandraWriteTimeoutError),
    (OperationTimedOut, CassandraRequestTimeoutError),
    (NoHostAvailable, CassandraNoHostError),
)
_OWN = tuple(kind for _, kind in _TRANSLATED)
_UNIFYDB_KEYS = frozenset({"message", "datasource", "key", "fix"})

#: (driver error) -> the unifydb error for it, or None when it is not a request failure
Translate = Callable[[BaseException], DatasourceConnectionError | None]


def level_name(level: Any) -> str:
    if level is None:
        return "the default consistency"
    return str(ConsistencyLevel.value_to_name.get(level, level))


def request_error(
    error: BaseException, *, datasource: str, redact: Callable[[str], str]
) -> DatasourceConnectionError | None:
    """The unifydb error for a failed request (None: not one of the request failures)."""
    if isinstance(error, _OWN):
        return None
    kind = next((own for driver, own in _TRANSLATED if isinstance(error, driver)), None)
    if kind is None:
        return None
    level = getattr(error, "consistency", None)
    if isinstance(error, Unavailable):
        message = (
            f"not enough replicas alive for consistency {level_name(level)}: "
            f"{error.alive_replicas} of {error.required_replicas} required"
        )
        fix = "bring the down nodes back, or use a lower consistency level (e.g. ONE)"
    elif isinstance(error, (ReadTimeout, WriteTimeout)):
        received = getattr(error, "received_responses", None)
        required = getattr(error, "required_responses", None)
        message = (
            f"replicas did not answer in time at consistency {level_name(level)} "
            f"({received} of {required} responses)"
        )
        fix = "check the nodes' health, or use a lower consistency level (e.g. ONE)"
    elif isinstance(error, OperationTimedOut):
        message = f"no answer from the coordinator in time: {error}"
        fix = "check the nodes' health, or raise request_timeout"
    else:
        message = f"no node could take the request: {error}"
        fix = "check that the cluster's nodes are running and reachable"
    # built as unpickling builds it: the driver's constructors take other arguments
    failure = kind.__new__(kind)
    # the driver's attributes (consistency, required_replicas, errors, ...) stay
    failure.__dict__.update(
        {name: value for name, value in vars(error).items() if name not in _UNIFYDB_KEYS}
    )
    failure.message = redact(message)
    failure.datasource = datasource
    failure.key = "consistency"
    failure.fix = fix
    Exception.__init__(failure, failure._render())
    return failure


class UnifyResponseFuture(ResponseFuture):  # type: ignore[misc]
    """``result()`` raises unifydb errors for failed requests."""

    unifydb_translate: Translate

    def result(self) -> Any:
        try:
            return super().result()
        except Exception as error:
            failure = self.unifydb_translate(error)
            if failure is None:
                raise
        raise failure


class UnifySession(Session):  # type: ignore[misc]
    """The driver's ``Session``; its requests fail with unifydb errors (see the module)."""

    unifydb_translate: Translate

    def execute_async(self, *args: Any, **kwargs: Any) -> Any:
        future = super().execute_async(*args, **kwargs)
        future.__class__ = UnifyResponseFuture
        future.unifydb_translate = self.unifydb_translate
        return future


def adopt(session: Session, translate: Translate) -> Session:
    """Make a driver session one whose requests fail with unifydb errors."""
    session.__class__ = UnifySession
    session.unifydb_translate = translate  # type: ignore[attr-defined]
    return session
