"""The catalog's alembic environment, run programmatically: users never need an alembic.ini.

``upgrade_to_head`` runs inside the caller's write transaction. On PostgreSQL an advisory lock serializes
processes that open a fresh database at the same moment; on SQLite the caller's ``BEGIN IMMEDIATE`` does.
"""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import text
from sqlalchemy.engine import Connection

from core.catalog.errors import SchemaTooNew
from core.catalog.models import VERSION_TABLE

SCRIPT_LOCATION = Path(__file__).resolve().parent
_PG_LOCK_KEY = 0x52657769_6E64  # "Rewind": any constant shared by every process that migrates the catalog


def alembic_config(connection: Connection) -> Config:
    config = Config()
    config.set_main_option("script_location", str(SCRIPT_LOCATION))
    config.attributes["connection"] = connection
    return config


def current_revisions(connection: Connection) -> set[str]:
    context = MigrationContext.configure(connection, opts={"version_table": VERSION_TABLE})
    return set(context.get_current_heads())


def upgrade_to_head(connection: Connection) -> None:
    """Bring the schema to this Rewind's head; refuse a database written by a newer one."""
    if connection.dialect.name == "postgresql":
        connection.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _PG_LOCK_KEY})
    config = alembic_config(connection)
    script = ScriptDirectory.from_config(config)
    known = {revision.revision for revision in script.walk_revisions()}
    current = current_revisions(connection)
    unknown = sorted(current - known)
    if unknown:
        raise SchemaTooNew(
            f"the catalog database has schema revision {', '.join(unknown)}, written by a newer Rewind; "
            "upgrade Rewind to use it (or rebuild a catalog in a new database)"
        )
    if current != set(script.get_heads()):
        command.upgrade(config, "head")
