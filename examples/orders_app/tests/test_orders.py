"""The orders application's tests, on throwaway twins of its five datasources.

Every test starts from empty tables: what earlier tests (in this worker)
committed was rolled back, and other workers have databases of their own.
"""

from __future__ import annotations

import os

import pytest
from orders_app.models import AuditEntry, Order, Stock
from orders_app.service import COLLECTION, OutOfStock, orders_of, place_order, restock
from sqlalchemy import func, select

import unifydb

SQL = ["orders", "inventory", "audit"]


def count(session, model) -> int:
    return session.scalar(select(func.count()).select_from(model))


@pytest.fixture
def stocked(db_session):
    """Stock for one product, added in the test's transaction."""
    db_session.add(Stock(sku="mug", available=5))
    db_session.flush()
    return "mug"


@pytest.mark.parametrize("customer", ["ada", "grace", "edsger", "barbara"])
@pytest.mark.unifydb(datasources=[*SQL, "events", "vectors"])
def test_place_order_sees_only_its_own_rows(db_session, stocked, customer):
    assert count(db_session, Order) == 0
    assert count(db_session, AuditEntry) == 0

    order_id = place_order(customer, stocked, 2)

    # the service committed in sessions of its own: they joined the test's transaction
    assert db_session.get(Order, order_id).customer == customer
    assert db_session.get(Stock, stocked).available == 3
    assert count(db_session, Order) == 1
    assert count(db_session, AuditEntry) == 1
    assert orders_of(customer) == [order_id]
    events = unifydb.get_datasource("events").database
    assert events["order_events"].count_documents({"order": order_id, "customer": customer}) == 1
    assert unifydb.vectors("vectors").get(COLLECTION, ids=[str(order_id)])


@pytest.mark.unifydb(datasources=SQL)
def test_out_of_stock_changes_nothing(db_session, stocked):
    with pytest.raises(OutOfStock):
        place_order("ada", stocked, 50)
    assert db_session.get(Stock, stocked).available == 5
    assert count(db_session, Order) == 0


@pytest.mark.unifydb(datasources=["inventory"])
def test_marker_alone_rolls_back_the_code_under_test():
    restock("teapot", 3)
    restock("teapot", 4)
    with unifydb.session("inventory") as session:
        assert session.get(Stock, "teapot").available == 7


@pytest.mark.unifydb(datasources=["inventory"])
def test_the_teapot_of_the_previous_test_is_gone(db_session):
    assert db_session.get(Stock, "teapot") is None


@pytest.mark.unifydb(datasources=["orders"])
def test_undeclared_datasources_are_refused():
    with pytest.raises(unifydb.UnifyDBError, match="not among the datasources this test declared"):
        unifydb.get_engine("inventory")


def test_every_worker_has_its_own_twins(unifydb_registry):
    worker = os.environ.get("PYTEST_XDIST_WORKER", "main")
    for name in SQL:
        database = unifydb.get_datasource(name).options.database
        assert f"_{worker}_" in database, database
    assert unifydb.get_engine("orders").url.database.startswith("unifydb_test_")


@pytest.mark.asyncio
@pytest.mark.unifydb(datasources=["orders"])
async def test_async_sessions_are_rolled_back_too(unifydb_session):
    from orders_app.service import count_orders, place_order_async

    assert await count_orders("async-ada") == 0
    await place_order_async("async-ada", "kettle", 1)
    await place_order_async("async-ada", "kettle", 2)
    assert await count_orders("async-ada") == 2
    session = unifydb_session(asynchronous=True)
    assert await session.scalar(select(func.count()).select_from(Order)) == 2


@pytest.mark.asyncio
@pytest.mark.unifydb(datasources=["orders"])
async def test_async_rows_of_the_previous_test_are_gone():
    from orders_app.service import count_orders

    assert await count_orders("async-ada") == 0
