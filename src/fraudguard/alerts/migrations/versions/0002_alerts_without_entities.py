"""An imported dataset's alerts may have no user, merchant, amount, currency or event time.

Revision ID: 0002
"""

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"

OPTIONAL: dict[str, sa.types.TypeEngine] = {
    "user_id": sa.String(),
    "merchant_id": sa.String(),
    "amount": sa.Float(),
    "currency": sa.String(),
    "event_time": sa.DateTime(),
}


def upgrade() -> None:
    with op.batch_alter_table("alerts") as table:
        for name, kind in OPTIONAL.items():
            table.alter_column(name, existing_type=kind, nullable=True)
