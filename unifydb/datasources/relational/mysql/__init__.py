"""The MySQL family: MySQL and MariaDB."""

from .mysql import MySQLDatasource, MySQLFamily, MySQLFamilyOptions, MySQLOptions

__all__ = ["MySQLDatasource", "MySQLFamily", "MySQLFamilyOptions", "MySQLOptions"]
