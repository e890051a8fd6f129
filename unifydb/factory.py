"""The seed's ``DatasourceFactory``, kept as a thin wrapper over the registry.

Existing code that called ``DatasourceFactory().initialize_datasource_client(
"postgres")`` keeps working. Unlike the original, a failure raises a unifydb
error: a silent ``None`` would hide a typo such as "postgress".
"""

from __future__ import annotations

from typing import Any

from .registry import Registry


class DatasourceFactory:
    """Compatibility wrapper: ``initialize_datasource_client(provider)`` -> native client."""

    def __init__(self, settings: Any = None, *, registry: Registry | None = None) -> None:
        if registry is None:
            if settings is None:
                from .registry import default_registry

                registry = default_registry()
            else:
                registry = Registry(settings)
        self.registry = registry

    def initialize_datasource_client(self, provider: str) -> Any:
        """Initialize the datasource named ``provider`` and return its client."""
        return self.registry.get_client(provider)

    def get_datasource(self, provider: str) -> Any:
        return self.registry.get_datasource(provider)

    def health_check(self, provider: str) -> Any:
        return self.registry.get_datasource(provider).health_check()

    def close(self, provider: str | None = None) -> None:
        if provider is None:
            self.registry.close_all()
        else:
            self.registry.close(provider)

    def available_providers(self) -> list[str]:
        return self.registry.names()
