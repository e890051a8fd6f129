"""The application's code: it asks unifydb's default registry for everything,
as production code does (no test hooks)."""

from __future__ import annotations

from sqlalchemy import func, select

import unifydb

from .models import AuditEntry, Order, Stock

COLLECTION = "orders"


class OutOfStock(Exception):
    pass


def embed(sku: str) -> list[float]:
    """A toy embedding of a product code (four numbers in [0, 1))."""
    data = sku.encode().ljust(4, b"\0")
    return [byte / 256 for byte in data[:4]]


def restock(sku: str, quantity: int) -> None:
    with unifydb.session("inventory") as session:
        stock = session.get(Stock, sku)
        if stock is None:
            session.add(Stock(sku=sku, available=quantity))
        else:
            stock.available += quantity


def place_order(customer: str, sku: str, quantity: int) -> int:
    """Take stock, record the order, audit it, log an event, index it for search."""
    with unifydb.session("inventory") as session:
        stock = session.get(Stock, sku, with_for_update=True)
        if stock is None or stock.available < quantity:
            raise OutOfStock(sku)
        stock.available -= quantity
    with unifydb.session("orders") as session:
        order = Order(customer=customer, sku=sku, quantity=quantity)
        session.add(order)
        session.flush()
        order_id = order.id
    with unifydb.session("audit") as session:
        session.add(AuditEntry(action="order", detail=f"{order_id} {customer} {sku}x{quantity}"))
    events = unifydb.get_datasource("events").database  # type: ignore[attr-defined]
    events["order_events"].insert_one({"order": order_id, "customer": customer, "sku": sku})
    vectors = unifydb.vectors("vectors")
    vectors.create_collection(COLLECTION, dimension=4, metric="cosine")
    vectors.upsert(
        COLLECTION, ids=[str(order_id)], vectors=[embed(sku)], metadatas=[{"customer": customer}]
    )
    return order_id


def orders_of(customer: str) -> list[int]:
    with unifydb.session("orders", readonly=True) as session:
        return list(session.scalars(select(Order.id).where(Order.customer == customer)))


async def count_orders(customer: str) -> int:
    async with unifydb.async_session("orders") as session:
        found = await session.scalar(
            select(func.count()).select_from(Order).where(Order.customer == customer)
        )
        return int(found or 0)


async def place_order_async(customer: str, sku: str, quantity: int) -> int:
    async with unifydb.async_session("orders") as session:
        order = Order(customer=customer, sku=sku, quantity=quantity)
        session.add(order)
        await session.flush()
        return order.id
