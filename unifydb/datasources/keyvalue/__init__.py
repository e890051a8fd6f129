"""Key-value datasources: native clients behind the adapter protocol."""
