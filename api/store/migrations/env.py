"""Alembic environment: runs against the connection the store hands over."""

from __future__ import annotations

from alembic import context

from api.store.db import Base

config = context.config
target_metadata = Base.metadata

connection = config.attributes.get("connection")
if connection is None:  # pragma: no cover - the store always passes a connection
    raise RuntimeError("run migrations through api.store.repository.Store.migrate()")
context.configure(connection=connection, target_metadata=target_metadata, render_as_batch=True)
with context.begin_transaction():
    context.run_migrations()
