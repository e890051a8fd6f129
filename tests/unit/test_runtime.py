"""Datasources that change while the application runs: add, replace, remove,
reload, and tenants of templates (SQLite files and the machine's PostgreSQL)."""

from __future__ import annotations

import json
import os
import threading
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import text

import unifydb
from tests.helpers import pg_admin, registry_for, run_cli, unique, wait_until
from unifydb.errors import (
    ConfigurationError,
    DatasourceRemovedError,
    UnknownDatasourceError,
    UnsupportedOperationError,
)


def lite(path: Path) -> dict[str, Any]:
    return {"type": "sqlite", "database": str(path)}


def select_one(engine: Any) -> int:
    with engine.connect() as connection:
        return int(connection.execute(text("SELECT 1")).scalar_one())


# ----------------------------------------------------------------------------- add


def test_add_builds_now_and_connects_on_use(tmp_path: Path) -> None:
    registry = registry_for()
    added = registry.add("Orders", lite(tmp_path / "o.db"))
    assert added is registry.get_datasource("orders")
    assert not (tmp_path / "o.db").exists()  # built, not connected
    assert select_one(registry.get_engine("orders")) == 1
    assert "orders" in registry.names()
    registry.close_all()


def test_add_refuses_a_name_in_use_and_bad_settings_change_nothing(tmp_path: Path) -> None:
    registry = registry_for(orders=lite(tmp_path / "o.db"))
    with pytest.raises(ConfigurationError, match=r"already configured.*replace"):
        registry.add("ORDERS", lite(tmp_path / "x.db"))
    with pytest.raises(ConfigurationError) as caught:
        registry.add("billing", {"type": "sqlite", "databse": "b.db"})
    assert caught.value.datasource == "billing" and caught.value.key == "databse"
    assert "did you mean 'database'" in str(caught.value)
    assert registry.names() == ["orders"]
    with pytest.raises(ConfigurationError, match="mapping"):
        registry.add("billing", "sqlite:///b.db")  # type: ignore[arg-type]


# ----------------------------------------------------------------------------- remove


def test_remove_refuses_new_checkouts_at_once_and_closes_when_work_returns(
    tmp_path: Path,
) -> None:
    registry = registry_for(orders=lite(tmp_path / "o.db"))
    engine = registry.get_engine("orders")
    datasource = registry.get_datasource("orders")
    held = engine.connect()
    held.execute(text("CREATE TABLE t (x int)"))

    registry.remove("orders", drain_timeout=30)
    with pytest.raises(UnknownDatasourceError):
        registry.get_engine("orders")
    with pytest.raises(DatasourceRemovedError, match=r"orders.*removed or replaced"):
        engine.connect()  # a reference kept by the application
    held.execute(text("INSERT INTO t VALUES (1)"))  # in flight: keeps working
    assert datasource.initialized
    held.close()
    assert wait_until(lambda: not datasource.initialized, timeout=10)
    with pytest.raises(DatasourceRemovedError):
        datasource.get_engine()  # never built again


def test_remove_closes_after_the_drain_timeout_whatever_is_checked_out(tmp_path: Path) -> None:
    registry = registry_for(orders=lite(tmp_path / "o.db"))
    datasource = registry.get_datasource("orders")
    held = registry.get_engine("orders").connect()
    registry.remove("orders", drain_timeout=0.3)
    assert wait_until(lambda: not datasource.initialized, timeout=10)
    held.close()


def test_remove_of_an_unknown_name_is_an_error() -> None:
    with pytest.raises(UnknownDatasourceError, match="no datasource named 'nope'"):
        registry_for().remove("nope")


# ----------------------------------------------------------------------------- replace


def test_replace_swaps_atomically_and_drains_the_old_one(tmp_path: Path) -> None:
    registry = registry_for(orders=lite(tmp_path / "a.db"))
    old = registry.get_datasource("orders")
    held = registry.get_engine("orders").connect()
    new = registry.replace("orders", lite(tmp_path / "b.db"))
    assert registry.get_datasource("orders") is new is not old
    assert registry.get_engine("orders").url.database == str(tmp_path / "b.db")
    assert select_one(registry.get_engine("orders")) == 1
    assert old.initialized and old.retired
    held.close()
    assert wait_until(lambda: not old.initialized, timeout=10)
    with pytest.raises(UnknownDatasourceError):
        registry.replace("nope", lite(tmp_path / "c.db"))
    registry.close_all()


# ----------------------------------------------------------------------------- reload


