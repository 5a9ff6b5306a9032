"""Alembic's entry point: runs the migrations on the connection the store hands over (`alerts.schema`)."""

from alembic import context

from fraudguard.alerts.store import metadata

context.configure(
    connection=context.config.attributes["connection"],
    target_metadata=metadata,
    version_table=context.config.attributes["version_table"],
    render_as_batch=True,  # SQLite alters a table by copying it
)
with context.begin_transaction():
    context.run_migrations()
