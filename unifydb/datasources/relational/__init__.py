"""Relational datasources: SQLAlchemy engines."""
