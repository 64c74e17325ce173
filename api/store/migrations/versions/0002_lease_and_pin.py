"""Refresh lock as a lease (token, expiry on the database clock); a pin on the version an operator chose.

Revision ID: 0002_lease_and_pin
Revises: 0001
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002_lease_and_pin"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # A lock row of the host-and-pid scheme cannot be renewed by anyone: clear it.
    op.execute("DELETE FROM locks")
    with op.batch_alter_table("locks") as batch:
        batch.add_column(sa.Column("token", sa.String(32), nullable=False, server_default=""))
        batch.add_column(sa.Column("expires_at", sa.Float(), nullable=False, server_default="0"))
    with op.batch_alter_table("assumption_versions") as batch:
        batch.add_column(sa.Column("pinned", sa.Boolean(), nullable=False, server_default=sa.false()))


def downgrade() -> None:
    with op.batch_alter_table("assumption_versions") as batch:
        batch.drop_column("pinned")
    with op.batch_alter_table("locks") as batch:
        batch.drop_column("expires_at")
        batch.drop_column("token")
