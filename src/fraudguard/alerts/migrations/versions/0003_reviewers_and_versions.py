"""Reviews name their reviewer and carry a version (optimistic concurrency); users, API tokens and the
review audit trail are new tables (created by the store).

Revision ID: 0003
"""

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"


def upgrade() -> None:
    with op.batch_alter_table("alerts") as table:
        table.add_column(sa.Column("reviewed_by", sa.String(64)))
        table.add_column(sa.Column("version", sa.Integer, nullable=False, server_default="1"))
