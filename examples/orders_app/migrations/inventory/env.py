from orders_app.models import InventoryBase

from unifydb.migrations import run_migrations

run_migrations(target_metadata=InventoryBase.metadata)
