"""Initial schema: versions, refresh runs, locks.

Revision ID: 0001
Revises:
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "assumption_versions",
        sa.Column("id", sa.String(64), primary_key=True),
        sa.Column("short_id", sa.String(12), nullable=False, index=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("origin", sa.Text(), nullable=False),
        sa.Column("status", sa.String(16), nullable=False, index=True),
        sa.Column("validation_report", sa.Text(), nullable=False),
        sa.Column("diff", sa.Text(), nullable=False),
        sa.Column("previous_id", sa.String(64), nullable=True),
        sa.Column("files", sa.LargeBinary(), nullable=False),
        sa.Column("bundle", sa.LargeBinary(), nullable=True),
    )
    op.create_table(
        "refresh_runs",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("finished_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("source", sa.Text(), nullable=False),
        sa.Column("holder", sa.String(200), nullable=False),
        sa.Column("status", sa.String(16), nullable=False, index=True),
        sa.Column("reasons", sa.Text(), nullable=False),
        sa.Column("version_id", sa.String(64), nullable=True),
    )
    op.create_table(
        "locks",
        sa.Column("name", sa.String(64), primary_key=True),
        sa.Column("holder", sa.String(200), nullable=False),
        sa.Column("acquired_at", sa.DateTime(timezone=True), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("locks")
    op.drop_table("refresh_runs")
    op.drop_table("assumption_versions")
