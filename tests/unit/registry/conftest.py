"""Registry unit tests run against both SQL backends (`database_url` is parametrised)."""

from tests.unit.registry.registry_postgres import database_url

__all__ = ["database_url"]
