from orders_app.models import OrdersBase

from unifydb.migrations import run_migrations

run_migrations(target_metadata=OrdersBase.metadata)
