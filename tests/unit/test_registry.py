"""Registry: type resolution, plugins, name vs type, one instance per datasource."""

from __future__ import annotations

import subprocess
import sys
import threading
from importlib.metadata import entry_points
from pathlib import Path
from typing import Any

import pytest

import unifydb
from tests.helpers import REPO, registry_for
from unifydb.base import SQLDatasource
from unifydb.catalog import BUILTIN as BUILTIN_TYPES
from unifydb.errors import (
    ConfigurationError,
    UnknownDatasourceError,
    UnknownTypeError,
    UnsupportedOperationError,
)
from unifydb.factory import DatasourceFactory
from unifydb.registry import ENTRY_POINT_GROUP, available_types, load_type


def run_python(code: str, cwd: Path | None = None) -> str:
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, cwd=cwd or REPO, check=True
    )
    return result.stdout.strip()


def test_builtin_types_are_described_once_in_the_catalog() -> None:
    """No entry point repeats a built-in type: the catalog is its one description."""
    points = {point.name for point in entry_points(group=ENTRY_POINT_GROUP)}
    assert not points & set(BUILTIN_TYPES)


@pytest.mark.parametrize("type_name", sorted(BUILTIN_TYPES))
def test_the_classes_take_their_description_from_the_catalog(type_name: str) -> None:
    cls = load_type(type_name)
    info = BUILTIN_TYPES[type_name]
    assert cls.type_info is info
    assert (cls.type_name, cls.category, cls.extra, cls.driver_modules) == (
        type_name,
        info.category,
        info.extra,
        info.drivers,
    )


def test_listing_imports_no_implementation_or_driver() -> None:
    output = run_python(
        "import sys, unifydb\n"
        "r = unifydb.Registry('settings.toml')\n"
        "names = r.names(); types = unifydb.registry.available_types()\n"
        "infos = [r.inspect(n, validate=False) for n in names]\n"
        "loaded = sorted(m for m in sys.modules if m.startswith('unifydb.datasources.')"
        " or m.split('.')[0] in ('sqlalchemy', 'msgspec', 'psycopg', 'pymongo', 'chromadb',"
        " 'pymilvus', 'cassandra', 'MySQLdb', 'mariadb', 'oracledb', 'pyodbc',"
        " 'qdrant_client', 'pinecone'))\n"
        "print(len(names), len(types), loaded)"
    )
    assert output == "18 18 []"


def test_validating_a_listing_imports_option_models_but_no_driver() -> None:
    output = run_python(
        "import sys, unifydb\n"
        "r = unifydb.Registry('settings.toml')\n"
        "infos = [r.inspect(n) for n in r.names()]\n"
        "print([i.name for i in infos if i.status == 'ok'],"
        " sorted({m.split('.')[0] for m in sys.modules} & {'sqlalchemy', 'psycopg', 'pymongo',"
        " 'chromadb', 'pymilvus', 'cassandra', 'MySQLdb', 'mariadb', 'oracledb', 'pyodbc',"
        " 'qdrant_client', 'pinecone'}))"
    )
    assert output == "['sqlite', 'chroma', 'milvus', 'qdrant', 'duckdb'] []"


def test_import_unifydb_loads_nothing_heavy() -> None:
    output = run_python(
        "import sys, unifydb\n"
        "heavy = ('sqlalchemy', 'dynaconf', 'msgspec', 'psycopg', 'pymongo', 'chromadb',"
        " 'pymilvus', 'cassandra', 'MySQLdb', 'mariadb', 'oracledb', 'pyodbc', 'pymssql',"
        " 'qdrant_client', 'pinecone', 'numpy',"
        " 'click', 'rich', 'alembic', 'boto3', 'botocore', 'hvac', 'azure', 'requests')\n"
        "print(sorted(m for m in sys.modules if m.split('.')[0] in heavy))"
    )
    assert output == "[]"


def test_building_a_datasource_loads_no_secret_provider() -> None:
    """boto3, hvac and azure-identity load only when a datasource uses them."""
    output = run_python(
        "import sys, unifydb\n"
        "r = unifydb.Registry({'datasources': {'p': {'type': 'postgres', 'host': 'h',"
        " 'password': '${secret:env:HOME}', 'password_command': None}}})\n"
        "r.get_datasource('p')\n"
        "heavy = ('boto3', 'botocore', 'hvac', 'azure')\n"
        "print(sorted({m.split('.')[0] for m in sys.modules} & set(heavy)))"
    )
    assert output == "[]"


def test_name_versus_type() -> None:
    registry = registry_for(
        sqlite={"database": ":memory:"},
        analytics={"type": "sqlite"},
        orders={"type": "postgresql", "host": "h"},
    )
    assert registry.type_of("sqlite") == "sqlite"
    assert registry.type_of("analytics") == "sqlite"
    assert registry.type_of("orders") == "postgres"  # aliases resolve
    assert registry.get_datasource("analytics").name == "analytics"
    assert registry.get_datasource("analytics").type == "sqlite"


def test_unknown_names_and_types_are_clear() -> None:
    registry = registry_for(postgres={"host": "h"}, weird={"type": "postgress"})
    with pytest.raises(UnknownDatasourceError) as unknown_name:
        registry.get_engine("postgress")
    assert "did you mean 'postgres'" in str(unknown_name.value)
    with pytest.raises(UnknownTypeError) as unknown_type:
        registry.get_datasource("weird")
    assert unknown_type.value.datasource == "weird"
    assert unknown_type.value.key == "type"
    assert "did you mean 'postgres'" in str(unknown_type.value)


