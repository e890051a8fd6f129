"""Search engines: native clients behind the adapter protocol."""
