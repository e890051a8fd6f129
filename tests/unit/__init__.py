"""Tests by unit of the library: settings, options, registry, health, CLI, ORM, migrations."""
