"""Vector datasources: native clients plus the unified vector API."""
