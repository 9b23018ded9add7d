"""Alembic environment: migrations run on the connection the application hands over."""

from alembic import context

from vibeforge.db import (  # noqa: F401  (register every table)
    agent_tables,
    attachment_tables,
    chat_tables,
    prompt_tables,
    test_tables,
    usage_tables,
)
from vibeforge.db.tables import Base

connection = context.config.attributes.get("connection")
if connection is None:
    raise RuntimeError("run migrations through `vibeforge db upgrade` or the server start-up")

context.configure(
    connection=connection,
    target_metadata=Base.metadata,
    render_as_batch=connection.dialect.name == "sqlite",
)
with context.begin_transaction():
    context.run_migrations()
