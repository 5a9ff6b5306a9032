"""The store as every release before schema versioning created it (nothing to change).

Revision ID: 0001
"""

revision = "0001"
down_revision = None


def upgrade() -> None:
    pass
