"""Tests of the supabase datasource type."""
