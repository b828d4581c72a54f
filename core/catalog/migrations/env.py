"""Alembic env: always online, on the connection (already inside a transaction) that ``Catalog`` passes."""

from __future__ import annotations

from alembic import context
from sqlalchemy.engine import Connection

from core.catalog.models import METADATA, VERSION_TABLE

connection = context.config.attributes.get("connection")
if not isinstance(connection, Connection):
    raise RuntimeError("the catalog migrations run from core.catalog.Catalog, which passes a connection")

context.configure(
    connection=connection,
    target_metadata=METADATA,
    version_table=VERSION_TABLE,
    render_as_batch=connection.dialect.name == "sqlite",  # SQLite alters tables by copying them
)
with context.begin_transaction():
    context.run_migrations()
