"""Fixtures of the pytest plugin's tests."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from unifydb.testing.workspace import RunOptions, TwinRegistry


@pytest.fixture
def twins(tmp_path: Path) -> Iterator[Callable[..., TwinRegistry]]:
    """``twins(datasources, **run_options)``: a TwinRegistry, finished after the test."""
    made: list[TwinRegistry] = []

    def make(datasources: dict[str, Any], **options: Any) -> TwinRegistry:
        options.setdefault("worker", "gw7")
        options.setdefault("folder", tmp_path / "twins")
        registry = TwinRegistry(RunOptions(settings={"datasources": datasources}, **options))
        made.append(registry)
        return registry

    yield make
    for registry in made:
        registry.finish(lambda message: None)
