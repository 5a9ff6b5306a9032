"""The alert store's schema history (Alembic): a store made by an earlier version is upgraded in place."""
