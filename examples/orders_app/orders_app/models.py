"""The application's tables, each on the datasource its base class names."""

from __future__ import annotations

import datetime

from sqlalchemy import DateTime, Integer, String, func
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column


class OrdersBase(DeclarativeBase):
    __datasource__ = "orders"


class InventoryBase(DeclarativeBase):
    __datasource__ = "inventory"


class AuditBase(DeclarativeBase):
    __datasource__ = "audit"


class Order(OrdersBase):
    __tablename__ = "orders"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    customer: Mapped[str] = mapped_column(String(64), index=True)
    sku: Mapped[str] = mapped_column(String(32))
    quantity: Mapped[int] = mapped_column(Integer)
    created: Mapped[datetime.datetime] = mapped_column(
        DateTime(timezone=True), server_default=func.now()
    )


class Stock(InventoryBase):
    __tablename__ = "stock"

    sku: Mapped[str] = mapped_column(String(32), primary_key=True)
    available: Mapped[int] = mapped_column(Integer)


class AuditEntry(AuditBase):
    __tablename__ = "audit_entries"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    action: Mapped[str] = mapped_column(String(32))
    detail: Mapped[str] = mapped_column(String(200))
