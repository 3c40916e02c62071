"""The journal: workflow versions, executions and their frames.

Revision ID: 0001
Revises:
Create Date: 2026-11-23
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
        "workflow_versions",
        sa.Column("id", sa.String(64), nullable=False),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("definition", sa.Text(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_workflow_versions"),
    )
    op.create_table(
        "executions",
        sa.Column("id", sa.String(36), nullable=False),
        sa.Column("workflow_version_id", sa.String(64), nullable=False),
        sa.Column("workflow_name", sa.String(200), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("input", sa.JSON(none_as_null=False)),
        sa.Column("result", sa.JSON(none_as_null=False)),
        sa.Column("error", sa.JSON(none_as_null=True)),
        sa.Column("source_path", sa.Text()),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("started_at", sa.DateTime(timezone=True)),
        sa.Column("finished_at", sa.DateTime(timezone=True)),
        sa.Column("wake_at", sa.DateTime(timezone=True)),
        sa.Column("parent_id", sa.String(36)),
        sa.Column("parent_node_id", sa.String(160)),
        sa.Column("depth", sa.Integer(), nullable=False),
        sa.Column("lease_owner", sa.String(200)),
        sa.Column("lease_expires_at", sa.DateTime(timezone=True)),
        sa.Column("lease_token", sa.Integer(), nullable=False),
        sa.Column("cancel_requested", sa.Boolean(), nullable=False),
        sa.ForeignKeyConstraint(
            ["workflow_version_id"],
            ["workflow_versions.id"],
            name="fk_executions_workflow_version_id_workflow_versions",
        ),
        sa.PrimaryKeyConstraint("id", name="pk_executions"),
    )
    op.create_index("ix_executions_status_created_at", "executions", ["status", "created_at"])
    op.create_index(
        "ix_executions_workflow_name_created_at", "executions", ["workflow_name", "created_at"]
    )
    op.create_index("ix_executions_created_at_id", "executions", ["created_at", "id"])
    op.create_index(
        "ix_executions_parent_id_parent_node_id", "executions", ["parent_id", "parent_node_id"]
    )
    op.create_table(
        "execution_frames",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("execution_id", sa.String(36), nullable=False),
        sa.Column("seq", sa.Integer(), nullable=False),
        sa.Column("node_id", sa.String(128), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("attempt", sa.Integer(), nullable=False),
        sa.Column("item", sa.Integer()),
        sa.Column("port", sa.String(100)),
        sa.Column("input", sa.JSON(none_as_null=False)),
        sa.Column("output", sa.JSON(none_as_null=False)),
        sa.Column("error", sa.JSON(none_as_null=True)),
        sa.Column("wake_at", sa.DateTime(timezone=True)),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("ended_at", sa.DateTime(timezone=True)),
        sa.Column("duration_ms", sa.Float()),
        sa.ForeignKeyConstraint(
            ["execution_id"],
            ["executions.id"],
            name="fk_execution_frames_execution_id_executions",
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name="pk_execution_frames"),
        sa.UniqueConstraint("execution_id", "seq", name="uq_execution_frames_execution_id_seq"),
    )


def downgrade() -> None:
    op.drop_table("execution_frames")
    op.drop_index("ix_executions_parent_id_parent_node_id", "executions")
    op.drop_index("ix_executions_created_at_id", "executions")
    op.drop_index("ix_executions_workflow_name_created_at", "executions")
    op.drop_index("ix_executions_status_created_at", "executions")
    op.drop_table("executions")
    op.drop_table("workflow_versions")