def test_non_table_entry_is_reported_without_hiding_others() -> None:
    registry = registry_for(broken="just a string", fine={"type": "sqlite"})  # type: ignore[arg-type]
    assert registry.get_engine("fine").dialect.name == "sqlite"
    with pytest.raises(ConfigurationError) as caught:
        registry.get_datasource("broken")
    assert caught.value.datasource == "broken"


def test_one_instance_under_32_threads() -> None:
    registry = registry_for(db={"type": "sqlite"})
    barrier = threading.Barrier(32)
    seen: list[Any] = []

    def worker() -> None:
        barrier.wait()
        seen.append(registry.get_engine("db"))

    threads = [threading.Thread(target=worker) for _ in range(32)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(seen) == 32
    assert len({id(engine) for engine in seen}) == 1
    assert len(registry.datasources()) == 1


def test_in_process_plugin_registration() -> None:
    @unifydb.register("memdb")
    class MemoryDatasource(SQLDatasource):
        drivername = "sqlite"
        driver_modules = ("sqlite3",)

        def _build_url(self, drivername: str) -> Any:
            from sqlalchemy.engine import URL

            return URL.create("sqlite")

        def bound_connects(self) -> bool:
            return False

    try:
        assert "memdb" in available_types()
        registry = registry_for(scratch={"type": "memdb"})
        from sqlalchemy import text

        with registry.get_engine("scratch").connect() as connection:
            assert connection.execute(text("select 41 + 1")).scalar() == 42
        assert registry.get_datasource("scratch").type == "memdb"
    finally:
        unifydb.registry.unregister("memdb")


def test_entry_point_plugin_package(tmp_path: Path) -> None:
    """A package that declares the entry point is found without being imported first."""
    package = tmp_path / "plugin_pkg"
    package.mkdir()
    (package / "__init__.py").write_text(
        "from unifydb.datasources.relational.sqlite import SQLiteDatasource\n"
        "class Echo(SQLiteDatasource):\n    type_name = 'echo'\n"
    )
    dist = tmp_path / "plugin_pkg-1.0.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: plugin-pkg\nVersion: 1.0\n")
    (dist / "entry_points.txt").write_text("[unifydb.datasources]\necho = plugin_pkg:Echo\n")
    output = run_python(
        "import sys, unifydb\n"
        "r = unifydb.Registry({'datasources': {'e': {'type': 'echo'}}})\n"
        "before = 'plugin_pkg' in sys.modules\n"
        "types = unifydb.registry.available_types()\n"
        "still_not = 'plugin_pkg' not in sys.modules\n"
        "print(before, 'echo' in types, still_not, r.get_engine('e').dialect.name)",
        cwd=tmp_path,
    )
    assert output == "False True True sqlite"


def test_sql_only_calls_on_other_types_are_clear() -> None:
    registry = registry_for(docs={"type": "mongodb", "url": "mongodb://127.0.0.1:1"})
    with pytest.raises(UnsupportedOperationError) as caught:
        registry.get_engine("docs")
    assert caught.value.datasource == "docs"


def test_close_and_reinitialize_are_harmless() -> None:
    registry = registry_for(db={"type": "sqlite"})
    first = registry.get_engine("db")
    datasource = registry.get_datasource("db")
    datasource.close()
    datasource.close()
    datasource.initialize()
    datasource.initialize()
    registry.close_all()
    registry.close_all()
    second = registry.get_engine("db")
    assert second is not first
    from sqlalchemy import text

    with second.connect() as connection:
        assert connection.execute(text("select 1")).scalar() == 1


def test_factory_compatibility() -> None:
    factory = DatasourceFactory({"datasources": {"sqlite": {"database": ":memory:"}}})
    engine = factory.initialize_datasource_client("sqlite")
    assert engine is factory.initialize_datasource_client("sqlite")
    assert factory.available_providers() == ["sqlite"]
    with pytest.raises(UnknownDatasourceError) as caught:
        factory.initialize_datasource_client("sqlitee")
    assert "did you mean 'sqlite'" in str(caught.value)


def test_module_functions_use_the_default_registry(tmp_path: Path) -> None:
    (tmp_path / "settings.toml").write_text('[datasources.sqlite]\ndatabase = "app.db"\n')
    engine = unifydb.get_engine("sqlite")
    assert unifydb.get_engine("sqlite") is engine
    assert not unifydb.health_check()["sqlite"].ok  # a check creates nothing...
    assert not (tmp_path / "app.db").exists()
    engine.connect().close()  # ...an application's first connect does
    assert unifydb.get_client("sqlite") is engine
    assert unifydb.get_datasource("sqlite").config.database == "app.db"  # type: ignore[attr-defined]
    statuses = unifydb.health_check()
    assert statuses["sqlite"].ok
    unifydb.close_all()
    assert (tmp_path / "app.db").exists()


def test_module_functions_survive_importing_the_submodules() -> None:
    """A submodule named like a function (e.g. unifydb.vectors) would replace it on import."""
    output = run_python(
        "import importlib, pkgutil, unifydb\n"
        "for module in pkgutil.walk_packages(unifydb.__path__, 'unifydb.'):\n"
        "    if not module.name.endswith('__main__'):\n"
        "        importlib.import_module(module.name)\n"
        "names = [n for n in unifydb.__all__ if type(getattr(unifydb, n)).__name__ == 'module']\n"
        "print(sorted(names))"
    )
    assert output == "[]"