def test_reload_rebuilds_only_what_changed(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    settings = tmp_path / "settings.toml"

    def write(**entries: str) -> None:
        settings.write_text(
            "".join(
                f'[datasources.{n}]\ntype = "sqlite"\ndatabase = "{d}"\n'
                for n, d in entries.items()
            )
        )

    monkeypatch.setenv("LITE_C", str(tmp_path / "c.db"))
    write(
        a=str(tmp_path / "a.db"), b=str(tmp_path / "b.db"), c="${LITE_C}", d=str(tmp_path / "d.db")
    )
    registry = unifydb.Registry(str(settings))
    before = {name: registry.get_datasource(name) for name in registry.names()}
    registry.add("runtime", lite(tmp_path / "r.db"))
    runtime = registry.get_datasource("runtime")
    held = registry.get_engine("a").connect()  # in use: untouched all the same

    monkeypatch.setenv("LITE_C", str(tmp_path / "c2.db"))  # c changes through the environment
    write(
        a=str(tmp_path / "a.db"), b=str(tmp_path / "b2.db"), c="${LITE_C}", e=str(tmp_path / "e.db")
    )
    result = registry.reload(drain_timeout=5)

    assert result.unchanged == ["a", "runtime"]
    assert result.changed == ["b", "c"]
    assert result.added == ["e"]
    assert result.removed == ["d"]
    assert registry.get_datasource("a") is before["a"]
    assert registry.get_datasource("runtime") is runtime
    assert registry.get_datasource("b") is not before["b"]
    assert registry.get_engine("c").url.database == str(tmp_path / "c2.db")
    assert before["b"].retired and before["d"].retired and not before["a"].retired
    with pytest.raises(UnknownDatasourceError):
        registry.get_datasource("d")
    held.execute(text("SELECT 1"))
    held.close()
    registry.close_all()


# ----------------------------------------------------------------------------- under load


@pytest.mark.live
def test_thirty_two_threads_see_no_error_while_others_change(pg_settings: dict[str, Any]) -> None:
    marker = unique("unifydb_rt")
    steady = {**pg_settings, "query": {"application_name": f"{marker}_steady"}, "pool_size": 4}
    registry = registry_for(steady=steady)
    errors: list[BaseException] = []
    queries = 0
    stop = threading.Event()
    lock = threading.Lock()

    def query_steady() -> None:
        nonlocal queries
        while not stop.is_set():
            try:
                with registry.session("steady") as session:
                    session.execute(text("SELECT pg_sleep(0.002)"))
                with lock:
                    queries += 1
            except BaseException as error:
                errors.append(error)
                return

    def churn(worker: int) -> None:
        for round_ in range(6):
            name = f"churn{worker}"
            settings = {**pg_settings, "query": {"application_name": f"{marker}_{name}"}}
            registry.add(name, settings)
            select_one(registry.get_engine(name))
            registry.replace(name, {**settings, "pool_size": 2 + round_ % 2})
            select_one(registry.get_engine(name))
            registry.remove(name, drain_timeout=5)

    readers = [threading.Thread(target=query_steady) for _ in range(28)]
    churners = [threading.Thread(target=churn, args=(i,)) for i in range(4)]
    for thread in readers + churners:
        thread.start()
    for thread in churners:
        thread.join(120)
    stop.set()
    for thread in readers:
        thread.join(60)
    assert errors == []
    assert queries > 100
    registry.close_all()

    def open_connections() -> int:
        with pg_admin() as admin:
            row = admin.execute(
                "SELECT count(*) FROM pg_stat_activity WHERE application_name LIKE %s",
                (f"{marker}_%",),
            ).fetchone()
        return int(row[0]) if row else -1

    assert wait_until(lambda: open_connections() == 0, timeout=15), open_connections()


# ----------------------------------------------------------------------------- tenants


def open_files_under(folder: Path) -> int:
    count = 0
    for fd in os.listdir("/proc/self/fd"):
        try:
            if os.readlink(f"/proc/self/fd/{fd}").startswith(str(folder)):
                count += 1
        except OSError:
            continue
    return count


def test_five_thousand_tenants_never_hold_more_than_max_open(tmp_path: Path) -> None:
    folder = tmp_path / "tenants"
    folder.mkdir()
    registry = registry_for(
        tenant={
            "type": "sqlite",
            "database": f"{folder}/tenant_{{tenant}}.db",
            "template": True,
            "max_open": 50,
        }
    )
    peak_open = peak_files = 0
    first = None
    for number in range(5000):
        datasource = registry.tenant("tenant", f"t{number}")
        first = first or datasource
        select_one(datasource.get_engine())
        peak_open = max(peak_open, len(registry.open_tenants("tenant")))
        if number % 250 == 0:
            peak_files = max(peak_files, open_files_under(folder))
    assert peak_open == 50
    assert 0 < peak_files <= 50
    assert first is not None and first.retired and not first.initialized
    again = registry.tenant("tenant", "t0")  # an evicted tenant comes back, fresh
    assert again is not first and select_one(again.get_engine()) == 1
    assert registry.tenant("tenant", "t0") is again
    assert again.name == "tenant/t0"
    registry.close_all()
    assert open_files_under(folder) == 0


@pytest.mark.live
def test_tenant_pools_on_postgres_stay_within_max_open(pg_settings: dict[str, Any]) -> None:
    marker = unique("unifydb_tn")
    registry = registry_for(
        tenant={
            **pg_settings,
            "query": {"application_name": f"{marker}_{{tenant}}"},
            "template": True,
            "max_open": 8,
        }
    )

    def connections() -> int:
        with pg_admin() as admin:
            row = admin.execute(
                "SELECT count(DISTINCT application_name) FROM pg_stat_activity "
                "WHERE application_name LIKE %s",
                (f"{marker}_%",),
            ).fetchone()
        return int(row[0]) if row else -1

    peak = 0
    for number in range(60):
        select_one(registry.tenant("tenant", f"acme{number}").get_engine())
        if number % 5 == 4:
            peak = max(peak, connections())
    assert 0 < peak <= 8
    registry.close_all()
    assert wait_until(lambda: connections() == 0, timeout=15)


def test_templates_are_not_datasources_and_ids_are_checked(tmp_path: Path) -> None:
    registry = registry_for(
        tenant={"type": "sqlite", "database": f"{tmp_path}/t_{{tenant}}.db", "template": True},
        plain=lite(tmp_path / "p.db"),
    )
    assert registry.names() == ["plain"] and registry.templates() == ["tenant"]
    with pytest.raises(UnsupportedOperationError, match=r"is a template.*registry\.tenant"):
        registry.get_engine("tenant")
    with pytest.raises(UnsupportedOperationError, match="not a template"):
        registry.tenant("plain", "acme")
    for bad in ("../etc", "a b", "", "x" * 64, "é", "a;drop"):
        with pytest.raises(ConfigurationError, match="tenant id"):
            registry.tenant("tenant", bad)
    assert registry.inspect("tenant").status == "ok"
    assert "tenant" not in registry.health_check()
    registry.close_all()


def test_a_template_without_the_placeholder_or_with_a_bad_max_open_is_refused(
    tmp_path: Path,
) -> None:
    registry = registry_for()
    with pytest.raises(ConfigurationError, match="must use \\{tenant\\}"):
        registry.add("shared", {**lite(tmp_path / "s.db"), "template": True})
    with pytest.raises(ConfigurationError) as caught:
        registry.add(
            "t", {"type": "sqlite", "database": "t_{tenant}.db", "template": True, "max_open": 0}
        )
    assert caught.value.key == "max_open"
    assert registry.templates() == []


def test_removing_a_template_drains_its_tenants(tmp_path: Path) -> None:
    registry = registry_for(
        tenant={"type": "sqlite", "database": f"{tmp_path}/t_{{tenant}}.db", "template": True}
    )
    tenants = [registry.tenant("tenant", f"x{i}") for i in range(3)]
    for datasource in tenants:
        select_one(datasource.get_engine())
    registry.remove("tenant")
    assert all(datasource.retired for datasource in tenants)
    assert wait_until(lambda: not any(ds.initialized for ds in tenants), timeout=10)
    with pytest.raises(UnknownDatasourceError):
        registry.tenant("tenant", "x0")


def test_tenant_datasources_are_found_by_cli_list(tmp_path: Path) -> None:
    (tmp_path / "settings.toml").write_text(
        '[datasources.tenant]\ntype = "sqlite"\ndatabase = "t_{tenant}.db"\ntemplate = true\n'
    )
    result = run_cli("list", "--json", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    (item,) = json.loads(result.stdout)
    assert item["template"] is True and item["status"] == "ok"


def test_module_level_tenant_uses_the_default_registry(tmp_path: Path) -> None:
    (tmp_path / "settings.toml").write_text(
        '[datasources.tenant]\ntype = "sqlite"\ndatabase = "t_{tenant}.db"\ntemplate = true\n'
    )
    datasource = unifydb.tenant("tenant", "acme")
    assert select_one(datasource.get_engine()) == 1
    assert (tmp_path / "t_acme.db").exists()
    unifydb.close_all()
