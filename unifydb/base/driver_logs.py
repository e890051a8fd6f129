"""Keeping secrets out of what drivers log about themselves.

Some drivers log request headers at DEBUG (botocore logs the canonical request
and every header, the AWS session token among them). A datasource using such
a driver registers itself here with the driver's logger names: a filter on
each of those loggers masks the secrets of every registered datasource still
alive in the records they emit, whatever handler receives them.
"""

from __future__ import annotations

import logging
import threading
import weakref
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

from unifydb.redaction import redact

if TYPE_CHECKING:
    from .datasource import Datasource

_registered: weakref.WeakSet[Datasource[Any]] = weakref.WeakSet()
_filtered: set[str] = set()
_lock = threading.Lock()


class _SecretsFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        secrets = [secret for datasource in list(_registered) for secret in datasource.secrets()]
        if secrets:
            text = record.getMessage()
            scrubbed = redact(text, secrets)
            if scrubbed != text:
                record.msg, record.args = scrubbed, None
        return True


_FILTER = _SecretsFilter()


def scrub_driver_logs(datasource: Datasource[Any], logger_names: Iterable[str]) -> None:
    """Mask ``datasource``'s secrets in what the named loggers emit while it lives."""
    with _lock:
        _registered.add(datasource)
        for name in logger_names:
            if name not in _filtered:
                logging.getLogger(name).addFilter(_FILTER)
                _filtered.add(name)
