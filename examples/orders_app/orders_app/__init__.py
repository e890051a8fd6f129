"""A small orders application: PostgreSQL orders, MariaDB stock, a SQLite
audit log, MongoDB events and Chroma vectors, all through unifydb."""
