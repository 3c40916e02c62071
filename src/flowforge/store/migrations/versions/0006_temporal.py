"""Runs driven by Temporal: the id of the Temporal workflow that drives a run.

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-02
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("executions") as batch:
        batch.add_column(sa.Column("temporal_workflow_id", sa.String(200)))


def downgrade() -> None:
    with op.batch_alter_table("executions") as batch:
        batch.drop_column("temporal_workflow_id")
