"""NoSQL datasources: native clients behind the adapter protocol."""
