"""Templates: one datasource per tenant, created on first use, at most ``max_open`` at once.

A template is an entry with ``template = true``; every ``{tenant}`` in its
string values (at any depth) becomes the tenant's id::

    [datasources.tenant]
    type = "postgres"
    database = "tenant_{tenant}"
    template = true
    max_open = 50

``registry.tenant("tenant", "acme")`` returns the datasource named
``tenant/acme``. When a new tenant would make more than ``max_open`` open,
the least recently used one with nothing checked out is closed (retired: a
reference kept to it refuses new work, and the registry hands out a fresh one
on the next ``tenant()`` call); when every one is busy, the least recently
used drains and closes once its connections come back.
"""

from __future__ import annotations

import re
import threading
from collections import OrderedDict
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

from unifydb.errors import ConfigurationError, UnsupportedOperationError

from .entries import REGISTRY_KEYS

if TYPE_CHECKING:
    from unifydb.base import Datasource

    from .draining import Drainer

#: ids go into database names, file paths and URLs: nothing that could escape them
TENANT_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9_-]{0,62}\Z")
PLACEHOLDER = "{tenant}"
#: a template without ``max_open`` keeps this many tenants open at most
DEFAULT_MAX_OPEN = 100


def check_tenant_id(template: str, tenant: str) -> None:
    if not isinstance(tenant, str) or not TENANT_ID.match(tenant):
        raise ConfigurationError(
            f"tenant id {tenant!r} is not 1-63 letters, digits, '_' or '-' (starting "
            "with a letter or digit)",
            datasource=template,
            key="tenant",
            fix="map your tenant to such an id (e.g. its numeric id or a slug)",
        )


def tenant_settings(template: str, entry: Mapping[str, Any], tenant: str) -> dict[str, Any]:
    """The template's settings for one tenant, without the registry's own keys."""
    check_tenant_id(template, tenant)
    if not any(PLACEHOLDER in text for text in _strings(entry)):
        raise ConfigurationError(
            'a template must use {tenant} somewhere (e.g. database = "tenant_{tenant}"), '
            "or every tenant would share one database",
            datasource=template,
            key="template",
            fix="put {tenant} in the database, path, url or another key",
        )
    settings = {key: value for key, value in entry.items() if key not in REGISTRY_KEYS}
    return _substituted(settings, tenant)  # type: ignore[no-any-return]


def max_open(template: str, entry: Mapping[str, Any]) -> int:
    value = entry.get("max_open", DEFAULT_MAX_OPEN)
    if isinstance(value, str) and value.strip().isdigit():
        value = int(value)
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ConfigurationError(
            f"'max_open' must be a whole number of at least 1, not {value!r}",
            datasource=template,
            key="max_open",
            fix="e.g. max_open = 50",
        )
    return value


def _substituted(value: Any, tenant: str) -> Any:
    if isinstance(value, str):
        return value.replace(PLACEHOLDER, tenant)
    if isinstance(value, Mapping):
        return {key: _substituted(item, tenant) for key, item in value.items()}
    if isinstance(value, list):
        return [_substituted(item, tenant) for item in value]
    return value


def _strings(value: Any) -> list[str]:
    if isinstance(value, str):
        return [value]
    if isinstance(value, Mapping):
        return [text for item in value.values() for text in _strings(item)]
    if isinstance(value, list):
        return [text for item in value for text in _strings(item)]
    return []


class TenantSet:
    """The open datasources of one template, least recently used first."""

    def __init__(self, template: str, limit: int, drainer: Drainer) -> None:
        self.template = template
        self.limit = limit
        self._drainer = drainer
        self._open: OrderedDict[str, Datasource[Any]] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, tenant: str, build: Callable[[], Datasource[Any]]) -> Datasource[Any]:
        datasource = self._open.get(tenant)
        if datasource is not None and not datasource.retired:
            with self._lock:
                if tenant in self._open:
                    self._open.move_to_end(tenant)
            return datasource
        with self._lock:
            datasource = self._open.get(tenant)
            if datasource is None or datasource.retired:
                datasource = build()
                datasource.initialize()
                self._open[tenant] = datasource
                self._evict()
            return datasource

    def _evict(self) -> None:
        while len(self._open) > self.limit:
            candidates = list(self._open.items())[:-1]  # never the one just opened
            idle = next((item for item in candidates if item[1].in_use() is False), None)
            tenant, datasource = idle or candidates[0]
            del self._open[tenant]
            self._drainer.retire(datasource, datasource.timeout)

    def open(self) -> list[Datasource[Any]]:
        return list(self._open.values())

    def drain(self) -> None:
        """Retire every tenant (the template was removed or changed)."""
        with self._lock:
            open_, self._open = list(self._open.values()), OrderedDict()
        for datasource in open_:
            self._drainer.retire(datasource, datasource.timeout)


def not_a_template(name: str) -> UnsupportedOperationError:
    return UnsupportedOperationError(
        "is not a template, so it has no tenants",
        datasource=name,
        fix="add template = true and a {tenant} placeholder to its settings, or use "
        "get_datasource(name)",
    )


def is_a_template(name: str) -> UnsupportedOperationError:
    return UnsupportedOperationError(
        "is a template: it has one datasource per tenant",
        datasource=name,
        fix=f"use registry.tenant({name!r}, tenant_id)",
    )
