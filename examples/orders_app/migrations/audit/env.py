from orders_app.models import AuditBase

from unifydb.migrations import run_migrations

run_migrations(target_metadata=AuditBase.metadata)
